"""The `make demo` recipe against the paper's, one change at a time: mode metrics after training.

Each row trains `experiments/gan_grid.py:demo` with one of its changes reverted to the PacGAN
paper's value (or all of them: "paper recipe"), for the demo's number of steps, and scores the
final generator as the demo does (2,500 samples, `gan_jax.metrics.mode_metrics`).

  python bench/demo_recipe.py                      # every row, seed 0 (about 5 minutes)
  python bench/demo_recipe.py --seeds 0,1,2,3 --rows demo,no_r1
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
from absl import logging  # noqa: E402

from experiments import gan_grid  # noqa: E402
from gan_jax.train import train_and_evaluate  # noqa: E402

PAPER = gan_grid.get_config()  # The PacGAN Table 1 recipe.


def _paper_discriminator(c):
  c.discriminator.update(hidden=PAPER.discriminator.hidden, activation='maxout')


def _paper_optimizer(c):
  c.optim.update(PAPER.optim.to_dict())


# Row -> (what it reverts, how). Each row changes the demo config; `paper` reverts everything.
ROWS = {
    'demo': ('the demo recipe', lambda c: None),
    'paper': ('the paper recipe, every change reverted', lambda c: (
        _paper_discriminator(c), _paper_optimizer(c), c.update(batch_size=PAPER.batch_size,
                                                               r1_weight=0.0),
        c.generator.update(hidden=PAPER.generator.hidden))),
    'paper_d': ('paper discriminator: 2 x 200 maxout-5', _paper_discriminator),
    'd_2x256': ('discriminator of 2 x 256 leaky ReLU', lambda c: c.discriminator.update(
        hidden=(256, 256))),
    'paper_g': ('paper generator: 2 x 400 ReLU', lambda c: c.generator.update(
        hidden=PAPER.generator.hidden)),
    'paper_optimizer': ('paper optimizer: lr 1e-4, beta1 0.8, constant', _paper_optimizer),
    'constant_lr': ('constant learning rate 1e-3', lambda c: c.optim.update(schedule='constant')),
    'batch_100': ('batch 100', lambda c: c.update(batch_size=100)),
    'no_r1': ('no R1 penalty', lambda c: c.update(r1_weight=0.0)),
}


def run(row: str, seed: int) -> tuple[dict[str, float], float]:
  config = gan_grid.get_config(f'demo,seed={seed}')
  ROWS[row][1](config)
  config.eval_every = config.checkpoint_every = config.num_steps
  with tempfile.TemporaryDirectory() as workdir:
    start = time.time()
    result = train_and_evaluate(config, workdir)
    return result, time.time() - start


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--seeds', default='0', help='comma-separated seeds')
  parser.add_argument('--rows', default=','.join(ROWS), help='comma-separated, of: ' + ', '.join(ROWS))
  args = parser.parse_args()
  try:
    seeds = [int(s) for s in args.seeds.split(',')]
  except ValueError:
    sys.exit(f'error: --seeds: expected comma-separated integers, got {args.seeds!r}')
  rows = args.rows.split(',')
  if unknown := [r for r in rows if r not in ROWS]:
    sys.exit(f'error: --rows: unknown {unknown}; known: {list(ROWS)}')
  logging.set_verbosity(logging.ERROR)
  steps = gan_grid.get_config('demo').num_steps
  print(f'# gan_grid.py:demo, {steps} steps, one change at a time; 2,500 samples scored')
  print(f'# jax {jax.__version__} on {jax.default_backend()}, {os.cpu_count()} host cores, '
        f'{platform.machine()}\n')
  print('| row | change from the demo | seed | modes (of 25) | high quality (%) | reverse KL | '
        'train + eval (s) |')
  print('|---|---|---|---|---|---|---|')
  for row in rows:
    for seed in seeds:
      result, seconds = run(row, seed)
      print(f'| {row} | {ROWS[row][0]} | {seed} | {result["eval/modes_covered"]:.0f} | '
            f'{100 * result["eval/high_quality_fraction"]:.1f} | {result["eval/reverse_kl"]:.3f} | '
            f'{seconds:.1f} |', flush=True)


if __name__ == '__main__':
  main()
