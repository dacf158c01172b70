"""DCGAN training-iteration speed: gan_jax against the PyTorch DCGAN example, same machine, one run.

The iteration of the PyTorch example (examples/dcgan/main.py): one discriminator update on a
real and a fake batch, one generator update on that fake batch; batch 64, ngf = ndf = 64,
nz = 100, BCE (non-saturating), Adam 2e-4, beta1 0.5. At 64x64x3 and at 32x32x3 (one layer
fewer). Each framework runs in its own process (clean peak memory); PyTorch is eager, on the
CPU, with its default threads. Needs the `bench` extra's torch (`make bench` installs it).

The two processes take turns, `--block` iterations at a time, so that both see the same machine:
on a shared (virtual) CPU the speed drifts by 20 % and more within minutes, which would otherwise
land on one framework's row and not the other's.

  python bench/dcgan_speed.py [--iters 30] [--block 1] [--xla_default] [--data_dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import types

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def _timed(run, iters: int) -> list[float]:
  times = []
  for _ in range(iters):
    start = time.perf_counter()
    run()
    times.append(time.perf_counter() - start)
  return times


def _median_seconds(run, iters: int, warmup: int = 3) -> float:
  for _ in range(warmup):
    run()
  return sorted(_timed(run, iters))[iters // 2]


def _serve(run, setup: dict, framework: str) -> None:
  """Warm up, then run iterations as the parent asks: a line `N` times N iterations, `END`
  reports the process's peak memory and matmul rate (measured then, with the machine to itself)."""
  for _ in range(3):
    run()
  print('READY ' + json.dumps(setup), flush=True)
  for line in sys.stdin:
    if line.strip() == 'END':
      break
    print('TIMES ' + json.dumps(_timed(run, int(line))), flush=True)
  print('RESULT ' + json.dumps({'peak_mb': _peak_rss_mb(), **setup,
                                'matmul_peak': matmul_peak_gflops(framework)}), flush=True)


def _peak_rss_mb() -> float:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def matmul_peak_gflops(framework: str) -> float:
  n = 2048
  if framework == 'jax':
    import jax
    import jax.numpy as jnp
    a = jnp.ones((n, n), jnp.float32)
    f = jax.jit(lambda a: a @ a)
    seconds = _median_seconds(lambda: f(a).block_until_ready(), 10)
  else:
    import torch
    a = torch.ones(n, n)
    seconds = _median_seconds(lambda: a @ a, 10)
  return 2 * n ** 3 / seconds / 1e9


def jax_worker(size: int, xla_default: bool = False) -> None:
  import jax
  import numpy as np
  from jax.sharding import Mesh
  from gan_jax import parallel
  if xla_default:  # The row that measures what gan_jax's CPU compiler options are worth.
    parallel.compiler_options = lambda mesh: None
  from gan_jax.train.families import base_config
  from gan_jax.train.run import build_run
  from gan_jax.train.step import make_train_step

  c = base_config('noise')
  c.batch_size, c.latent_dim, c.loss, c.n_critic = 64, 100, 'non_saturating', 1
  c.generator.update(name='dcgan', ch=64)
  c.discriminator.update(name='dcgan', ch=64)
  c.optim.update(g_lr=2e-4, d_lr=2e-4, g_b1=0.5, d_b1=0.5)
  shape = (size, size, 3)
  shapes_only = types.SimpleNamespace(shape=shape, num_classes=0)  # No data is read: random.
  run = build_run(c, dataset=shapes_only)
  nets = run.nets
  mesh = Mesh(np.array(jax.devices()[:1]), ('data',))
  state = parallel.replicate(run.state, mesh)
  rng = np.random.default_rng(0)
  batch = parallel.shard_batch(
      {'x': rng.uniform(-1, 1, (1, 64, *shape)).astype(np.float32)}, mesh)
  step = make_train_step(c, nets, mesh)
  start = time.perf_counter()
  compiled = step.lower(state, batch).compile()
  compile_seconds = time.perf_counter() - start
  cost = compiled.cost_analysis()
  flops = (cost[0] if isinstance(cost, list) else cost)['flops']
  holder = {'state': state}

  def run():
    holder['state'], metrics = compiled(holder['state'], batch)
    jax.block_until_ready(metrics)
  _serve(run, {'compile': compile_seconds, 'flops': flops}, 'jax')


def torch_worker(size: int) -> None:
  import torch
  from torch import nn
  torch.manual_seed(0)
  nz, ngf, ndf, nc = 100, 64, 64, 3
  layers = 4 if size == 64 else 3  # up/down-sampling layers after the 4x4 map

  g_layers = [nn.ConvTranspose2d(nz, ngf * 2 ** (layers - 1), 4, 1, 0, bias=False),
              nn.BatchNorm2d(ngf * 2 ** (layers - 1)), nn.ReLU(True)]
  for i in reversed(range(layers - 1)):
    g_layers += [nn.ConvTranspose2d(ngf * 2 ** (i + 1), ngf * 2 ** i, 4, 2, 1, bias=False),
                 nn.BatchNorm2d(ngf * 2 ** i), nn.ReLU(True)]
  g_layers += [nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh()]
  d_layers = [nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]
  for i in range(1, layers):
    d_layers += [nn.Conv2d(ndf * 2 ** (i - 1), ndf * 2 ** i, 4, 2, 1, bias=False),
                 nn.BatchNorm2d(ndf * 2 ** i), nn.LeakyReLU(0.2, inplace=True)]
  d_layers += [nn.Conv2d(ndf * 2 ** (layers - 1), 1, 4, 1, 0, bias=False), nn.Sigmoid()]
  net_g, net_d = nn.Sequential(*g_layers), nn.Sequential(*d_layers)
  criterion = nn.BCELoss()
  opt_d = torch.optim.Adam(net_d.parameters(), lr=2e-4, betas=(0.5, 0.999))
  opt_g = torch.optim.Adam(net_g.parameters(), lr=2e-4, betas=(0.5, 0.999))
  real = torch.rand(64, nc, size, size) * 2 - 1
  ones, zeros = torch.ones(64), torch.zeros(64)

  def run():  # The loop body of examples/dcgan/main.py.
    net_d.zero_grad()
    criterion(net_d(real).view(-1), ones).backward()
    fake = net_g(torch.randn(64, nz, 1, 1))
    criterion(net_d(fake.detach()).view(-1), zeros).backward()
    opt_d.step()
    net_g.zero_grad()
    criterion(net_d(fake).view(-1), ones).backward()
    opt_g.step()
  _serve(run, {'version': torch.__version__}, 'torch')


def pipeline_worker(data_dir: str, iters: int) -> dict:
  from gan_jax.data import ImageDataset
  d = ImageDataset(name='cifar10', split='train', data_dir=data_dir, image_size=0,
                   download=False, seed=0, batch_size=64)
  d.images  # Loaded once per run, before training starts.
  step = iter(range(10 ** 9))
  seconds = _median_seconds(lambda: d.batch(next(step)), iters * 10)
  return {'images_per_s': 64 / seconds}


def worker(args) -> None:
  kind, size = args.worker.split(':')
  if kind in ('jax', 'jax_default'):
    jax_worker(int(size), xla_default=kind == 'jax_default')
  elif kind == 'torch':
    torch_worker(int(size))
  else:
    print('RESULT ' + json.dumps(pipeline_worker(args.data_dir, args.iters)))


class Worker:
  """One framework's process, kept alive between the blocks of iterations it is asked to time."""

  def __init__(self, what: str, args):
    cmd = [sys.executable, __file__, '--worker', what, '--iters', str(args.iters)]
    self.what, self.times = what, []
    self.log = tempfile.TemporaryFile('w+')  # Not a pipe: a chatty worker must never block.
    self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=self.log, text=True,
                                 env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'))
    self.setup = self._read('READY')

  def _read(self, tag: str):
    for line in self.proc.stdout:
      if line.startswith(tag + ' '):
        return json.loads(line[len(tag) + 1:])
    self.proc.wait()
    self.log.seek(0)
    raise RuntimeError(f'{self.what} failed:\n{self.log.read()[-3000:]}')

  def time(self, iters: int) -> None:
    self.proc.stdin.write(f'{iters}\n')
    self.proc.stdin.flush()
    self.times += self._read('TIMES')

  def finish(self) -> dict:
    self.proc.stdin.write('END\n')
    self.proc.stdin.flush()
    result = self._read('RESULT')
    self.proc.wait()
    return {**result, 'seconds': sorted(self.times)[len(self.times) // 2]}


def run_together(names: list[str], args) -> list[dict]:
  """Workers that take turns (in alternating order) until each has timed `--iters` iterations."""
  workers = [Worker(name, args) for name in names]
  done = 0
  while done < args.iters:
    block = min(args.block, args.iters - done)
    for w in (workers if (done // args.block) % 2 == 0 else workers[::-1]):
      w.time(block)
    done += block
  return [w.finish() for w in workers]


def pipeline_row(args) -> dict:
  cmd = [sys.executable, __file__, '--worker', 'pipeline:32', '--iters', str(args.iters),
         '--data_dir', args.data_dir]
  out = subprocess.run(cmd, capture_output=True, text=True,
                       env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'))
  lines = [l for l in out.stdout.splitlines() if l.startswith('RESULT ')]
  if not lines:
    raise RuntimeError(f'pipeline failed:\n{out.stderr[-3000:]}')
  return json.loads(lines[-1][len('RESULT '):])


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--iters', type=int, default=30, help='timed iterations (median)')
  parser.add_argument('--block', type=int, default=1,
                      help='iterations each framework runs before the other takes its turn')
  parser.add_argument('--sizes', default='64,32')
  parser.add_argument('--xla_default', action='store_true',
                      help="also time gan_jax compiled with XLA's default options")
  parser.add_argument('--data_dir', default='', help='tfds dir with cifar10, for the pipeline row')
  parser.add_argument('--worker', help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.worker:
    return worker(args)
  if args.iters < 1 or args.block < 1:
    parser.error('--iters and --block must be positive')
  import jax
  print(f'# DCGAN iteration (PyTorch example), batch 64, median of {args.iters} after 3 warm-up, '
        f'the frameworks taking turns {args.block} iterations at a time; '
        f'{platform.processor() or platform.machine()}, {os.cpu_count()} cores, '
        f'jax {jax.__version__} ({jax.devices()[0].platform})')
  print('| size | framework | s/iteration | vs PyTorch | compile (s) | peak RSS (MB) '
        '| GFLOP/iteration | GFLOP/s | % of matmul peak |')
  print('|---|---|---|---|---|---|---|---|---|')
  for size in map(int, args.sizes.split(',')):
    names = [f'jax:{size}', f'torch:{size}'] + [f'jax_default:{size}'] * args.xla_default
    j, t, *default = run_together(names, args)
    gflop = j['flops'] / 1e9
    rows = [('gan_jax', j), (f'PyTorch {t["version"]} eager', t)]
    rows += [("gan_jax, XLA:CPU's default fusions", r) for r in default]
    for name, r in rows:
      rate = gflop / r['seconds']
      print(f'| {size}x{size} | {name} | {r["seconds"]:.3f} | {r["seconds"] / t["seconds"]:.2f}x '
            f'| {r.get("compile", 0):.1f} | {r["peak_mb"]:.0f} | {gflop:.1f} | {rate:.0f} '
            f'| {100 * rate / r["matmul_peak"]:.0f}% of {r["matmul_peak"]:.0f} |', flush=True)
    if size == 32 and args.data_dir:
      p = pipeline_row(args)
      print(f'| 32x32 | input pipeline (cifar10, host) | {p["images_per_s"]:,.0f} images/s, '
            f'the step consumes {64 / j["seconds"]:,.0f} images/s | | | | | | |')


if __name__ == '__main__':
  main()
