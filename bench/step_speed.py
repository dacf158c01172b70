"""Training-step speed of any experiment: compile time, seconds per step, images per second.

Builds the experiment's state and its jit-compiled train step on all local devices, feeds it
random batches of the dataset's shape (no data read: the step alone is timed) and prints a
table row. The config flags are launch.py's: a file with its `:variant`, then any override.

  python bench/step_speed.py --config experiments/cgan_cifar.py [--config.batch_size=64] \
      [--iters 5]
"""

from __future__ import annotations

import os
import platform
import resource
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import jax  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

import launch  # noqa: E402  (its --config flag and the parsing that makes errors one line)
from gan_jax import parallel  # noqa: E402
from gan_jax.config import ConfigError  # noqa: E402
from gan_jax.train.families import check_devices  # noqa: E402
from gan_jax.train.checks import check  # noqa: E402
from gan_jax.train.run import build_run  # noqa: E402
from gan_jax.train.step import make_train_step  # noqa: E402

_ITERS = flags.DEFINE_integer('iters', 5, 'Timed steps (median).')
_XLA_DEFAULT = flags.DEFINE_bool('xla_default', False,
                                 "Compile with XLA's default options instead of gan_jax's "
                                 '(parallel.compiler_options), to measure what those are worth.')

# Sample shape (as stored) and class count of the datasets: no data is read.
DATASETS = {'mnist': ((28, 28, 1), 10), 'fashion_mnist': ((28, 28, 1), 10),
            'cifar10': ((32, 32, 3), 10), 'stacked_mnist': ((28, 28, 3), 1000),
            'mnist_mnistm': ((28, 28, 3), 10)}


def data_shape(config) -> tuple[tuple[int, ...], int]:
  if config.dataset.name not in DATASETS:
    raise ConfigError(f'config.dataset.name: {config.dataset.name!r} has no known shape here; '
                      f'known: {sorted(DATASETS)}')
  shape, num_classes = DATASETS[config.dataset.name]
  size = config.dataset.image_size
  return ((size, size, shape[-1]) if size else shape), num_classes


class ShapesOnly:
  """What the families read of a dataset to build networks: its shapes and classes."""

  def __init__(self, config):
    self.shape, self.num_classes = data_shape(config)
    h, w, c = self.shape
    source = config.dataset.source
    self.source_shape = ((h // config.dataset.scale, w // config.dataset.scale, c)
                         if source == 'lowres' else (h, w, 1) if source else self.shape)
    self.shapes = {'a': self.shape, 'b': self.shape}  # two domains (cycle)


def random_batch(config, dataset: ShapesOnly) -> dict[str, np.ndarray]:
  """A batch of random images of the dataset's shapes, in the layout the family's update reads."""
  rng = np.random.default_rng(0)
  steps = config.n_critic  # One real batch per critic update, as the input pipeline gives.
  images = lambda shape: rng.uniform(-1, 1, (steps, config.batch_size, *shape)).astype(np.float32)
  local = {'label': rng.integers(0, max(dataset.num_classes, 1), (steps, config.batch_size))}
  if config.family == 'cycle':
    return {'a': images(dataset.shapes['a']), 'b': images(dataset.shapes['b'])}
  if config.dataset.source:
    return dict(local, source=images(dataset.source_shape), target=images(dataset.shape))
  return dict(local, x=images(dataset.shape))


def time_step(config, iters: int) -> dict:
  run = build_run(config, dataset=ShapesOnly(config), checked=True)  # main checked it.
  mesh = parallel.make_mesh()
  state = parallel.replicate(run.state, mesh)
  batch = parallel.shard_batch(random_batch(config, run.dataset), mesh)
  step = make_train_step(config, run.nets, mesh)
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


def main(argv) -> None:
  del argv
  config = launch._CONFIG.value
  if _XLA_DEFAULT.value:
    parallel.compiler_options = lambda mesh: None
  try:  # Bad input: one line naming the field, before anything is compiled.
    config = check(config)
    check_devices(config, jax.device_count())
    data_shape(config)
  except ConfigError as e:
    sys.exit(f'error: {e}')
  print(f'# Train step (the family\'s update: D and G updates + EMA), median of {_ITERS.value} after '
        f'one warm-up; {platform.processor() or platform.machine()}, {os.cpu_count()} cores, '
        f'jax {jax.__version__}, {jax.device_count()} x {jax.devices()[0].platform}')
  print('| config | batch | n_critic | compile (s) | s/step | real images/s | peak RSS (MB) |')
  print('|---|---|---|---|---|---|---|')
  r = time_step(config, _ITERS.value)
  rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
  name = flags.FLAGS['config'].config_filename + (" (XLA's default options)" * _XLA_DEFAULT.value)
  name += f' ({config.precision})' if config.precision != 'f32' else ''
  print(f'| {name} | {config.batch_size} | {config.n_critic} '
        f'| {r["compile"]:.1f} | {r["seconds"]:.3f} | {r["images"]:.0f} | {rss:.0f} |')


if __name__ == '__main__':
  flags.mark_flags_as_required(['config'])
  app.run(main, flags_parser=launch.parse_flags)
