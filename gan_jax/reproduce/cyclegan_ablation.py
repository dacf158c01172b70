"""CycleGAN's loss ablation (Zhu, Park, Isola & Efros 2017, Tables 4-5): the cycle loss alone,
the adversarial loss alone, and both (CycleGAN), on an offline proxy whose true translations are
known.

experiments/cyclegan_mnist_mnistm.py (MNIST digits A <-> MNIST-M-like digits B, unpaired; ResNet
generators, PatchGANs, LSGAN, cycle 10, identity 0.5 x cycle, pools of 50) with the adversarial
weight set to 0 (cycle alone) or the cycle weight set to 0 (GAN alone; the identity loss, a
fraction of the cycle weight, goes with it), each with `num_seeds` seeds as one program, scored at
the last step on the first N test images of each domain: A -> B by the MNIST-M-like classifier's
accuracy against the source's digit (is the digit kept?) and its Fréchet distance to real B
images (does the output look like B?); B -> A by PSNR against the true digit each B image was made
from and the MNIST classifier's accuracy. Copying the input and the real targets are scored by the
same evaluator code on the same images.
"""

from __future__ import annotations

import os

from gan_jax.reproduce import (Report, ablation_columns, ablation_rows, experiment, line_figure,
                               on_held_out, runs_dir, scored_at_the_end)

PAPER = ('Zhu, Park, Isola & Efros 2017, "Unpaired Image-to-Image Translation using '
         'Cycle-Consistent Adversarial Networks"')
FIGURE = 'Tables 4-5: cycle alone, GAN alone and CycleGAN, scored by classifiers of the outputs'
# budget -> (training steps, seeds, held-out test images of each domain scored). `full` is the
# paper's 200 epochs (100 constant, 100 decaying) of the 30,000 training digits per domain at
# the experiment's batch of 16.
PROTOCOLS = {'short': (300, 2, 1_000), 'medium': (4_000, 3, 2_000), 'full': (375_000, 5, 10_000)}
BUDGETS = tuple(PROTOCOLS)
KEYS = ('eval/accuracy_mnistm_cnn_ab', 'eval/fd_mnistm_cnn_ab', 'eval/accuracy_mnist_cnn_ba',
        'eval/psnr_ba')
# variant -> (row name, config fields changed from the experiment's)
VARIANTS = {'cycle_alone': ('Cycle alone', {'adversarial_weight': 0.0}),
            'gan_alone': ('GAN alone', {'cycle_weight': 0.0}),
            'cyclegan': ('CycleGAN (GAN + cycle)', {})}
# Cityscapes per-pixel FCN-score, labels -> photo (Table 4) / photo -> labels (Table 5).
PUBLISHED = {'cycle_alone': '0.22 / 0.10', 'gan_alone': '0.51 / 0.53', 'cyclegan': '0.52 / 0.58',
             'real targets': '0.80 / -'}


def run_config(variant: str, steps: int, seeds: int, samples: int):
  """cyclegan_mnist_mnistm with `variant`'s loss weights for `steps` steps with `seeds` seeds,
  scored at the last step on the first `samples` test images of each domain."""
  config = scored_at_the_end(experiment('cyclegan_mnist_mnistm').get_config(), steps, seeds)
  config.update(VARIANTS[variant][1])
  # Scored once, at the end, as the paper's tables: no checkpoint to choose on validation digits.
  del config.evals['accuracy_ab_val']
  config.eval.best_metric = ''
  return on_held_out(config, samples)


def overrides(variant: str) -> str:
  return ''.join(f' --config.{k}={v}' for k, v in VARIANTS[variant][1].items())


def reproduce(budget: str, out: str) -> Report:
  steps, seeds, samples = PROTOCOLS[budget]
  runs, rows = ablation_rows(
      {v: run_config(v, steps, seeds, samples) for v in VARIANTS},
      {v: os.path.join(runs_dir(out), f'cyclegan_mnist_mnistm_{v}_{steps}steps_{seeds}seeds_'
                       f'{samples}images') for v in VARIANTS},
      {v: name for v, (name, _) in VARIANTS.items()}, KEYS, PUBLISHED)
  mean = lambda v, k: runs[v][k].mean()
  checks = {
      'the cycle loss keeps the content: CycleGAN\'s B -> A outputs are closer to the true '
      'digits than GAN alone\'s (PSNR)':
          bool(mean('cyclegan', 'eval/psnr_ba') > mean('gan_alone', 'eval/psnr_ba')),
      'CycleGAN keeps the digit at least as often as GAN alone (B -> A, MNIST classifier; the '
      'paper\'s FCN-scores 0.52 against 0.51, 0.58 against 0.53)':
          bool(mean('cyclegan', 'eval/accuracy_mnist_cnn_ba')
               >= mean('gan_alone', 'eval/accuracy_mnist_cnn_ba')),
      'the adversarial loss makes the outputs look like the target domain: CycleGAN\'s A -> B '
      'Fréchet distance is below cycle alone\'s':
          bool(mean('cyclegan', 'eval/fd_mnistm_cnn_ab') < mean('cycle_alone',
                                                                 'eval/fd_mnistm_cnn_ab'))}
  fig, ax = line_figure(range(len(VARIANTS)), {
      'A -> B, digit kept (mnistm_cnn)': [runs[v]['eval/accuracy_mnistm_cnn_ab'] for v in VARIANTS],
      'B -> A, digit kept (mnist_cnn)': [runs[v]['eval/accuracy_mnist_cnn_ba'] for v in VARIANTS]},
      '', 'accuracy against the source\'s digit', 'MNIST <-> MNIST-M-like', ylim=(0, 1))
  ax.set_xticks(range(len(VARIANTS)), [name for name, _ in VARIANTS.values()])
  ax.legend(fontsize=8)
  fig.tight_layout()
  protocol = (f'experiments/cyclegan_mnist_mnistm.py, {steps:,} steps (batch 16, Adam 2e-4 / 0.5, '
              'constant for the first half and then linear to 0), with --config.adversarial_weight'
              '=0 (cycle alone) or --config.cycle_weight=0 (GAN alone, which also drops the '
              f'identity loss, weighted as a fraction of the cycle loss); {seeds} seeds per variant '
              f'as one program (num_seeds). At the last step, the first {samples:,} test images of '
              'each domain: A -> B, the MNIST-M-like classifier\'s accuracy against the source '
              'digit\'s label and its Fréchet distance to as many real B test images; B -> A, PSNR '
              'against the MNIST digit each B image was made from, and the MNIST classifier\'s '
              'accuracy; mean ± standard error over seeds. Baselines by the same evaluator code on '
              'the same images (the MNIST-M-like classifier also reads plain digits, so copying '
              'keeps the digit without translating it: the Fréchet distance tells them apart). '
              'The published column is the paper\'s per-pixel FCN-score on Cityscapes (a '
              'segmentation network judging the outputs), the measure ours stands in for.')
  return Report(
      title=f'{PAPER}, {FIGURE}', rows=rows, protocol=protocol,
      columns=ablation_columns(
          KEYS, 'published FCN-score (Cityscapes, labels -> photo / photo -> labels)'),
      commands=[f'python -m gan_jax.reproduce cyclegan_ablation --budget {budget} --out {out}'] + [
          f'python launch.py --config experiments/cyclegan_mnist_mnistm.py --workdir W '
          f'--config.num_steps={steps} --config.num_seeds={seeds}{overrides(v)}' for v in VARIANTS],
      figures={'cyclegan_ablation': fig},
      checks=checks)
