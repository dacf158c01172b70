"""What keeping decoded splits in `$GAN_JAX_CACHE/decoded/` saves a run: the time to decode a split
of a prepared tfds dataset into memory, against reading the kept arrays back. Each round decodes
into an empty cache and then reads back from it; the rounds alternate. Prints one table.

  python bench/decoded_cache.py --data_dir ~/tensorflow_datasets --datasets mnist:train cifar10:train
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from absl import logging as absl_logging  # noqa: E402

from gan_jax.data import images  # noqa: E402
from gan_jax.errors import UserError  # noqa: E402


def timed_load(name: str, split: str, data_dir: str) -> tuple[float, tuple]:
  images.load_tfds.cache_clear()  # the in-process copy: each load reads the disk
  start = time.perf_counter()
  arrays = images.load_tfds(name, split, data_dir, 0, False, 0, 1)
  return time.perf_counter() - start, arrays[0].shape


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--data_dir', required=True, help='prepared tfds datasets (ArrayRecord)')
  parser.add_argument('--datasets', nargs='+', default=['mnist:train', 'cifar10:train'])
  parser.add_argument('--rounds', type=int, default=2)
  args = parser.parse_args(argv)
  absl_logging.set_verbosity(absl_logging.ERROR)  # tfds's warnings about folders it looks into
  try:  # A dataset that is not prepared there, or an unknown split: one line, before any table.
    for spec in args.datasets:
      name, _, split = spec.partition(':')
      if not images.is_array_record(images.tfds_builder(name, args.data_dir, download=False)):
        raise UserError(f'{name} in {args.data_dir} is not stored as ArrayRecord')
      images.data_source(name, split, args.data_dir)
  except UserError as e:
    print(f'error: --datasets {spec}: {e}', file=sys.stderr)
    return 2
  print(f'# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; '
        f'median of {args.rounds} rounds')
  print('| dataset | images | decode (s) | read back (s) | cache file (MB) |')
  print('|---|---|---|---|---|')
  for spec in args.datasets:
    name, _, split = spec.partition(':')
    decode, read = [], []
    for _ in range(args.rounds):
      cache = tempfile.mkdtemp(prefix='gan_jax_decoded_')
      os.environ['GAN_JAX_CACHE'] = cache
      seconds, shape = timed_load(name, split, args.data_dir)
      decode.append(seconds)
      read.append(timed_load(name, split, args.data_dir)[0])
      size = sum(f.stat().st_size for f in os.scandir(os.path.join(cache, 'decoded')))
      shutil.rmtree(cache)
    print(f'| {spec} | {shape[0]:,} x {shape[1]}x{shape[2]}x{shape[3]} | '
          f'{statistics.median(decode):.2f} | {statistics.median(read):.3f} | {size / 1e6:.0f} |')
  return 0


if __name__ == '__main__':
  sys.exit(main())
