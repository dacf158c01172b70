"""Convolution kernel gradients on this backend: XLA's own against gan_jax's tap-by-tap products.

For the layer shapes of the DCGAN (4x4, stride 2) and SNGAN ResNet (3x3, stride 1) models at
batch 64, times the gradient of a convolution with respect to its kernel, computed
  - by XLA (autodiff of `lax.conv_general_dilated`), and
  - by `gan_jax.models.layers.kernel_grad_by_taps` (one matrix product per kernel tap),
and prints a table with the median time of each, GFLOP/s and the largest relative difference.

  python bench/conv_grads.py [--iters 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax import lax  # noqa: E402

from gan_jax.models.layers import kernel_grad_by_taps  # noqa: E402

# (model, input size, in channels, out channels, kernel, stride)
SHAPES = [
    ('DCGAN 64x64', 64, 3, 64, 4, 2),
    ('DCGAN 64x64', 32, 64, 128, 4, 2),
    ('DCGAN 64x64', 16, 128, 256, 4, 2),
    ('DCGAN 64x64', 8, 256, 512, 4, 2),
    ('DCGAN 32x32', 32, 3, 64, 4, 2),
    ('SNGAN G 32x32', 32, 256, 256, 3, 1),
    ('SNGAN G 32x32', 16, 256, 256, 3, 1),
    ('SNGAN G 32x32', 8, 256, 256, 3, 1),
    ('SNGAN D 32x32', 32, 128, 128, 3, 1),
    ('SNGAN D 32x32', 16, 128, 128, 3, 1),
    ('SNGAN D 32x32', 8, 128, 128, 3, 1),
    ('128x128 model', 64, 64, 128, 4, 2),
]


def _median_seconds(f, args, iters: int) -> tuple[float, jax.Array]:
  out = f(*args).block_until_ready()
  times = []
  for _ in range(iters):
    start = time.perf_counter()
    f(*args).block_until_ready()
    times.append(time.perf_counter() - start)
  return sorted(times)[len(times) // 2], out


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--iters', type=int, default=5)
  parser.add_argument('--batch', type=int, default=64)
  args = parser.parse_args()
  for name in ('iters', 'batch'):
    if getattr(args, name) < 1:
      parser.error(f'--{name}: must be positive, got {getattr(args, name)}')
  print(f'# Convolution kernel gradient, batch {args.batch}, median of {args.iters}; '
        f'{platform.processor() or platform.machine()}, {os.cpu_count()} cores, '
        f'jax {jax.__version__} ({jax.devices()[0].platform})')
  print('| layer | input | kernel, stride | XLA (ms) | taps (ms) | XLA / taps | taps GFLOP/s '
        '| max rel. diff |')
  print('|---|---|---|---|---|---|---|---|')
  dims = ('NHWC', 'HWIO', 'NHWC')
  for model, size, c_in, c_out, k, s in SHAPES:
    rng = np.random.default_rng(0)
    z = jnp.asarray(rng.standard_normal((args.batch, size, size, c_in)), jnp.float32)
    g = jnp.asarray(rng.standard_normal((args.batch, size // s, size // s, c_out)), jnp.float32)
    kernel = jnp.zeros((k, k, c_in, c_out), jnp.float32)
    conv = lambda z, kernel: lax.conv_general_dilated(z, kernel, (s, s), 'SAME',
                                                      dimension_numbers=dims)
    xla = jax.jit(lambda z, g, kernel: jax.vjp(lambda w: conv(z, w), kernel)[1](g)[0])
    taps = jax.jit(lambda z, g, kernel: kernel_grad_by_taps(z, g, kernel, (s, s), 'SAME'))
    xla_s, xla_out = _median_seconds(xla, (z, g, kernel), args.iters)
    taps_s, taps_out = _median_seconds(taps, (z, g, kernel), args.iters)
    flops = 2 * args.batch * (size // s) ** 2 * k * k * c_in * c_out
    diff = float(jnp.max(jnp.abs(taps_out - xla_out)) / jnp.max(jnp.abs(xla_out)))
    print(f'| {model} | {size}x{size}x{c_in} | {k}x{k}x{c_out}, {s} | {xla_s * 1e3:.1f} '
          f'| {taps_s * 1e3:.1f} | {xla_s / taps_s:.1f}x | {flops / taps_s / 1e9:.0f} '
          f'| {diff:.0e} |', flush=True)


if __name__ == '__main__':
  main()
