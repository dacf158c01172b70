"""2-D Gaussian mixtures of the PacGAN/VEEGAN protocol, made in-process: `ring` and `grid`."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from gan_jax.data.order import EpochOrder, reseeded


def mode_centers(name: str) -> tuple[np.ndarray, float]:
  """(centres [M, 2], per-coordinate std) of a toy mixture."""
  if name == 'ring':  # 8 modes evenly on the unit circle.
    angles = 2 * np.pi * np.arange(8) / 8
    return np.stack([np.cos(angles), np.sin(angles)], axis=1), 0.01
  if name == 'grid':  # 25 modes at {-4, -2, 0, 2, 4}^2.
    axis = np.arange(-4.0, 5.0, 2.0)
    return np.stack(np.meshgrid(axis, axis, indexing='ij'), axis=-1).reshape(-1, 2), 0.05
  raise ValueError(f'unknown toy dataset {name!r}')


@dataclasses.dataclass(frozen=True)
class ToyDataset:
  """A fixed training set of `num_train` points, read in a fresh permutation every epoch.

  Batches are a pure function of (seed, step), so a resumed run sees the same data, and
  each process takes its own columns of the global batch.
  """
  name: str
  num_train: int
  seed: int
  batch_size: int              # global, in samples
  n_critic: int = 1
  process_index: int = 0
  process_count: int = 1

  shape = (2,)
  num_classes = 0  # Unlabelled.

  @functools.cached_property
  def modes(self) -> tuple[np.ndarray, float]:
    return mode_centers(self.name)

  @functools.cached_property
  def points(self) -> np.ndarray:
    centers, std = self.modes
    rng = np.random.default_rng([self.seed, 0])
    which = rng.integers(len(centers), size=self.num_train)
    noise = rng.normal(size=(self.num_train, 2))
    return (centers[which] + std * noise).astype(np.float32)

  def with_seed(self, seed: int) -> 'ToyDataset':
    """The training points are the seed's too: a seed of a run is a run."""
    return reseeded(self, seed)

  @functools.cached_property
  def order(self) -> EpochOrder:
    return EpochOrder(self.num_train, self.seed, self.batch_size, self.n_critic,
                      self.process_index, self.process_count)

  def indices(self, steps: np.ndarray) -> np.ndarray:
    """Training-set indices of this process's batches: [len(steps), n_critic, local batch]."""
    return self.order.indices(steps)

  def batch(self, step: int) -> dict[str, np.ndarray]:
    """This process's part of the batch of `step`: {'x': [n_critic, local batch, 2]}."""
    return {'x': self.points[self.indices(np.array([step]))[0]]}
