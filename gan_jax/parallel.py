"""The device mesh, and placing host data and state on it."""

from __future__ import annotations

import importlib.util
from typing import Any, Sequence

import jax
import numpy as np
from absl import logging
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P


# XLA:CPU hands some convolutions to YNNPACK by default; XLA's own (Eigen) convolutions run the
# models here faster: the DCGAN iteration in 0.85x the time, the FID Inception in 0.39x
# (RESULTS.md; `--xla_default` in bench/dcgan_speed.py and bench/step_speed.py measures the
# default). YNNPACK keeps the reductions. A CPU-only flag, so given to CPU compiles only.
CPU_COMPILER_OPTIONS = {'xla_cpu_experimental_ynn_fusion_type': 'LIBRARY_FUSION_TYPE_REDUCE'}


def compiler_options(mesh: Mesh | None = None, repeated: bool = False) -> dict[str, Any] | None:
  """`jax.jit`'s compiler_options for model code on `mesh`'s devices (default: the default
  backend's). Call it when the function is jitted, not at import: it starts the backend.

  `repeated`: a program run hundreds of times in a row (a classifier's training, a long run's
  step) keeps LLVM's optimizations on the CPU (level 3, XLA's default: the same program as
  without the option) where XLA_FLAGS lower them, as the tests do to compile their many one-off
  programs faster: at level 0 such a program runs 1.5-2.5x slower."""
  platform = mesh.devices.flat[0].platform if mesh is not None else jax.default_backend()
  if platform != 'cpu':
    return None
  if repeated:
    return dict(CPU_COMPILER_OPTIONS, xla_backend_optimization_level=3)
  return CPU_COMPILER_OPTIONS


def initialize_distributed(coordinator_address: str | None = None,
                           num_processes: int | None = None,
                           process_id: int | None = None) -> None:
  """`jax.distributed.initialize`, once per process: on TPU and GPU slices it finds the cluster
  itself; elsewhere (several CPU processes) give the coordinator, the process count and this
  process's id. CPU processes exchange collectives through gloo."""
  if jax.distributed.is_initialized():
    logging.warning('jax.distributed is already initialized; not initializing again.')
    return
  jax.config.update('jax_cpu_collectives_implementation', 'gloo')
  jax.distributed.initialize(coordinator_address=coordinator_address,
                             num_processes=num_processes, process_id=process_id)


def bf16_missing(devices: Sequence[Any]) -> str | None:
  """Why `devices` cannot do bfloat16 arithmetic, or None when they can. XLA runs bf16 on every
  CPU and TPU; NVIDIA GPUs have bf16 units from compute capability 8.0 (Ampere) on."""
  device = devices[0]
  capability = getattr(device, 'compute_capability', None)
  if device.platform in ('gpu', 'cuda') and capability and float(capability) < 8.0:
    return (f'{device.device_kind} (compute capability {capability}) has no bfloat16 units; bf16 '
            'needs compute capability 8.0 or newer (A100, A10, L4, H100, RTX 30xx and later)')
  if device.platform.lower() == 'metal':
    return "Apple's Metal plugin for jax has no bfloat16"
  return None


def accelerator_notice() -> str | None:
  """A line for the user when an accelerator runtime is installed but jax found no accelerator
  and fell back to the CPU (e.g. gan_jax's [tpu] extra on a machine without TPUs)."""
  if jax.default_backend() != 'cpu':
    return None
  if importlib.util.find_spec('libtpu') is not None:
    return ("the TPU runtime (libtpu, from gan_jax's [tpu] extra) is installed, but jax found no "
            'TPU: training on the CPU. On a TPU VM, check that no other process holds the TPU '
            '(e.g. `sudo lsof -w /dev/accel*`); elsewhere, install gan_jax without [tpu]')
  if any(importlib.util.find_spec(f'jax_cuda{v}_plugin') is not None for v in (12, 13)):
    return ("jax's CUDA plugin (gan_jax's [cuda] extra) is installed, but jax found no usable GPU: "
            'training on the CPU. Check `nvidia-smi` (CUDA 13 wheels need driver 580 or newer)')
  return None


def make_mesh() -> Mesh:
  """A 1-D mesh named `data` over every device of every process."""
  return jax.make_mesh((jax.device_count(),), ('data',), axis_types=(AxisType.Auto,))


def replicate(tree: Any, mesh: Mesh) -> Any:
  """Places a pytree, identical on every process, on every device."""
  sharding = NamedSharding(mesh, P())
  if jax.process_count() == 1:
    return jax.device_put(tree, sharding)

  def put(x):  # Each process places its own copy on its own devices.
    if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
      impl, data = jax.random.key_impl(x), np.asarray(jax.random.key_data(x))
      data = jax.make_array_from_callback(data.shape, sharding, lambda index: data[index])
      return jax.jit(lambda d: jax.random.wrap_key_data(d, impl=impl), out_shardings=sharding)(data)
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])
  return jax.tree.map(put, tree)


def shard_batch(local: dict[str, np.ndarray], mesh: Mesh,
                sample_axis: int = 1) -> dict[str, jax.Array]:
  """Global [n_critic, batch, ...] arrays (with seeds: [seeds, n_critic, batch, ...], sample
  axis 2) from this process's columns of the batch."""
  sharding = NamedSharding(mesh, P(*[None] * sample_axis, 'data'))
  return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, x), local)
