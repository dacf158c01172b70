"""pix2pix's loss ablation (Isola, Zhu, Zhou & Efros 2017, Table 1): L1 alone against L1 + cGAN,
scored by a classifier of the target domain (the paper's "FCN-score"), on an offline proxy whose
true outputs are known.

experiments/pix2pix_edges2mnist.py (binarized Sobel edges -> the MNIST digit; U-Net, 16x16
PatchGAN, 100 x L1) and its `l1only` variant, each with `num_seeds` seeds as one program, scored
at the last step on the first N test pairs: gan_jax's MNIST classifier's accuracy on the outputs
(is the digit kept?) and Fréchet distance on its features against the true digits, PSNR and
SSIM. Copying the edges and the real digits are scored by the same evaluator code.
"""

from __future__ import annotations

import os


from gan_jax.reproduce import (Report, ablation_columns, ablation_rows, experiment, line_figure,
                               on_held_out, runs_dir, scored_at_the_end)

PAPER = ('Isola, Zhu, Zhou & Efros 2017, "Image-to-Image Translation with Conditional '
         'Adversarial Networks"')
FIGURE = 'Table 1: L1 against L1 + cGAN, scored by a classifier of the outputs'
# budget -> (training steps, seeds, held-out test pairs scored)
PROTOCOLS = {'short': (200, 2, 1_000), 'medium': (2_000, 3, 10_000), 'full': (4_000, 5, 10_000)}
BUDGETS = tuple(PROTOCOLS)
KEYS = ('eval/accuracy_mnist_cnn', 'eval/fd_mnist_cnn', 'eval/psnr', 'eval/ssim')
# Cityscapes labels -> photo, FCN-score per-pixel accuracy (Table 1 of the paper).
PUBLISHED = {'l1only': '0.42', 'pix2pix': '0.66', 'real targets': '0.80'}
VARIANTS = {'l1only': 'L1 only', 'pix2pix': 'L1 + cGAN (pix2pix)'}


def run_config(variant: str, steps: int, seeds: int, samples: int):
  """pix2pix_edges2mnist (`l1only` or the default, '') for `steps` steps with `seeds` seeds,
  scored at the last step on the first `samples` test pairs."""
  return on_held_out(scored_at_the_end(experiment('pix2pix_edges2mnist').get_config(
      variant if variant == 'l1only' else None), steps, seeds), samples)


def reproduce(budget: str, out: str) -> Report:
  steps, seeds, samples = PROTOCOLS[budget]
  runs, rows = ablation_rows(
      {v: run_config(v, steps, seeds, samples) for v in VARIANTS},
      {v: os.path.join(runs_dir(out), f'pix2pix_edges2mnist_{v}_{steps}steps_{seeds}seeds_'
                       f'{samples}pairs') for v in VARIANTS}, VARIANTS, KEYS, PUBLISHED)
  mean = lambda v, k: runs[v][k].mean()
  checks = {
      'L1 + cGAN outputs are closer to the real digits than L1 alone (lower classifier Fréchet '
      'distance; the paper\'s FCN-score ordering)':
          bool(mean('pix2pix', 'eval/fd_mnist_cnn') < mean('l1only', 'eval/fd_mnist_cnn')),
      'L1 alone has the higher PSNR (the loss that optimizes it)':
          bool(mean('l1only', 'eval/psnr') > mean('pix2pix', 'eval/psnr'))}
  fig, ax = line_figure([0, 1], {'Fréchet distance (mnist_cnn)': [
      runs['l1only']['eval/fd_mnist_cnn'], runs['pix2pix']['eval/fd_mnist_cnn']]},
      '', 'Fréchet distance to the true digits (lower: closer)', 'edges -> MNIST digits')
  ax.set_xticks([0, 1], [VARIANTS['l1only'], VARIANTS['pix2pix']])
  fig.tight_layout()
  protocol = (f'experiments/pix2pix_edges2mnist.py and its l1only variant, {steps:,} steps (batch '
              f'64, Adam 2e-4 / 0.5, 100 x L1), {seeds} seeds per variant as one program '
              f'(num_seeds); at the last step, the first {samples:,} MNIST test pairs (edges -> '
              'digit): gan_jax\'s MNIST classifier\'s accuracy on the outputs against the '
              'sources\' labels, its Fréchet distance between the outputs\' and the true digits\' '
              'features, PSNR and SSIM against the true digits; mean ± standard error over seeds. '
              'Baselines by the same evaluator code on the same pairs. The published column is '
              'the paper\'s per-pixel FCN-score on Cityscapes labels -> photo (a segmentation '
              'network judging the outputs), the measure ours stands in for.')
  return Report(
      title=f'{PAPER}, {FIGURE}', rows=rows, protocol=protocol,
      columns=ablation_columns(KEYS, 'published FCN-score (Cityscapes)'),
      commands=[f'python -m gan_jax.reproduce pix2pix_ablation --budget {budget} --out {out}'] + [
          f'python launch.py --config experiments/pix2pix_edges2mnist.py{":l1only" * (v == "l1only")}'
          f' --workdir W --config.num_steps={steps} --config.num_seeds={seeds}' for v in VARIANTS],
      figures={'pix2pix_ablation': fig},
      checks=checks)
