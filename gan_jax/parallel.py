"""The device mesh, and placing host data and state on it."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P


def make_mesh() -> Mesh:
  """A 1-D mesh named `data` over every device of every process."""
  return jax.make_mesh((jax.device_count(),), ('data',), axis_types=(AxisType.Auto,))


def replicate(tree: Any, mesh: Mesh) -> Any:
  """Places a pytree, identical on every process, on every device."""
  return jax.device_put(tree, NamedSharding(mesh, P()))


def shard_batch(local: np.ndarray, mesh: Mesh) -> jax.Array:
  """A global [n_critic, batch, ...] array from this process's columns of the batch."""
  return jax.make_array_from_process_local_data(NamedSharding(mesh, P(None, 'data')), local)
