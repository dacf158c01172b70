"""The order examples are read in: a fresh permutation every epoch, a pure function of (seed, step)."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from gan_jax.errors import DataError


def reseeded(dataset, seed: int, seed_free: tuple[str, ...] = ()):
  """A dataset's `with_seed`: a copy read in the order of `seed`, sharing the cached properties
  `seed_free` that no seed changes (the arrays read from disk), so that the seeds of a run read
  the files once."""
  copy = dataclasses.replace(dataset, seed=seed)
  for name in seed_free:
    copy.__dict__[name] = getattr(dataset, name)
  return copy


def process_order(num_examples: int, name: str, seed: int, batch_size: int, n_critic: int,
                  process_index: int, process_count: int,
                  stream: tuple[int, ...] = ()) -> 'EpochOrder':
  """The order of a process's own share of an in-memory dataset. Processes hold disjoint
  shares, so each permutes its own: the order only needs the seed and the process index, and
  every process takes all columns of its local batch. `stream` tells apart the orders of
  datasets read side by side (CycleGAN's two domains)."""
  local = batch_size // process_count
  if num_examples < local:
    raise DataError(f'config.batch_size: {local} examples per process, but this process has '
                    f'only {num_examples} of {name}')
  return EpochOrder(num_examples, (seed, process_index, *stream), local, n_critic)


@dataclasses.dataclass(frozen=True)
class EpochOrder:
  """Indices of the examples of every step, so that a resumed run reads the same data.

  Each step takes `n_critic` rows of `batch_size` examples; of each row, process i of n
  takes the i-th block of columns.
  """
  num_examples: int
  seed: int | tuple[int, ...]   # a tuple names a stream of its own, e.g. (seed, process)
  batch_size: int              # global, in samples
  n_critic: int = 1
  process_index: int = 0
  process_count: int = 1

  @functools.lru_cache(maxsize=4)
  def _permutation(self, epoch: int) -> np.ndarray:
    return np.random.default_rng([*np.atleast_1d(self.seed), 1, epoch]).permutation(
        self.num_examples)

  def indices(self, steps: np.ndarray) -> np.ndarray:
    """Example indices of this process's batches: [len(steps), n_critic, local batch]."""
    per_step = self.n_critic * self.batch_size
    local = self.batch_size // self.process_count
    columns = self.process_index * local + np.arange(local)
    rows = np.arange(self.n_critic)[:, None] * self.batch_size + columns
    positions = np.asarray(steps)[:, None, None] * per_step + rows
    epochs, offsets = np.divmod(positions, self.num_examples)
    out = np.empty_like(positions)
    for epoch in np.unique(epochs):
      sel = epochs == epoch
      out[sel] = self._permutation(int(epoch))[offsets[sel]]
    return out
