"""PacGAN Table 1 (Lin, Khetan, Fanti & Oh 2018): modes covered, high-quality samples and reverse KL
of GAN and PacGAN2-4 on the 2-D ring (8 modes) and grid (25 modes).

Each cell is one ordinary gan_jax run of `experiments/gan_<data>.py:pack=P` with `num_seeds`
seeds trained as one vmapped program: seed s is the run `launch.py --config
experiments/gan_<data>.py:pack=P,seed=s` would do (same init, data order and noise), scored the
same way (2,500 samples, `gan_jax.metrics.mode_metrics`) and logged per seed. Finished cells are
read back from their workdirs.
"""

from __future__ import annotations

import os

import numpy as np

from gan_jax.metrics.modes import MODE_METRICS
from gan_jax.reproduce import (Report, experiment, final_evaluation, mean_se, runs_dir,
                               standard_error)

PAPER = 'Lin, Khetan, Fanti & Oh 2018, "PacGAN: The power of two samples in GANs"'
FIGURE = 'Table 1: mode collapse on the 2-D ring and grid'
# budget -> (epochs of the 100,000-point training set, seeds, packs, datasets)
PROTOCOLS = {
    'full': (400, 10, (1, 2, 3, 4), ('ring', 'grid')),    # the paper's: 400,000 steps per seed
    'medium': (10, 5, (1, 4), ('ring', 'grid')),          # about 40 minutes on a 2-core CPU
    'short': (0.5, 10, (1, 2, 3, 4), ('ring', 'grid')),   # under 10 minutes on a 2-core CPU
}
BUDGETS = tuple(PROTOCOLS)
PUBLISHED = {  # Table 1: (modes, high quality %, reverse KL), mean ± s.e. over 10 seeds
    ('ring', 1): ('6.3 ± 0.5', '98.2 ± 0.2', '0.45 ± 0.09'),
    ('ring', 4): ('7.8 ± 0.1', '95.9 ± 1.4', '0.07 ± 0.02'),
    ('grid', 1): ('17.3 ± 0.8', '94.8 ± 0.7', '0.70 ± 0.07'),
    ('grid', 4): ('24.8 ± 0.2', '93.6 ± 0.6', '0.04 ± 0.01'),
}


def cell_config(dataset_name: str, pack: int):
  """The paper's setup (experiments/gan_ring.py and gan_grid.py) with pack P."""
  return experiment('gan_ring').toy_config(dataset_name, f'pack={pack}')


def run_cell(dataset_name: str, pack: int, num_seeds: int, epochs: float, workdir: str) -> dict:
  """Trains (or reads back) one (dataset, pack) cell over seeds 0..num_seeds-1."""
  config = cell_config(dataset_name, pack)
  config.num_steps = max(1, int(epochs * config.dataset.num_train // config.batch_size))
  config.num_seeds = num_seeds
  config.log_every = max(1, min(config.log_every, config.num_steps // 5))
  config.eval_every = config.num_steps  # Scored once, at the end, as the paper.
  final, rows, wall = final_evaluation(config, workdir, 'eval/modes_covered')
  rates = [r['steps_per_sec'] for r in rows if 'steps_per_sec' in r]
  return {
      'scores': {k: np.array([float(final[f'eval/{k}/seed_{s}']) for s in range(num_seeds)])
                 for k in MODE_METRICS},
      'steps': config.num_steps,
      'wall': wall,
      'steps_per_s': float(np.median(rates)) if rates else float('nan'),
  }


def cell_workdir(root: str, dataset_name: str, pack: int, epochs: float, num_seeds: int) -> str:
  return os.path.join(root, f'{dataset_name}_pack{pack}_{epochs:g}ep_{num_seeds}seeds')


def _figure(cells: dict, packs, datasets):
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  fig, axes = plt.subplots(1, len(datasets), figsize=(4.5 * len(datasets), 3.2), squeeze=False)
  for ax, name in zip(axes[0], datasets):
    scores = [cells[name, p]['scores']['modes_covered'] for p in packs]
    se = [standard_error(s) for s in scores]
    ax.bar([str(p) for p in packs], [s.mean() for s in scores], yerr=se, color='tab:blue',
           label='gan_jax')
    for i, p in enumerate(packs):
      if (name, p) in PUBLISHED:
        ax.plot(i, float(PUBLISHED[name, p][0].split()[0]), 'r_', ms=25, mew=2,
                label='published' if i == 0 else None)
    ax.axhline(8 if name == 'ring' else 25, color='grey', lw=0.8, ls=':')
    ax.set(title=name, xlabel='pack', ylabel='modes covered')
    ax.legend(loc='lower right')
  fig.tight_layout()
  return fig


def reproduce(budget: str, out: str) -> Report:
  epochs, num_seeds, packs, datasets = PROTOCOLS[budget]
  root = runs_dir(out)
  cells, rows, checks = {}, [], {}
  for name in datasets:
    for pack in packs:
      cell = run_cell(name, pack, num_seeds, epochs, cell_workdir(root, name, pack, epochs, num_seeds))
      cells[name, pack] = cell
      s = cell['scores']
      rows.append([name, 'GAN' if pack == 1 else f'PacGAN{pack}',
                   mean_se(s['modes_covered'], digits=1),
                   mean_se(s['high_quality_fraction'], 100, 1), mean_se(s['reverse_kl']),
                   ', '.join(PUBLISHED.get((name, pack), ('—',) * 3)), cell['steps'],
                   cell['wall']])
    if 1 in packs and max(packs) > 1:
      gan, pac = cells[name, 1]['scores'], cells[name, max(packs)]['scores']
      checks[f'{name}: PacGAN{max(packs)} covers more modes than GAN (mean over seeds)'] = bool(
          pac['modes_covered'].mean() > gan['modes_covered'].mean())
  return Report(
      title=f'{PAPER}, {FIGURE}',
      columns=['data', 'model', 'modes', 'high quality (%)', 'reverse KL',
               'published (modes, HQ %, KL)', 'steps per seed', 'wall (s)'],
      rows=rows,
      protocol=(f'{epochs:g} epochs of 100,000 points, batch 100, {num_seeds} seeds per cell trained '
                'as one program (num_seeds), the paper\'s networks and Adam 1e-4 / 0.8; 2,500 '
                'samples of each seed\'s generator scored at the end (modes within 3 std of a '
                'centre, high-quality fraction, reverse KL of the high-quality histogram to uniform); '
                'mean ± standard error over seeds. The published values are over 10 seeds after '
                '400 epochs.'),
      commands=[f'python -m gan_jax.reproduce pacgan_table1 --budget {budget} --out {out}'] + [
          f'python launch.py --config experiments/gan_{n}.py:pack={p} --workdir W '
          f'--config.num_seeds={num_seeds} --config.num_steps={cells[n, p]["steps"]}'
          for n in datasets for p in packs][:2] + ['...'],
      figures={'pacgan_table1': _figure(cells, packs, datasets)},
      checks=checks)
