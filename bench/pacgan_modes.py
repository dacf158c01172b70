"""PacGAN Table 1 benchmark: mode coverage of GAN and PacGAN2-4 on the 2-D ring and grid.

Each cell is one ordinary gan_jax run with `num_seeds` seeds, trained as one vmapped program:
seed s is the run `launch.py --config experiments/gan_<data>.py:pack=P,seed=s` would do (same
init, data order and noise), scored the same way (2,500 samples, `gan_jax.metrics.mode_metrics`)
and logged per seed. With `--workdir`, finished cells are read back instead of trained again.

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
import numpy as np  # noqa: E402
from absl import logging  # noqa: E402

from experiments.gan_ring import toy_config  # noqa: E402
from gan_jax.metrics.modes import MODE_METRICS  # noqa: E402
from gan_jax.train.loop import train_and_evaluate  # noqa: E402
from gan_jax.train.writers import read_jsonl  # noqa: E402

# (epochs of the 100,000-point training set, seeds, packs).
PROTOCOLS = {
    'full': (400, 10, '1,2,3,4'),   # the paper's: 400,000 steps per seed; wants a GPU
    'medium': (10, 5, '1,4'),       # about 40 minutes on a 2-core CPU
    'short': (0.5, 10, '1,2,3,4'),  # under 10 minutes on a 2-core CPU; a smoke test of the protocol
}
PUBLISHED = {  # Lin et al. 2018, Table 1: (modes, high quality %, reverse KL), mean ± s.e.
    ('ring', 1): ('6.3 ± 0.5', '98.2 ± 0.2', '0.45 ± 0.09'),
    ('ring', 4): ('7.8 ± 0.1', '95.9 ± 1.4', '0.07 ± 0.02'),
    ('grid', 1): ('17.3 ± 0.8', '94.8 ± 0.7', '0.70 ± 0.07'),
    ('grid', 4): ('24.8 ± 0.2', '93.6 ± 0.6', '0.04 ± 0.01'),
}


def run_cell(dataset_name: str, pack: int, num_seeds: int, epochs: float, workdir: str) -> dict:
  """Trains (or reads back) one (dataset, pack) cell over seeds 0..num_seeds-1."""
  config = toy_config(dataset_name, f'pack={pack}')
  config.num_steps = int(epochs * config.dataset.num_train // config.batch_size)
  config.num_seeds = num_seeds
  config.log_every = max(1, min(config.log_every, config.num_steps // 5))
  config.eval_every = config.num_steps  # Scored once, at the end, as the paper.
  result = train_and_evaluate(config, workdir)
  rows = read_jsonl(result['metrics'])
  final = next(r for r in reversed(rows) if 'eval/modes_covered' in r)  # also when read back
  rates = [r['steps_per_sec'] for r in rows if 'steps_per_sec' in r]
  return {
      'scores': {k: np.array([float(final[f'eval/{k}/seed_{s}']) for s in range(num_seeds)])
                 for k in MODE_METRICS},
      'steps': config.num_steps,
      'wall': result['seconds'],
      'steps_per_s': float(np.median(rates)) if rates else float('nan'),
  }


def fmt(values: np.ndarray, scale: float = 1.0, digits: int = 2) -> str:
  values = values[np.isfinite(values)] * scale
  if not len(values):
    return 'n/a'
  se = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else 0.0
  return f'{values.mean():.{digits}f} ± {se:.{digits}f}'


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
  epochs, num_seeds, packs = PROTOCOLS[args.protocol]
  epochs = args.epochs or epochs
  num_seeds = args.seeds or num_seeds
  packs = args.packs or packs
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
    for pack in map(int, packs.split(',')):
      workdir = os.path.join(root, f'{dataset_name}_pack{pack}_{epochs:g}ep_{num_seeds}seeds')
      r = run_cell(dataset_name, pack, num_seeds, epochs, workdir)
      s = r['scores']
      published = ', '.join(PUBLISHED.get((dataset_name, pack), ('—',) * 3))
      name = 'GAN' if pack == 1 else f'PacGAN{pack}'
      print(f'| {dataset_name} | {name} | {fmt(s["modes_covered"], digits=1)} '
            f'| {fmt(s["high_quality_fraction"], 100, 1)} | {fmt(s["reverse_kl"])} '
            f'| {published} | {r["steps"]} | {r["wall"]:.0f} '
            f'| {r["steps_per_s"] * num_seeds:.0f} |', flush=True)


if __name__ == '__main__':
  main()
