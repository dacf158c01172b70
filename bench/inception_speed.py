"""FID feature extraction speed: gan_jax's Flax InceptionV3 against pytorch-fid's torch model.

Both run the same weights (pytorch-fid's network with random weights, as in the parity test,
transplanted by gan_jax's converter: speed does not depend on the values) on the same images, one after the other in one
process, and both include the resize of 32x32 CIFAR-sized images to 299x299. Prints images/s
(median over timed batches after warm-up), the compile/first-call time, and the largest
relative difference of the pool3 features. Needs the parity extra (`make bench` installs it).

  python bench/inception_speed.py [--batch 50] [--batches 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from flax import traverse_util  # noqa: E402

from gan_jax import parallel  # noqa: E402
from gan_jax.metrics import inception  # noqa: E402
from gan_jax.metrics.pytorch_fid_reference import random_pytorch_fid_inception  # noqa: E402


def time_calls(fn, batches: int) -> tuple[float, float]:
  """(first call seconds, median seconds of `batches` later calls)."""
  start = time.perf_counter()
  fn()
  first = time.perf_counter() - start
  times = []
  for _ in range(batches):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return first, float(np.median(times))


def main() -> None:
  parser = argparse.ArgumentParser()
  parser.add_argument('--batch', type=int, default=50)
  parser.add_argument('--batches', type=int, default=5)
  parser.add_argument('--xla_default', action='store_true',
                      help="also time the Flax model compiled with XLA's default options")
  args = parser.parse_args()
  images = np.random.default_rng(0).uniform(-1, 1, (args.batch, 32, 32, 3)).astype(np.float32)
  net, wrapper = random_pytorch_fid_inception()
  params = traverse_util.unflatten_dict(inception.convert_torch_state_dict(net.state_dict()), sep='/')
  params = jax.device_put(params)
  pool3 = lambda p, x: inception.FIDInceptionV3().apply({'params': p}, x)['pool3']
  apply = jax.jit(pool3, compiler_options=parallel.compiler_options())  # As the extractor does.
  x_jax = jax.device_put(images)
  x_torch = torch.from_numpy((images.transpose(0, 3, 1, 2) + 1) / 2)

  def run_torch():
    with torch.no_grad():
      return wrapper(x_torch)[0][:, :, 0, 0].numpy()

  rows = []
  first, median = time_calls(lambda: apply(params, x_jax).block_until_ready(), args.batches)
  rows.append((f'gan_jax Flax ({jax.default_backend()})', first, median))
  if args.xla_default:
    default = jax.jit(pool3)
    first, median = time_calls(lambda: default(params, x_jax).block_until_ready(), args.batches)
    rows.append((f"gan_jax Flax ({jax.default_backend()}), XLA's default options", first, median))
  first, median = time_calls(run_torch, args.batches)
  rows.append((f'pytorch-fid torch {torch.__version__} (cpu, {torch.get_num_threads()} threads)',
               first, median))
  diff = np.abs(np.asarray(apply(params, x_jax)) - run_torch()).max() / np.abs(run_torch()).max()

  print(f'FID Inception feature extraction, batch {args.batch} of 32x32 images resized to 299, '
        f'median of {args.batches} batches; {platform.processor() or platform.machine()}, '
        f'{os.cpu_count()} cores, jax {jax.__version__} on {jax.devices()[0].device_kind}')
  print(f'| implementation | first call (s) | s / batch | images / s |')
  print(f'|---|---|---|---|')
  for name, first, median in rows:
    print(f'| {name} | {first:.2f} | {median:.3f} | {args.batch / median:.1f} |')
  print(f'ratio (torch s / jax s): {rows[-1][2] / rows[0][2]:.2f}; pool3 max |diff| / max |ref|: '
        f'{diff:.1e}')


if __name__ == '__main__':
  main()
