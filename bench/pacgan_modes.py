"""PacGAN Table 1 benchmark: mode coverage of GAN and PacGAN2-4 on the 2-D ring and grid.

The protocol is `gan_jax/reproduce/pacgan_table1.py`'s (also `python -m gan_jax.reproduce
pacgan_table1`); this script prints its table with the protocol's parts overridable. With
`--workdir`, finished cells are read back instead of trained again.

  python bench/pacgan_modes.py --protocol short    # 2-core CPU, under 10 minutes
  python bench/pacgan_modes.py --protocol medium   # 2-core CPU, about 40 minutes
  python bench/pacgan_modes.py --protocol full     # 400 epochs, the paper's; wants a GPU
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
from absl import logging  # noqa: E402

from gan_jax.reproduce import mean_se  # noqa: E402
from gan_jax.reproduce.pacgan_table1 import PROTOCOLS, PUBLISHED, cell_workdir, run_cell  # noqa: E402


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--protocol', choices=sorted(PROTOCOLS), default='short')
  parser.add_argument('--epochs', type=float, help='overrides the protocol\'s epochs')
  parser.add_argument('--seeds', type=int, help='overrides the protocol\'s number of seeds')
  parser.add_argument('--packs', help='overrides the protocol\'s packs, e.g. 1,2,3,4')
  parser.add_argument('--datasets', default='ring,grid')
  parser.add_argument('--workdir', default='',
                      help='keeps each cell\'s run (and reads finished ones back); default: a '
                           'temporary folder')
  args = parser.parse_args()
  logging.set_verbosity(logging.WARNING)
  epochs, num_seeds, packs, _ = PROTOCOLS[args.protocol]
  epochs = args.epochs or epochs
  num_seeds = args.seeds or num_seeds
  packs = [int(p) for p in args.packs.split(',')] if args.packs else packs
  root = args.workdir or tempfile.mkdtemp(prefix='pacgan_modes_')
  device = jax.devices()[0]
  print(f'# PacGAN Table 1 protocol ({args.protocol}), {epochs:g} epochs of 100,000 points, batch 100, '
        f'{num_seeds} seeds (num_seeds, one program per cell); 2,500 samples scored per seed; '
        'mean ± standard error')
  print(f'# jax {jax.__version__} on {device.platform} ({device.device_kind}), '
        f'{os.cpu_count()} host cores, {platform.processor() or platform.machine()}; runs in {root}')
  print()
  print('| data | pack | modes | high quality (%) | reverse KL | published (modes, HQ %, KL) '
        '| steps/seed | wall (s) | steps/s (all seeds) |')
  print('|---|---|---|---|---|---|---|---|---|')
  for dataset_name in args.datasets.split(','):
    for pack in packs:
      r = run_cell(dataset_name, pack, num_seeds, epochs,
                   cell_workdir(root, dataset_name, pack, epochs, num_seeds))
      s = r['scores']
      published = ', '.join(PUBLISHED.get((dataset_name, pack), ('—',) * 3))
      name = 'GAN' if pack == 1 else f'PacGAN{pack}'
      print(f'| {dataset_name} | {name} | {mean_se(s["modes_covered"], digits=1)} '
            f'| {mean_se(s["high_quality_fraction"], 100, 1)} | {mean_se(s["reverse_kl"])} '
            f'| {published} | {r["steps"]} | {r["wall"]} '
            f'| {r["steps_per_s"] * num_seeds:.0f} |', flush=True)


if __name__ == '__main__':
  main()
