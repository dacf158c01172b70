"""The device mesh, and placing host data and state on it."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P


# XLA:CPU hands some convolutions to YNNPACK by default; for the GAN layers here XLA's own (Eigen)
# convolutions are faster: the DCGAN iteration takes 0.88x the time with YNNPACK kept to
# reductions (bench/dcgan_speed.py --xla_default measures the default). CPU-only flag.
CPU_COMPILER_OPTIONS = {'xla_cpu_experimental_ynn_fusion_type': 'LIBRARY_FUSION_TYPE_REDUCE'}


def compiler_options(mesh: Mesh) -> dict[str, str] | None:
  """Options for compiling the model code that runs on `mesh`'s devices."""
  return CPU_COMPILER_OPTIONS if mesh.devices.flat[0].platform == 'cpu' else None


def make_mesh() -> Mesh:
  """A 1-D mesh named `data` over every device of every process."""
  return jax.make_mesh((jax.device_count(),), ('data',), axis_types=(AxisType.Auto,))


def replicate(tree: Any, mesh: Mesh) -> Any:
  """Places a pytree, identical on every process, on every device."""
  return jax.device_put(tree, NamedSharding(mesh, P()))


def shard_batch(local: dict[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
  """Global [n_critic, batch, ...] arrays from this process's columns of the batch."""
  sharding = NamedSharding(mesh, P(None, 'data'))
  return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, x), local)
