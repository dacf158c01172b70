"""Training-step speed of any experiment: compile time, seconds per step, images per second.

Builds the experiment's state and its jit-compiled train step on all local devices, feeds it
random batches of the dataset's shape (no data read: the step alone is timed) and prints one
table row per config. Config overrides go after the config as `name=value` strings.

  python bench/step_speed.py experiments/cgan_cifar.py experiments/sngan_cifar.py \
      [--set batch_size=64] [--iters 5]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import resource
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import jax  # noqa: E402
import numpy as np  # noqa: E402

from gan_jax import models, parallel  # noqa: E402
from gan_jax.train.state import create_state  # noqa: E402
from gan_jax.train.step import make_train_step  # noqa: E402

# Sample shape and class count of the datasets the experiments use (no data is read).
DATASETS = {'mnist': ((28, 28, 1), 10), 'fashion_mnist': ((28, 28, 1), 10),
            'cifar10': ((32, 32, 3), 10), 'stacked_mnist': ((28, 28, 3), 1000)}


def load_config(spec: str, overrides: list[str]):
  path, _, arg = spec.partition(':')
  module_spec = importlib.util.spec_from_file_location('experiment', path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  config = module.get_config(arg) if arg else module.get_config()
  for item in overrides:
    key, value = item.split('=', 1)
    node = config
    *parents, leaf = key.split('.')
    for p in parents:
      node = node[p]
    node[leaf] = type(node[leaf])(value)
  return config


def time_step(config, iters: int) -> dict:
  shape, num_classes = DATASETS[config.dataset.name]
  generator, discriminator = models.build(config, shape, num_classes)
  mesh = parallel.make_mesh()
  state = parallel.replicate(create_state(config, generator, discriminator, shape), mesh)
  rng = np.random.default_rng(0)
  steps = config.n_critic  # One real batch per critic update, as the input pipeline gives.
  local = {'x': rng.uniform(-1, 1, (steps, config.batch_size, *shape)).astype(np.float32),
           'label': rng.integers(0, max(num_classes, 1), (steps, config.batch_size))}
  batch = parallel.shard_batch(local, mesh)
  step = make_train_step(config, generator, discriminator, mesh)
  start = time.perf_counter()
  compiled = step.lower(state, batch).compile()
  compile_seconds = time.perf_counter() - start
  times = []
  for i in range(iters + 1):
    start = time.perf_counter()
    state, metrics = compiled(state, batch)
    jax.block_until_ready(metrics)
    if i:  # The first call pays one-off transfers.
      times.append(time.perf_counter() - start)
  seconds = sorted(times)[len(times) // 2]
  return {'compile': compile_seconds, 'seconds': seconds,
          'images': config.batch_size * config.n_critic / seconds}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('configs', nargs='+', help='experiment files, with an optional :variant')
  parser.add_argument('--set', action='append', default=[], help='override, e.g. batch_size=64')
  parser.add_argument('--iters', type=int, default=5, help='timed steps (median)')
  args = parser.parse_args()
  print(f'# Train step (n_critic D updates + 1 G update + EMA), median of {args.iters} after one '
        f'warm-up; {platform.processor() or platform.machine()}, {os.cpu_count()} cores, '
        f'jax {jax.__version__}, {jax.device_count()} x {jax.devices()[0].platform}')
  print('| config | batch | n_critic | compile (s) | s/step | real images/s | peak RSS (MB) |')
  print('|---|---|---|---|---|---|---|')
  for spec in args.configs:
    config = load_config(spec, args.set)
    r = time_step(config, args.iters)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f'| {os.path.basename(spec)} | {config.batch_size} | {config.n_critic} '
          f'| {r["compile"]:.1f} | {r["seconds"]:.3f} | {r["images"]:.0f} | {rss:.0f} |',
          flush=True)


if __name__ == '__main__':
  main()
