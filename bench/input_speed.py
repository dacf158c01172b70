"""Input speed of an image dataset read into memory against streamed from ArrayRecord files, beside
what the training step of an experiment on that dataset consumes. The two readers take turns,
`--rounds` times, each timing `--steps` consecutive batches (the examples of a step are the same
in both). Prints one table.

  python bench/input_speed.py --config experiments/dcgan_mnist.py \\
      --memory_dir ~/tensorflow_datasets --stream_dir ~/tensorflow_datasets_array_record
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, 'bench'))

import jax  # noqa: E402
import numpy as np  # noqa: E402

from gan_jax.data.images import ImageDataset  # noqa: E402
from gan_jax.errors import UserError  # noqa: E402


def reader(config, data_dir: str, read: str) -> ImageDataset:
  d = config.dataset
  return ImageDataset(d.name, d.split, data_dir, d.image_size, False, config.seed,
                      config.batch_size, config.n_critic, read=read)


def images_per_second(dataset: ImageDataset, first_step: int, steps: int) -> float:
  start = time.perf_counter()
  for step in range(first_step, first_step + steps):
    dataset.batch(step)
  return steps * dataset.batch_size * dataset.n_critic / (time.perf_counter() - start)


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--config', required=True, help='experiments/NAME.py[:variant]')
  parser.add_argument('--memory_dir', required=True, help='tfds dir with the dataset (any format)')
  parser.add_argument('--stream_dir', required=True, help='tfds dir with it as array_record')
  parser.add_argument('--steps', type=int, default=100)
  parser.add_argument('--rounds', type=int, default=3)
  args = parser.parse_args()
  from translation_table import load_config
  from step_speed import time_step
  try:
    config = load_config(args.config)
    start = time.perf_counter()
    memory = reader(config, args.memory_dir, 'memory')
    memory.batch(0)
    load_seconds = time.perf_counter() - start
    stream = reader(config, args.stream_dir, 'stream')
    stream.batch(0)
  except UserError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  rates = {'memory': [], 'stream': []}
  for r in range(args.rounds):  # Alternating, so that both see the same machine.
    for name, dataset in (('memory', memory), ('stream', stream)):
      rates[name].append(images_per_second(dataset, 1 + r * args.steps, args.steps))
  step = time_step(config, iters=3)
  print(f'# Input of {config.dataset.name}:{config.dataset.split}, batch {config.batch_size} x '
        f'n_critic {config.n_critic}, {args.steps} batches per round, {args.rounds} rounds '
        f'alternating; {platform.machine()}, {os.cpu_count()} cores, jax {jax.__version__}')
  print('| reader | images/s (min-max over rounds) | one-off load (s) | the step consumes (images/s) |')
  print('|---|---|---|---|')
  for name, values in rates.items():
    load = f'{load_seconds:.1f}' if name == 'memory' else '0 (opened lazily)'
    print(f'| {name} | {np.min(values):,.0f}-{np.max(values):,.0f} | {load} | '
          f'{step["images"]:,.0f} ({args.config}, {step["seconds"]:.3f} s/step) |')
  return 0


if __name__ == '__main__':
  sys.exit(main())
