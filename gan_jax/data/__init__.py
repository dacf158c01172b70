"""Datasets by name: each gives batches as a pure function of the step, per process."""

from __future__ import annotations

import jax
import ml_collections

from gan_jax.data.toy import ToyDataset, mode_centers

DATASETS = ('ring', 'grid')


def build(config: ml_collections.ConfigDict) -> ToyDataset:
  """The dataset a config names, reading this process's share of every global batch."""
  return ToyDataset(
      name=config.dataset.name,
      num_train=config.dataset.num_train,
      seed=config.seed,
      batch_size=config.batch_size * config.pack,
      n_critic=config.n_critic,
      process_index=jax.process_index(),
      process_count=jax.process_count())
