"""Stacked-MNIST mode coverage (Lin, Khetan, Fanti & Oh 2018, Table 3; the protocol of VEEGAN and
Metz et al. 2017): three MNIST digits as colour channels give 1000 modes; a DCGAN covers few of
them, a PacDCGAN (its discriminator judging packs of samples) all.

Each cell is experiments/dcgan_stacked_mnist.py:pack=P with `num_seeds` seeds as one program,
scored at the end on 26,000 samples per seed (the paper's count): modes = distinct digit triples
among them, KL = KL(sample triple histogram || uniform over the 1000), each channel read by
gan_jax's MNIST classifier (the papers used their own).
"""

from __future__ import annotations

import os

import numpy as np

from gan_jax.reproduce import (Report, experiment, final_evaluation, line_figure, mean_se, per_seed,
                               runs_dir, scored_at_the_end)

PAPER = 'Lin, Khetan, Fanti & Oh 2018, "PacGAN: The power of two samples in GANs"'
FIGURE = 'Table 3: Stacked-MNIST modes and KL (VEEGAN protocol)'
# budget -> (training steps, seeds, packs)
PROTOCOLS = {'short': (500, 2, (1, 2)), 'medium': (5_000, 3, (1, 2)),
             'full': (20_000, 10, (1, 2, 3, 4))}
BUDGETS = tuple(PROTOCOLS)
PUBLISHED = {1: ('99.0', '3.40'), 2: ('1000.0', '0.06')}  # (modes, KL), Table 3, 26,000 samples


def cell_config(pack: int, steps: int, seeds: int):
  config = scored_at_the_end(experiment('dcgan_stacked_mnist').get_config(f'pack={pack}'), steps,
                             seeds)
  return config


def run_cell(pack: int, steps: int, seeds: int, workdir: str) -> dict[str, np.ndarray]:
  """Per-seed modes and KL of one cell at its last step (trained unless finished)."""
  final, _, wall = final_evaluation(cell_config(pack, steps, seeds), workdir, 'eval/stacked_modes')
  return {'modes': per_seed(final, 'eval/stacked_modes', seeds),
          'kl': per_seed(final, 'eval/stacked_kl', seeds),
          'samples': int(final['eval/stacked_modes_num_samples']), 'wall': wall}


def reproduce(budget: str, out: str) -> Report:
  steps, seeds, packs = PROTOCOLS[budget]
  cells = {p: run_cell(p, steps, seeds, os.path.join(runs_dir(out),
                                                       f'stacked_mnist_pack{p}_{steps}steps_{seeds}seeds'))
           for p in packs}
  rows = [['DCGAN' if p == 1 else f'PacDCGAN{p}', mean_se(c['modes'], digits=1),
           mean_se(c['kl']), ', '.join(PUBLISHED.get(p, ('—', '—'))), c['wall']]
          for p, c in cells.items()]
  fig, ax = line_figure(list(packs), {'gan_jax': [cells[p]['modes'] for p in packs]}, 'pack',
                        'modes covered (of 1000)', 'Stacked-MNIST', ylim=(0, 1050))
  ax.plot([p for p in packs if p in PUBLISHED], [float(PUBLISHED[p][0]) for p in packs
                                                 if p in PUBLISHED], 'r_', ms=20, mew=2,
          label='published')
  ax.legend()
  fig.tight_layout()
  best = max(packs)
  protocol = (f'experiments/dcgan_stacked_mnist.py (DCGAN, batch 64, Adam 2e-4 / 0.5), {steps:,} '
              f'steps, {seeds} seeds per cell as one program (num_seeds); at the last step '
              f'{cells[packs[0]]["samples"]:,} samples per seed, each channel classified by '
              "gan_jax's MNIST classifier; mean ± standard error over seeds. The published values "
              'are the paper\'s Table 3 (one run each, 26,000 samples).')
  return Report(
      title=f'{PAPER}, {FIGURE}', rows=rows, protocol=protocol,
      columns=['model', 'modes (of 1000)', 'KL to uniform', 'published (modes, KL)', 'wall (s)'],
      commands=[f'python -m gan_jax.reproduce stacked_mnist --budget {budget} --out {out}'] + [
          f'python launch.py --config experiments/dcgan_stacked_mnist.py:pack={p} --workdir W '
          f'--config.num_steps={steps} --config.num_seeds={seeds}' for p in packs],
      figures={'stacked_mnist': fig},
      checks={f'PacDCGAN{best} covers more modes than DCGAN (mean over seeds)':
              bool(cells[best]['modes'].mean() > cells[1]['modes'].mean())} if 1 in packs and best > 1 else {})
