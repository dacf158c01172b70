"""One table of gan_jax on this machine's accelerator, prepared to fit in 10 minutes on one GPU.

1. The train step of each family (noise MLP, DCGAN with batch norm, SRGAN, CycleGAN with its
   image pools) on the accelerator against the same steps on the CPU: largest relative difference
   of the logged metrics after 2 steps, matmuls and convolutions at full f32 precision.
2. Seconds per step and model FLOP utilization (MFU) of DCGAN 64x64 (batch 64) and cgan_cifar
   (SNGAN-style ResNets, projection discriminator, hinge loss, n_critic 2), in f32 and bf16, and
   of stylegan2_cifar (the StyleGAN2-ADA paper's CIFAR-10 network, batch 64) in f32:
   FLOPs per step from XLA's cost analysis of the compiled step, over the datasheet's dense peak
   of the chip (bf16 tensor cores for bf16; TF32 for f32, which jax's default matmul precision
   uses on GPUs) or, for chips not in PEAKS (CPUs), over the matmul rate measured here.
3. FID feature extraction: images/s of the Inception network (random weights: speed does not
   depend on their values) on 32x32 images resized to 299x299 inside, as the evaluators do.
4. The PacGAN Table 1 toy protocol (grid and ring, packs 1-4, many seeds in one vmapped program)
   for as many steps as the time left allows, and the full protocol's time extrapolated from the
   logged training rate.

No data is read (random batches; the toy data is generated). It needs jax, flax, optax,
orbax-checkpoint and matplotlib (in most accelerator images) plus two small pure-Python wheels,
ml_collections and clu (docs/guide.md, "A device check").

  python bench/device_check.py [--budget_s 540] [--json FILE]
  python bench/device_check.py --smoke        # tiny sizes, on any machine (the tests run this)
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, 'bench'))

import jax  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import AxisType, Mesh  # noqa: E402

# Dense peak FLOP/s per chip from the vendors' datasheets: (bf16, f32 as jax runs it by default).
PEAKS = {
    'H200': (989e12, 495e12), 'H100 PCIe': (756e12, 378e12), 'H100': (989e12, 495e12),
    'A100': (312e12, 156e12), 'L4': (121e12, 60e12),
    'TPU v4': (275e12, 275e12), 'TPU v5 lite': (197e12, 197e12), 'TPU v5p': (459e12, 459e12),
    'TPU v6 lite': (918e12, 918e12),
}
STEP_CHECKS = ('experiments/gan_grid.py:runlocal', 'experiments/dcgan_mnist.py:runlocal',
               'experiments/srgan_cifar.py:runlocal', 'experiments/cyclegan_mnist_mnistm.py:runlocal')
STEP_TOLERANCE = 1e-3


def load_config(spec: str, **overrides):
  import importlib.util
  path, _, arg = spec.partition(':')
  module_spec = importlib.util.spec_from_file_location('experiment', os.path.join(ROOT, path))
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  config = module.get_config(arg or None)
  for key, value in overrides.items():
    group, _, field = key.rpartition('.')
    (config[group] if group else config)[field] = value
  return config


def mesh_of(device) -> Mesh:
  return Mesh(np.array([device]), ('data',), axis_types=(AxisType.Auto,))


def run_and_batch(config):
  """The run (the family's networks and the initial state, made on the CPU, so that every
  device starts from the same state) and one batch of random data of the dataset's shapes."""
  from gan_jax import data
  from gan_jax.train.run import build_run
  from step_speed import ShapesOnly, random_batch
  if config.dataset.name in data.TOY_DATASETS:
    dataset = data.build(config)
    batch = dataset.batch(0)
  else:
    dataset = ShapesOnly(config)
    batch = random_batch(config, dataset)
  with jax.default_device(jax.devices('cpu')[0]):
    return build_run(config, dataset=dataset), batch


def steps_on(config, run, batch, device, steps: int) -> dict[str, float]:
  """The metrics of `steps` steps on `device`, from the run's initial state."""
  from gan_jax import parallel
  from gan_jax.train.step import make_train_step
  mesh = mesh_of(device)
  # A copy: the step donates its input, and the run's state starts the next device's steps.
  state = parallel.replicate(jax.tree.map(jax.numpy.copy, run.state), mesh)
  step = make_train_step(config, run.nets, mesh)
  for _ in range(steps):
    state, metrics = step(state, parallel.shard_batch(batch, mesh))
  return {k: float(v) for k, v in jax.device_get(metrics).items()}


def check_steps(accelerator, specs, rows: list[dict]) -> None:
  cpu = jax.devices('cpu')[0]
  for spec in specs:
    config = load_config(spec)
    run, batch = run_and_batch(config)
    with jax.default_matmul_precision('highest'):
      here = steps_on(config, run, batch, accelerator, 2)
      reference = steps_on(config, run, batch, cpu, 2)
    worst = max(abs(here[k] - reference[k]) / max(abs(reference[k]), 1e-3) for k in reference)
    rows.append({'part': 'step = CPU step', 'what': spec.removeprefix('experiments/'),
                 'result': f'max rel. diff {worst:.1e} ({"ok" if worst <= STEP_TOLERANCE else "FAIL"}'
                           f', tolerance {STEP_TOLERANCE:g})', 'ok': worst <= STEP_TOLERANCE})


@functools.lru_cache(maxsize=None)  # measured once per device and precision, not per row
def peak(device, precision: str, n: int = 2048) -> tuple[float, str]:
  """(FLOP/s, where it comes from) for MFU: the datasheet's, else an n^3 matmul's, measured."""
  kind = device.device_kind
  for name, (bf16, f32) in PEAKS.items():  # 'H100 PCIe' before 'H100'
    if name in kind:
      return (bf16 if precision == 'bf16' else f32), f'{name} datasheet'
  dtype = jax.numpy.bfloat16 if precision == 'bf16' else jax.numpy.float32
  a = jax.device_put(jax.numpy.ones((n, n), dtype), device)
  matmul = jax.jit(lambda a: a @ a)
  jax.block_until_ready(matmul(a))
  start = time.perf_counter()
  for _ in range(5):
    out = matmul(a)
  jax.block_until_ready(out)
  return 2 * n ** 3 * 5 / (time.perf_counter() - start), f'measured {n}^3 matmul'


def time_calls(call, iters: int) -> float:
  """Median seconds of `iters` calls of `call` (waiting for its result), after one warm-up."""
  times = []
  for i in range(iters + 1):
    start = time.perf_counter()
    jax.block_until_ready(call())
    if i:
      times.append(time.perf_counter() - start)
  return float(np.median(times))


def flops_of(compiled) -> float:
  cost = compiled.cost_analysis()
  return float((cost[0] if isinstance(cost, list) else cost).get('flops', float('nan')))


def time_training(name: str, config, device, iters: int, matmul_n: int, rows: list[dict],
                  step: int = 0) -> None:
  """A row of seconds per step from the state at `step` (its kind of step, for a family whose
  steps differ: the style family's lazy regularization)."""
  from gan_jax import parallel
  from gan_jax.train.step import make_train_step
  run, batch = run_and_batch(config)
  mesh = mesh_of(device)
  state = parallel.replicate(run.state.replace(step=jax.numpy.int32(step)), mesh)
  batch = parallel.shard_batch(batch, mesh)
  start = time.perf_counter()
  compiled = make_train_step(config, run.nets, mesh).lower(state, batch).compile()
  compile_s = time.perf_counter() - start
  holder = {'state': state}  # the step donates its input state

  def call():
    holder['state'], metrics = compiled(holder['state'], batch)
    return metrics
  seconds = time_calls(call, iters)
  flops = flops_of(compiled)
  top, source = peak(device, config.precision, matmul_n)
  rows.append({'part': 'train step', 'what': name, 'precision': config.precision,
               'batch': config.batch_size, 'compile_s': compile_s, 's_per_step': seconds,
               'images_per_s': config.batch_size * config.n_critic / seconds,
               'tflops': flops / seconds / 1e12, 'mfu': flops / seconds / top, 'peak': source})


def time_inception(device, batch: int, iters: int, rows: list[dict]) -> None:
  from gan_jax import parallel
  from gan_jax.metrics import inception
  model = inception.FIDInceptionV3()
  images = np.random.default_rng(0).uniform(-1, 1, (batch, 32, 32, 3)).astype(np.float32)
  # Random weights of the right shapes, without compiling the network's init.
  shapes = jax.eval_shape(model.init, jax.random.key(0), images[:1])['params']
  rng = np.random.default_rng(0)
  params = jax.device_put(jax.tree.map(
      lambda s: (0.01 * rng.standard_normal(s.shape)).astype(s.dtype), shapes), device)
  x = jax.device_put(images, device)
  apply = jax.jit(lambda p, x: model.apply({'params': p}, x)['pool3'],
                  compiler_options=parallel.compiler_options(mesh_of(device)))
  start = time.perf_counter()
  compiled = apply.lower(params, x).compile()
  compile_s = time.perf_counter() - start
  seconds = time_calls(lambda: compiled(params, x), iters)
  rows.append({'part': 'FID features', 'what': 'Inception pool3, 32x32 -> 299x299', 'precision': 'f32',
               'batch': batch, 'compile_s': compile_s, 's_per_step': seconds,
               'images_per_s': batch / seconds, 'tflops': flops_of(compiled) / seconds / 1e12})


def pacgan(seconds_left: float, smoke: bool, rows: list[dict]) -> None:
  """The toy protocol at the largest length that fits, and the full protocol extrapolated."""
  from gan_jax.reproduce import mean_se as fmt
  from gan_jax.reproduce.pacgan_table1 import run_cell
  from absl import logging
  logging.set_verbosity(logging.WARNING)
  seeds = 2 if smoke else 10
  cells = [('grid', 2)] if smoke else [(d, p) for d in ('grid', 'ring') for p in (1, 2, 3, 4)]
  root = tempfile.mkdtemp(prefix='device_check_pacgan_')
  start = time.perf_counter()
  probe = run_cell('grid', 1, seeds, 0.02 if smoke else 2.0, os.path.join(root, 'probe'))
  # A fresh folder, so trained now: steps/s of `seeds` seeds, evaluation and startup included.
  rate = probe['steps'] / float(probe['wall'])
  left = seconds_left - (time.perf_counter() - start)
  epochs = 0.02 if smoke else max(1.0, min(400.0, 0.8 * left * rate / len(cells) / 1000))
  for dataset, pack in cells:
    cell = run_cell(dataset, pack, seeds, epochs, os.path.join(root, f'{dataset}_{pack}'))
    s = cell['scores']
    rows.append({'part': 'PacGAN Table 1', 'what': f'{dataset}, pack {pack}, {seeds} seeds, '
                 f'{cell["steps"]:,} steps', 'result': f'modes {fmt(s["modes_covered"], digits=1)}, '
                 f'high quality {fmt(s["high_quality_fraction"], 100, 1)} %, reverse KL '
                 f'{fmt(s["reverse_kl"])}; {cell["wall"]} s', 'steps_per_s': cell['steps_per_s']})
  full_steps = 400 * 100_000 // 100
  rate = np.median([r['steps_per_s'] for r in rows if r['part'] == 'PacGAN Table 1'])
  rows.append({'part': 'PacGAN Table 1', 'what': f'full protocol: 400 epochs ({full_steps:,} steps), '
               f'{seeds} seeds, 8 cells', 'result': f'~{8 * full_steps / rate / 3600:.1f} h of '
               f'training at the median logged rate above, {rate:.0f} steps/s ({seeds} seeds per '
               'step), evaluation and compiles not included'})


def table(rows: list[dict], header: str) -> str:
  lines = [header, '', '| part | what | precision | batch | compile (s) | s/step | images/s | '
           'TFLOP/s | MFU | result |', '|---|---|---|---|---|---|---|---|---|---|']
  for r in rows:
    num = lambda key, f: f.format(r[key]) if key in r else ''
    mfu = f'{100 * r["mfu"]:.1f} % of {r["peak"]}' if 'mfu' in r else ''
    lines.append(f'| {r["part"]} | {r["what"]} | {r.get("precision", "")} | {r.get("batch", "")} | '
                 f'{num("compile_s", "{:.1f}")} | {num("s_per_step", "{:.4f}")} | '
                 f'{num("images_per_s", "{:,.0f}")} | {num("tflops", "{:.2f}")} | {mfu} | '
                 f'{r.get("result", "")} |')
  return '\n'.join(lines)


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--smoke', action='store_true', help='tiny sizes: checks the script runs')
  parser.add_argument('--budget_s', type=float, default=540.0,
                      help='seconds for everything; the PacGAN protocol gets what is left')
  parser.add_argument('--json', default='', help='also write the rows to this file')
  args = parser.parse_args(argv)
  if args.budget_s <= 0:
    print(f'error: --budget_s: {args.budget_s:g}; give the seconds the check may take (> 0)',
          file=sys.stderr)
    return 2
  if args.json and os.path.isdir(args.json):
    print(f'error: --json: {args.json} is a folder; give a file name', file=sys.stderr)
    return 2
  start = time.perf_counter()
  device = jax.devices()[0]
  rows: list[dict] = []
  check_steps(device, STEP_CHECKS[:1] if args.smoke else STEP_CHECKS, rows)
  iters, matmul_n = (1, 512) if args.smoke else (20, 2048)
  # DCGAN as in Radford et al.'s 64x64 setting (ngf = ndf = 64, batch 64); --smoke: 32x32, 8 channels.
  size, ch, batch = (32, 8, 8) if args.smoke else (64, 64, 64)
  for precision in ('f32', 'bf16'):
    time_training(f'DCGAN {size}x{size}', load_config(
        'experiments/dcgan_cifar.py', precision=precision, batch_size=batch,
        **{'dataset.image_size': size, 'generator.ch': ch, 'discriminator.ch': ch}),
        device, iters, matmul_n, rows)
    if not args.smoke:  # its compile alone is half a minute on a CPU
      time_training('cgan_cifar', load_config('experiments/cgan_cifar.py', precision=precision),
                    device, iters, matmul_n, rows)
  if not args.smoke:  # the StyleGAN2-ADA paper's CIFAR-10 network, on a step without R1
    time_training('stylegan2_cifar (no R1)', load_config('experiments/stylegan2_cifar.py'),
                  device, iters, matmul_n, rows, step=1)
  time_inception(device, 2 if args.smoke else 500, iters, rows)
  pacgan(args.budget_s - (time.perf_counter() - start), args.smoke, rows)
  header = (f'# gan_jax device check: {jax.device_count()} x {device.device_kind} ({device.platform}), '
            f'jax {jax.__version__}, Python {platform.python_version()}, '
            f'{time.perf_counter() - start:.0f} s{" (--smoke sizes)" if args.smoke else ""}')
  print(table(rows, header))
  if args.json:
    with open(args.json, 'w') as f:
      json.dump({'header': header, 'rows': rows}, f, indent=1)
  return 0 if all(r.get('ok', True) for r in rows) else 1


if __name__ == '__main__':
  sys.exit(main())
