"""Runs every experiment's `runlocal` variants and writes each run's `metrics.jsonl` without its
timings, so that two checkouts can be compared byte for byte: a refactor changes no result.

  python bench/refactor_check.py --data_dir DIR --out OUT          # runs, writes OUT/<run>.jsonl
  python bench/refactor_check.py --compare OUT_BEFORE OUT_AFTER    # the table of differences

Each run is `launch.train` in this process, on one CPU device, in a fresh workdir.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMINGS = ('steps_per_sec', 'uptime')
# (experiment, variant) of every shipped experiment, each runlocal variant its tests run.
RUNS = (('gan_grid', 'runlocal'), ('gan_ring', 'runlocal'), ('gan_ring', 'runlocal,pack=2'),
        ('dcgan_mnist', 'runlocal'), ('dcgan_mnist', 'runlocal,conditional'),
        ('dcgan_mnist', 'runlocal,acgan'), ('dcgan_cifar', 'runlocal'),
        ('wgan_gp_cifar', 'runlocal'), ('sngan_cifar', 'runlocal'), ('cgan_cifar', 'runlocal'),
        ('dcgan_stacked_mnist', 'runlocal,pack=2'), ('pix2pix_edges2mnist', 'runlocal'),
        ('pix2pix_colorize_cifar', 'runlocal'), ('srgan_cifar', 'runlocal'),
        ('srgan_cifar', 'runlocal,srresnet'), ('cyclegan_mnist_mnistm', 'runlocal'),
        ('cyclegan_mnist_mnistm', 'runlocal,semantic'), ('dcgan_mnist', 'runlocal,projection'),
        ('pix2pix_edges2mnist', 'runlocal,l1only'))


def run_name(experiment: str, arg: str) -> str:
  return f'{experiment}:{arg}'.replace(',', '+').replace('=', '-')


def rows_without_timings(path: str) -> str:
  with open(path) as f:
    rows = [json.loads(line) for line in f]
  return ''.join(json.dumps({k: v for k, v in row.items() if k not in TIMINGS}, sort_keys=True)
                 + '\n' for row in rows)


def run_all(data_dir: str, out: str, only: list[str]) -> None:
  sys.path.insert(0, ROOT)
  import launch  # noqa: E402
  os.makedirs(out, exist_ok=True)
  for experiment, arg in RUNS:
    name = run_name(experiment, arg)
    if only and name not in only:
      continue
    config = importlib.import_module(f'experiments.{experiment}').get_config(arg)
    config.dataset.data_dir = data_dir
    with tempfile.TemporaryDirectory() as workdir:
      if launch.train(config, workdir):  # It printed the error line.
        sys.exit(1)
      with open(os.path.join(out, f'{name}.jsonl'), 'w') as f:
        f.write(rows_without_timings(os.path.join(workdir, 'metrics.jsonl')))
    print(f'{name}: written', flush=True)


def compare(before: str, after: str) -> int:
  names = sorted(set(os.listdir(before)) | set(os.listdir(after)))
  print('| run | rows | same bytes |\n|---|---|---|')
  differ = 0
  for name in names:
    a, b = (os.path.join(d, name) for d in (before, after))
    if not (os.path.exists(a) and os.path.exists(b)):
      print(f'| {name} | missing in {"after" if os.path.exists(a) else "before"} | no |')
      differ += 1
      continue
    with open(a) as fa, open(b) as fb:
      ta, tb = fa.read(), fb.read()
    differ += ta != tb
    print(f'| {name.removesuffix(".jsonl")} | {ta.count(chr(10))} | {"yes" if ta == tb else "NO"} |')
  print(f'{len(names) - differ} of {len(names)} runs byte-identical')
  return 1 if differ else 0


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--data_dir', help='the tfds data directory (mnist, cifar10 prepared)')
  parser.add_argument('--out', help='folder for the <run>.jsonl files')
  parser.add_argument('--only', default='', help='comma-free list of run names, separated by spaces')
  parser.add_argument('--compare', nargs=2, metavar=('BEFORE', 'AFTER'))
  args = parser.parse_args()
  if args.compare:
    return compare(*args.compare)
  if not (args.data_dir and args.out):
    parser.error('give --data_dir and --out, or --compare BEFORE AFTER')
  run_all(args.data_dir, args.out, args.only.split())
  return 0


if __name__ == '__main__':
  sys.exit(main())
