"""Many seeds as one program (`config.num_seeds`): each seed's data, and metrics logged per
seed beside their mean and standard error.

The runs of seeds `config.seed` ... `config.seed + N - 1` train side by side: the state is
stacked along a leading seed axis (`state.initial_state`) and the step is `vmap`ped over it
(`step.make_train_step`). Seed s reads the batches, and is evaluated on the latents, of the run
`seed=s`, so each seed is that run.
"""

from __future__ import annotations

from typing import Any

import ml_collections
import numpy as np

from gan_jax import data


def run_seeds(config: ml_collections.ConfigDict) -> list[int]:
  """The seeds a run trains: `config.seed` and the `config.num_seeds - 1` after it."""
  return list(range(config.seed, config.seed + config.num_seeds))


def seed_config(config: ml_collections.ConfigDict, seed: int) -> ml_collections.ConfigDict:
  """The config of the single run of `seed`."""
  c = config.copy_and_resolve_references()
  c.seed, c.num_seeds = seed, 1
  return c


class SeedBatches:
  """`batch(step)`: every seed's batch of `step`, stacked on a leading axis."""

  def __init__(self, dataset: data.Dataset, seeds: list[int]):
    self.datasets = [dataset.with_seed(s) for s in seeds]

  def batch(self, step: int) -> dict[str, np.ndarray]:
    batches = [d.batch(step) for d in self.datasets]
    return {k: np.stack([b[k] for b in batches]) for k in batches[0]}


def _per_seed(key: str, seed: int) -> str:
  return f'{key}/seed_{seed}'


def summarize(per_seed: list[dict[str, Any]], seeds: list[int]) -> dict[str, Any]:
  """One seed's scalars as they are; several seeds' as `KEY` (the mean over seeds), `KEY_se` (its
  standard error, sample standard deviation / sqrt(N)) and `KEY/seed_S` (seed S's value).
  Sample counts, the same for every seed, stay as they are."""
  if len(seeds) == 1:
    return dict(per_seed[0])
  out = {}
  for key in per_seed[0]:
    values = np.array([float(s[key]) for s in per_seed])
    if key.endswith('_num_samples'):
      out[key] = per_seed[0][key]
      continue
    out[key] = float(values.mean())
    out[f'{key}_se'] = float(values.std(ddof=1) / np.sqrt(len(values)))
    out.update({_per_seed(key, s): float(v) for s, v in zip(seeds, values)})
  return out


def summarize_texts(per_seed: list[dict[str, str]], seeds: list[int]) -> dict[str, str]:
  """The protocol texts of several seeds: the first seed's, saying the value logged is a mean."""
  if len(seeds) == 1:
    return dict(per_seed[0])
  return {k: f'{v}; per seed (seeds {seeds[0]}..{seeds[-1]}, each its own samples), then the '
             f'mean over the {len(seeds)} seeds and its standard error (_se)'
          for k, v in per_seed[0].items()}


def split_metrics(metrics: dict[str, np.ndarray], num_seeds: int) -> list[dict[str, Any]]:
  """A stacked step's metrics (one value per seed) as one dict per seed."""
  return [{k: v[i] for k, v in metrics.items()} for i in range(num_seeds)]
