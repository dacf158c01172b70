"""Checkpoint save time: orbax writing the replicated state's device arrays, against writing one
host (NumPy) copy of it, as `gan_jax.train.checkpoint.Checkpointer` does. Alternating, same run.

  python bench/checkpoint_speed.py [--config experiments/cgan_cifar.py:runlocal] [--devices 8]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from importlib.metadata import version

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--config', default='experiments/cgan_cifar.py:runlocal')
  parser.add_argument('--devices', type=int, default=8, help='virtual CPU devices')
  parser.add_argument('--saves', type=int, default=3)
  parser.add_argument('--repeats', type=int, default=3)
  parser.add_argument('--data_dir', default='', help='tfds data directory')
  args = parser.parse_args()
  os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                             f' --xla_force_host_platform_device_count={args.devices}')
  import importlib

  import jax
  import orbax.checkpoint as ocp

  from gan_jax import parallel
  from gan_jax.errors import UserError
  from gan_jax.train.checkpoint import Checkpointer, _to_saved
  from gan_jax.train.run import build_run
  from gan_jax.train.state import param_count
  path, _, arg = args.config.partition(':')
  if not os.path.isfile(path):
    sys.exit(f'error: --config {path}: no such file; give an experiment file, e.g. '
             'experiments/cgan_cifar.py:runlocal')
  try:
    module = importlib.import_module(path.removesuffix('.py').replace('/', '.'))
    config = module.get_config(arg or None)
    if args.data_dir:
      config.dataset.data_dir = args.data_dir
    run = build_run(config)
  except (UserError, ValueError) as e:
    sys.exit(f'error: {e}')
  config = run.config
  mesh = parallel.make_mesh()
  state = parallel.replicate(run.state, mesh)

  def device_arrays(directory):  # What orbax is given without the host copy.
    manager = ocp.CheckpointManager(directory, options=ocp.CheckpointManagerOptions(max_to_keep=3))
    for step in range(1, args.saves + 1):
      manager.save(step, args=ocp.args.StandardSave(_to_saved(state)), force=True)
    manager.wait_until_finished()
    manager.close()

  def host_copy(directory):
    checkpointer = Checkpointer(directory, 3)
    for step in range(1, args.saves + 1):
      checkpointer.save(step, state)
    checkpointer.close()

  params = param_count(state.g_params) + param_count(state.d_params)
  print(f'# {args.config}: {params:,} parameters, {len(jax.tree.leaves(state))} arrays; state '
        f'replicated on {jax.device_count()} {jax.devices()[0].platform} devices; jax '
        f'{jax.__version__}, orbax-checkpoint {version("orbax-checkpoint")}')
  print(f'# seconds per save (mean of {args.saves} saves incl. waiting for the last), alternating')
  print()
  print('| repeat | device arrays (s/save) | one host copy (s/save) |')
  print('|---|---|---|')
  for repeat in range(args.repeats):
    times = []
    for save in (device_arrays, host_copy):
      directory = tempfile.mkdtemp(prefix='checkpoint_speed_')
      start = time.perf_counter()
      save(directory)
      times.append((time.perf_counter() - start) / args.saves)
    print(f'| {repeat + 1} | {times[0]:.3f} | {times[1]:.3f} |', flush=True)


if __name__ == '__main__':
  main()
