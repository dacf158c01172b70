"""Datasets by name: each gives batches as a pure function of the step, per process."""

from __future__ import annotations

import jax
import ml_collections

from gan_jax.data.images import STACKED_MNIST, DataError, ImageDataset
from gan_jax.data.toy import ToyDataset, mode_centers

TOY_DATASETS = ('ring', 'grid')


def build(config: ml_collections.ConfigDict) -> ToyDataset | ImageDataset:
  """The dataset a config names, reading this process's share of every global batch.

  `ring` and `grid` are made in-process; `stacked_mnist` from tfds mnist; `folder:/path` is a
  folder of images; any other name is a tfds image dataset.
  """
  samples_per_batch = config.batch_size * config.pack
  if config.dataset.name in TOY_DATASETS:
    return ToyDataset(name=config.dataset.name, num_train=config.dataset.num_train,
                      seed=config.seed, batch_size=samples_per_batch, n_critic=config.n_critic,
                      process_index=jax.process_index(), process_count=jax.process_count())
  return ImageDataset(name=config.dataset.name, split=config.dataset.split,
                      data_dir=config.dataset.data_dir or None,
                      image_size=config.dataset.image_size, download=config.dataset.download,
                      seed=config.seed, batch_size=samples_per_batch, n_critic=config.n_critic,
                      process_index=jax.process_index(), process_count=jax.process_count(),
                      num_train=config.dataset.num_train)
