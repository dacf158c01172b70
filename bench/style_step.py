"""The style family's lazy regularization: `lax.cond` in one program against two programs chosen
on the host by step, on this machine's backend.

The family's step skips path-length regularization and R1 with `lax.cond` on the step. The
alternative compiles two programs: one that always regularizes (here: the family's step with each
`lax.cond` replaced by its true branch) and one that never does (`pl_weight` = `r1_gamma` = 0).
This prints the seconds per step of each program at each kind of step, and the mean step over
one cycle of the intervals (the reference's: R1 every 16 steps, path length every 4). The
two-program alternative regularizes with both whenever either is due.

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
from gan_jax.train import compiled as compiled_programs  # noqa: E402
from gan_jax.train.checks import check  # noqa: E402
from gan_jax.train.families import check_devices, style  # noqa: E402
from gan_jax.train.run import build_run  # noqa: E402
from gan_jax.train.step import make_train_step  # noqa: E402

def program(config, always: bool):
  """(compile seconds, run(step) -> seconds) of the config's step; with `always`, each lax.cond
  of the family replaced by its true branch."""
  run = build_run(config, dataset=ShapesOnly(config), checked=True)
  mesh = parallel.make_mesh()
  batch = parallel.shard_batch(random_batch(config, run.dataset), mesh)
  cond = style.lax.cond
  if always:
    style.lax.cond = lambda pred, true, false, *operands: true(*operands)
  try:
    state = parallel.replicate(jax.tree.map(jnp.copy, run.state), mesh)
    start = time.perf_counter()
    step = make_train_step(config, run.nets, mesh).lower(state, batch).compile()
    compile_seconds = time.perf_counter() - start
  finally:
    style.lax.cond = cond
    compiled_programs._programs.clear()  # the next program is traced anew

  def seconds(step_number: int) -> float:
    times = []
    for _ in range(_ITERS.value + 1):
      state = jax.tree.map(jnp.copy, run.state.replace(step=jnp.int32(step_number)))
      state = parallel.replicate(state, mesh)  # a copy: the step donates its state
      start = time.perf_counter()
      jax.block_until_ready(step(state, batch))
      times.append(time.perf_counter() - start)
    times = sorted(times[1:])
    return times[len(times) // 2]
  return compile_seconds, seconds


def main(argv) -> None:
  del argv
  config = launch._CONFIG.value
  try:
    config = check(config)
    check_devices(config, jax.device_count())
    if config.family != 'style':
      raise ConfigError(f'config.family: this benchmark times the style family, got {config.family!r}')
  except ConfigError as e:
    sys.exit(f'error: {e}')
  g_every, d_every = config.g_reg_interval, config.d_reg_interval
  cycle = g_every * d_every // math.gcd(g_every, d_every)
  kind = lambda step: (step % d_every == 0, step % g_every == 0)  # (R1, path length) due
  kinds = {kind(step): step for step in reversed(range(cycle))}  # one step of each kind
  names = {(True, True): 'R1 and path length', (False, True): 'path length only',
           (True, False): 'R1 only', (False, False): 'neither'}
  print(f'# {flags.FLAGS["config"].config_filename}: batch {config.batch_size}, '
        f'{platform.processor() or platform.machine()}, {os.cpu_count()} cores, jax '
        f'{jax.__version__}, {jax.device_count()} x {jax.devices()[0].platform}; median of '
        f'{_ITERS.value} steps; R1 every {d_every}, path length every {g_every} steps')
  print('| program | compile (s) | ' + ' | '.join(f'step with {names[k]} (s)' for k in kinds) +
        f' | mean over {cycle} steps (s) |')
  print('|---|---|' + '---|' * (len(kinds) + 1))
  c, run = program(config, always=False)
  cond = {k: run(step) for k, step in kinds.items()}
  mean = sum(cond[kind(step)] for step in range(cycle)) / cycle
  print(f'| one program, `lax.cond` | {c:.1f} | ' + ' | '.join(f'{t:.3f}' for t in cond.values()) +
        f' | {mean:.3f} |')
  c_always, run = program(config, always=True)
  always = run(0)
  plain = config.copy_and_resolve_references()
  plain.pl_weight, plain.r1_gamma = 0.0, 0.0
  c_never, run = program(plain, always=False)
  never = run(1)
  two = {k: never if k == (False, False) else always for k in kinds}
  mean = sum(two[kind(step)] for step in range(cycle)) / cycle
  print(f'| two programs (always regularize / never) | {c_always:.1f} + {c_never:.1f} | ' +
        ' | '.join(f'{t:.3f}' for t in two.values()) + f' | {mean:.3f} |')


if __name__ == '__main__':
  flags.mark_flags_as_required(['config'])
  app.run(main, flags_parser=launch.parse_flags)
