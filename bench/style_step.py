"""The style family's steps by kind: the seconds of a step with R1 and path-length
regularization, with one of them, and with neither, each its own compiled program (the family's
`step_kind`; the host picks the program by the step number), and the mean step over one cycle of
the intervals (the reference's: R1 every 16 steps, path length every 4).

  python bench/style_step.py --config experiments/stylegan2_cifar.py:small [--iters 5]
"""

from __future__ import annotations

import math
import os
import platform
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from absl import app, flags  # noqa: E402

import launch  # noqa: E402
from bench.step_speed import _ITERS, ShapesOnly, random_batch  # noqa: E402  (and --iters)
from gan_jax import parallel  # noqa: E402
from gan_jax.config import ConfigError  # noqa: E402
from gan_jax.train.checks import check  # noqa: E402
from gan_jax.train.families import check_devices, style  # noqa: E402
from gan_jax.train.run import build_run  # noqa: E402
from gan_jax.train.step import make_train_step  # noqa: E402

def time_kinds(config, steps: list[int]) -> dict[int, tuple[float, float]]:
  """{step: (compile seconds, median seconds)} of the program of each step's kind."""
  run = build_run(config, dataset=ShapesOnly(config), checked=True)
  mesh = parallel.make_mesh()
  batch = parallel.shard_batch(random_batch(config, run.dataset), mesh)
  train_step = make_train_step(config, run.nets, mesh)
  out = {}
  for step_number in steps:
    fresh = lambda: parallel.replicate(  # a copy each time: the step donates its state
        jax.tree.map(jnp.copy, run.state.replace(step=jnp.int32(step_number))), mesh)
    start = time.perf_counter()
    program = train_step.lower(fresh(), batch).compile()
    compile_seconds = time.perf_counter() - start
    times = []
    for _ in range(_ITERS.value + 1):
      state = fresh()
      start = time.perf_counter()
      jax.block_until_ready(program(state, batch))
      times.append(time.perf_counter() - start)
    times = sorted(times[1:])  # the first call pays one-off transfers
    out[step_number] = compile_seconds, times[len(times) // 2]
  return out


def main(argv) -> None:
  del argv
  config = launch._CONFIG.value
  try:
    config = check(config)
    if config.family != 'style':  # before jax looks for devices (and logs what it does not find)
      raise ConfigError(f'config.family: this benchmark times the style family, got {config.family!r}')
    check_devices(config, jax.device_count())
  except ConfigError as e:
    sys.exit(f'error: {e}')
  g_every = config.g_reg_interval if config.pl_weight else 1
  d_every = config.d_reg_interval if config.r1_gamma else 1
  cycle = g_every * d_every // math.gcd(g_every, d_every)
  kinds = {style.step_kind(config, step): step for step in reversed(range(cycle))}
  print(f'# {flags.FLAGS["config"].config_filename}: batch {config.batch_size}, '
        f'{platform.processor() or platform.machine()}, {os.cpu_count()} cores, jax '
        f'{jax.__version__}, {jax.device_count()} x {jax.devices()[0].platform}; median of '
        f'{_ITERS.value} steps; R1 every {d_every} steps' +
        (f', path length every {g_every}' if config.pl_weight else ', no path length'))
  print('| step kind (regularizers) | compile (s) | s/step | steps of the kind per cycle |')
  print('|---|---|---|---|')
  times = time_kinds(config, list(kinds.values()))
  for kind, step in kinds.items():
    count = sum(style.step_kind(config, s) == kind for s in range(cycle))
    print(f'| {" + ".join(kind) or "none"} | {times[step][0]:.1f} | {times[step][1]:.3f} | '
          f'{count} of {cycle} |')
  mean = sum(times[kinds[style.step_kind(config, s)]][1] for s in range(cycle)) / cycle
  print(f'\nMean step over the cycle: {mean:.3f} s')


if __name__ == '__main__':
  flags.mark_flags_as_required(['config'])
  app.run(main, flags_parser=launch.parse_flags)
