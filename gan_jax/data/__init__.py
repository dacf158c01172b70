"""Datasets by name: each gives batches as a pure function of the step, per process."""

from __future__ import annotations

import jax
import ml_collections

from gan_jax.data.images import STACKED_MNIST, DataError, ImageDataset
from gan_jax.data.paired import PAIRED_FOLDER, SOURCES, PairedDataset
from gan_jax.data.toy import ToyDataset, mode_centers

TOY_DATASETS = ('ring', 'grid')


def is_paired(config: ml_collections.ConfigDict) -> bool:
  """Whether the config names (source, target) pairs: a proxy `source`, or a paired folder."""
  return bool(config.dataset.source) or config.dataset.name.startswith(PAIRED_FOLDER)


def build_on_one_process(config: ml_collections.ConfigDict) -> ImageDataset | PairedDataset:
  """The whole split the config names, read by this process alone (evaluation)."""
  return _build(config, process_index=0, process_count=1)


def build(config: ml_collections.ConfigDict) -> ToyDataset | ImageDataset | PairedDataset:
  """The dataset a config names, reading this process's share of every global batch.

  `ring` and `grid` are made in-process; `stacked_mnist` from tfds mnist; `folder:/path` is a
  folder of images; any other name is a tfds image dataset. With `dataset.source`, or a
  `paired_folder:/path`, the dataset is (source, target) pairs (gan_jax/data/paired.py).
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
  if config.dataset.name in TOY_DATASETS:
    return ToyDataset(name=config.dataset.name, num_train=config.dataset.num_train,
                      seed=config.seed, batch_size=samples_per_batch, n_critic=config.n_critic,
                      process_index=process_index, process_count=process_count)
  return ImageDataset(name=config.dataset.name, split=config.dataset.split,
                      data_dir=config.dataset.data_dir or None,
                      image_size=config.dataset.image_size, download=config.dataset.download,
                      seed=config.seed, batch_size=samples_per_batch, n_critic=config.n_critic,
                      process_index=process_index, process_count=process_count,
                      num_train=config.dataset.num_train)
