"""Datasets by name: each gives batches as a pure function of the step, per process."""

from __future__ import annotations

import functools
from typing import Protocol, runtime_checkable

import jax
import ml_collections
import numpy as np

from gan_jax.data.images import (READ_MODES, STACKED_MNIST, DataError, ImageDataset, load_folder,
                                 load_stacked_mnist, load_tfds)
from gan_jax.errors import ConfigError
from gan_jax.data.paired import (DIV2K, PAIRED_FOLDER, SOURCES, PairedDataset, load_div2k,
                                 load_paired_folder)
from gan_jax.data.toy import ToyDataset, mode_centers
from gan_jax.data.unpaired import (MNIST_MNISTM, UNPAIRED_FOLDER, UnpairedDataset, is_unpaired_name,
                                   load_unpaired)

TOY_DATASETS = ('ring', 'grid')


@runtime_checkable
class Dataset(Protocol):
  """What the trainer, the families and the evaluators read of a dataset. Every dataset here
  (`ToyDataset`, `ImageDataset`, `PairedDataset`, `UnpairedDataset`) provides it; each family
  reads what else its own kind of data has (a pair's `source_shape`, a toy dataset's `modes`)."""
  name: str
  seed: int

  @property
  def num_classes(self) -> int:
    """Classes of the labels (0: unlabelled)."""

  @property
  def shape(self) -> tuple[int, ...]:
    """One example's shape (a translation's: its target's)."""

  def batch(self, step: int) -> dict[str, np.ndarray]:
    """This process's share of the global batch of `step`: a pure function of (seed, step)."""

  def with_seed(self, seed: int) -> 'Dataset':
    """The dataset as the run of `seed` reads it (its order of examples; for toy data, also its
    training points), sharing what no seed changes (the arrays read from disk)."""


def is_paired(config: ml_collections.ConfigDict) -> bool:
  """Whether the config names (source, target) pairs: a proxy `source`, a paired folder, or div2k."""
  name = config.dataset.name
  return bool(config.dataset.source) or name.startswith(PAIRED_FOLDER) or name.split('/')[0] == DIV2K


def is_unpaired(config: ml_collections.ConfigDict) -> bool:
  """Whether the config names two unpaired domains (CycleGAN)."""
  return is_unpaired_name(config.dataset.name)


def is_translation(config: ml_collections.ConfigDict) -> bool:
  """Whether the generator translates images (paired or unpaired) rather than sampling noise."""
  return is_paired(config) or is_unpaired(config)


def check(config: ml_collections.ConfigDict) -> None:
  """What the data fields must be before anything is read: a known dataset, source and reading
  mode. Raises `ConfigError` naming the field."""
  name = config.dataset.name
  made_here = TOY_DATASETS + (STACKED_MNIST, MNIST_MNISTM)
  if config.dataset.read not in READ_MODES:
    raise ConfigError(f'config.dataset.read: {config.dataset.read!r}; use one of {READ_MODES}')
  if config.dataset.read == 'stream' and (name in made_here or name.startswith('folder:')
                                          or is_translation(config)):
    raise ConfigError(f"config.dataset.read: 'stream' reads tfds image datasets from their "
                      f"ArrayRecord files; {name!r} is read into memory (use 'auto' or 'memory')")
  if config.dataset.source and config.dataset.source not in SOURCES:
    raise ConfigError(f'config.dataset.source: unknown {config.dataset.source!r}; known: '
                      f'{SOURCES} (or empty: no pairs)')
  if name not in made_here and not name.startswith(('folder:', PAIRED_FOLDER, UNPAIRED_FOLDER)):
    import tensorflow_datasets as tfds  # Here: only names gan_jax does not make need its catalog.
    try:
      tfds.builder_cls(name.split(':')[0].split('/')[0])
    except tfds.core.registered.DatasetNotFoundError:
      raise ConfigError(f'config.dataset.name: unknown dataset {name!r}: neither '
                        f'{", ".join(made_here)}, folder:/path, paired_folder:/path, '
                        'unpaired_folder:/path, nor a tfds dataset') from None


def build_on_one_process(config: ml_collections.ConfigDict):
  """The whole split the config names, read by this process alone (evaluation)."""
  return _build(config, process_index=0, process_count=1)


def build(config: ml_collections.ConfigDict) -> Dataset:
  """The dataset a config names, reading this process's share of every global batch.

  `ring` and `grid` are made in-process; `stacked_mnist` from tfds mnist; `folder:/path` is a
  folder of images; any other name is a tfds image dataset. With `dataset.source`, or a
  `paired_folder:/path`, the dataset is (source, target) pairs (gan_jax/data/paired.py);
  `mnist_mnistm`, `unpaired_folder:/path` and tfds `cycle_gan/*` are two unpaired domains
  (gan_jax/data/unpaired.py).
  """
  return _build(config, jax.process_index(), jax.process_count())


def _build(config: ml_collections.ConfigDict, process_index: int, process_count: int):
  samples_per_batch = config.batch_size * config.pack
  if is_paired(config):
    return PairedDataset(name=config.dataset.name, split=config.dataset.split,
                         data_dir=config.dataset.data_dir or None,
                         image_size=config.dataset.image_size, download=config.dataset.download,
                         source=config.dataset.source, scale=config.dataset.scale,
                         seed=config.seed, batch_size=config.batch_size, n_critic=config.n_critic,
                         process_index=process_index, process_count=process_count)
  if is_unpaired(config):
    return UnpairedDataset(name=config.dataset.name, split=config.dataset.split,
                           data_dir=config.dataset.data_dir or None,
                           image_size=config.dataset.image_size, download=config.dataset.download,
                           seed=config.seed, batch_size=config.batch_size,
                           process_index=process_index, process_count=process_count)
  if config.dataset.name in TOY_DATASETS:
    return ToyDataset(name=config.dataset.name, num_train=config.dataset.num_train,
                      seed=config.seed, batch_size=samples_per_batch, n_critic=config.n_critic,
                      process_index=process_index, process_count=process_count)
  return ImageDataset(name=config.dataset.name, split=config.dataset.split,
                      data_dir=config.dataset.data_dir or None,
                      image_size=config.dataset.image_size, download=config.dataset.download,
                      seed=config.seed, batch_size=samples_per_batch, n_critic=config.n_critic,
                      process_index=process_index, process_count=process_count,
                      num_train=config.dataset.num_train, read=config.dataset.read)


def split_name(name: str, split: str, side: str = '') -> str:
  """How metric records name held-out images: 'mnist:test', or 'mnist_mnistm:test B' for
  domain `side` of two unpaired domains."""
  return f'{name}:{split} {side.upper()}'.rstrip()


@functools.lru_cache(maxsize=1)  # Read at every evaluation, by both directions' entries.
def _held_out_domains(*args) -> dict[str, np.ndarray]:
  return load_unpaired(*args)


def real_images(config: ml_collections.ConfigDict, split: str, count: int, side: str = ''
                ) -> tuple[np.ndarray, np.ndarray, str]:
  """The first `count` real images (all if 0) of `split` in stored order, in [-1, 1], their
  labels, and a name for a metric's record: what sample metrics compare with. Of paired data,
  the targets; of two unpaired domains, domain `side`'s images."""
  d = config.dataset
  if is_unpaired(config):
    domains = _held_out_domains(d.name, split, d.data_dir or None, d.image_size, d.download)
    images, labels = domains[side], domains[f'label_{side}']
  elif d.name == STACKED_MNIST:
    images, labels, _ = load_stacked_mnist(split, d.data_dir or None, d.download, d.num_train, 0, 1)
  elif d.name.startswith('folder:'):
    images, labels, _ = load_folder(d.name.removeprefix('folder:'), d.image_size, 0, 1)
  elif d.name.split('/')[0] == DIV2K:  # The high-resolution crops.
    images = load_div2k(d.name, split, d.data_dir or None, d.image_size, d.download, d.scale)[1]
    labels = np.zeros(len(images), np.int32)
  elif d.name.startswith(PAIRED_FOLDER):  # The targets (B/).
    images = load_paired_folder(d.name.removeprefix(PAIRED_FOLDER), d.image_size)[1]
    labels = np.zeros(len(images), np.int32)
  else:
    images, labels, _ = load_tfds(d.name, split, d.data_dir or None, d.image_size, d.download, 0, 1)
  name = split_name(d.name, split, side)
  if count and len(images) < count:
    raise DataError(f'{name} has {len(images)} images; the metric asks for {count}')
  count = count or len(images)
  return images[:count].astype(np.float32) / 127.5 - 1, labels[:count], name
