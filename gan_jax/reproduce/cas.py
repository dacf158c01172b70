"""Classification Accuracy Score (Ravuri & Vinyals 2019): a classifier trained only on a
conditional GAN's samples, tested on real test images, against the same classifier trained on as
many real training images.

Three conditional DCGANs of experiments/dcgan_mnist.py, one per way of giving the label: `concat`
(Mirza & Osindero 2014), `acgan` (Odena et al. 2017) and `projection` (Miyato & Koyama 2018),
each with `num_seeds` seeds as one program. At the last step each seed's EMA generator draws
N labelled samples (uniform classes), and the evaluator `cas` trains gan_jax's small CNN on them
(Adam, cosine schedule, CAS_EPOCHS epochs) and scores it on the 10,000 MNIST test images. The
baseline trains the same classifier by the same function on N real training images (a random
draw per seed). The paper used ResNet-50 on ImageNet; its numbers are set beside ours.
"""

from __future__ import annotations

import os

import numpy as np

from gan_jax.reproduce import (Report, experiment, final_evaluation, mean_se, per_seed, runs_dir,
                               scored_at_the_end)

PAPER = 'Ravuri & Vinyals 2019, "Classification Accuracy Score for Conditional Generative Models"'
FIGURE = 'Table 1: CAS of conditional GANs against a classifier trained on real data'
# budget -> (training steps, seeds, samples per seed for the classifier)
PROTOCOLS = {'short': (300, 2, 5_000), 'medium': (2_000, 3, 10_000), 'full': (10_000, 5, 60_000)}
BUDGETS = tuple(PROTOCOLS)
MODELS = {'concat': 'conditional', 'acgan': 'acgan', 'projection': 'projection'}  # -> variant
# ImageNet 256x256, ResNet-50 top-1 accuracy on the validation set (Table 1 of the paper).
PUBLISHED = {'real': '73.09 % (real ImageNet)', 'gan': '42.65 % (BigGAN-deep)'}


def model_config(model: str, steps: int, seeds: int, samples: int):
  """dcgan_mnist with `model`'s conditioning, scored at its last step by CAS and the Fréchet
  distance on gan_jax's MNIST classifier."""
  config = scored_at_the_end(experiment('dcgan_mnist').get_config(MODELS[model]), steps, seeds)
  config.evals = {'cas': dict(metric='cas', num_samples=samples, extractor='mnist_cnn'),
                  'fd': dict(metric='fd', num_samples=samples, extractor='mnist_cnn')}
  config.eval.best_metric = ''
  return config


def run_model(model: str, steps: int, seeds: int, samples: int, workdir: str) -> dict:
  """Per-seed CAS and Fréchet distance of one model at its last step (trained unless finished)."""
  final, _, wall = final_evaluation(model_config(model, steps, seeds, samples), workdir, 'eval/cas')
  return {'cas': per_seed(final, 'eval/cas', seeds), 'fd': per_seed(final, 'eval/fd_mnist_cnn', seeds),
          'protocol': final['eval/cas_protocol'], 'wall': wall}


def real_baseline(config, samples: int, seeds: int) -> np.ndarray:
  """Test accuracy of the CAS classifier trained on `samples` real training images, one random
  draw and classifier seed per seed."""
  from gan_jax import data
  from gan_jax.metrics import classifier, records
  train, train_labels, _ = data.real_images(config, 'train', 0)
  # The test images the evaluator scores CAS on.
  test, test_labels, _ = data.real_images(config, 'test', config.evals['cas'].get('num_real', 0))
  out = []
  for seed in range(seeds):
    subset = np.random.default_rng(seed).choice(len(train), samples, replace=False)
    params = classifier.train_classifier(train[subset], train_labels[subset], 10,
                                         records.CAS_EPOCHS, seed=seed)
    out.append(classifier.accuracy(params, test, test_labels, 10))
  return np.array(out)


def _figure(models: dict, real: np.ndarray):
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  from gan_jax.reproduce import standard_error
  names = [*models, 'real data']
  values = [*(m['cas'] for m in models.values()), real]
  fig, ax = plt.subplots(figsize=(5, 3.2))
  ax.bar(names, [100 * np.mean(v) for v in values], yerr=[100 * standard_error(v) for v in values],
         color=['C0'] * len(models) + ['C2'], capsize=3)
  ax.set(ylabel='MNIST test accuracy (%)', ylim=(0, 100),
         title='classifier trained on samples (CAS) vs on real images')
  fig.tight_layout()
  return fig


def reproduce(budget: str, out: str) -> Report:
  steps, seeds, samples = PROTOCOLS[budget]
  models = {m: run_model(m, steps, seeds, samples, os.path.join(
      runs_dir(out), f'cas_{m}_{steps}steps_{seeds}seeds_{samples}samples')) for m in MODELS}
  real = real_baseline(model_config(next(iter(MODELS)), steps, seeds, samples), samples, seeds)
  names = {'concat': 'DCGAN, label concatenated', 'acgan': 'AC-GAN',
           'projection': 'DCGAN, projection discriminator'}
  rows = [[names[m], mean_se(r['cas'], 100, 1), mean_se(r['fd']), PUBLISHED['gan'], r['wall']]
          for m, r in models.items()]
  rows.append([f'real data ({samples:,} training images)', mean_se(real, 100, 1), '0 (itself)',
               PUBLISHED['real'], ''])
  best = max(models, key=lambda m: models[m]['cas'].mean())
  ranked = lambda key, lower: sorted(models, key=lambda m: models[m][key].mean() * (lower - 0.5))
  protocol = (f'experiments/dcgan_mnist.py with each conditioning, {steps:,} steps (batch 128), '
              f'{seeds} seeds as one program (num_seeds); at the last step, per seed: '
              f'{models[best]["protocol"]}; the Fréchet distance of the same samples on the MNIST '
              f'classifier\'s features against the training split. Real data: the same classifier '
              f'and epochs on {samples:,} training images drawn per seed. Mean ± standard error '
              f'over the {seeds} seeds. Published: ImageNet 256x256, ResNet-50 top-1 (the paper '
              'has no MNIST row; its best model, VQ-VAE-2, reaches 54.83 %), one model each.')
  return Report(
      title=f'{PAPER}, {FIGURE}', rows=rows, protocol=protocol,
      columns=['trained on', 'CAS: MNIST test accuracy %', 'Fréchet distance (mnist_cnn)',
               'published (ImageNet, top-1)', 'wall (s)'],
      commands=[f'python -m gan_jax.reproduce cas --budget {budget} --out {out}'] + [
          f'python launch.py --config experiments/dcgan_mnist.py:{v} --workdir W '
          f'--config.num_steps={steps} --config.num_seeds={seeds} --config.evals.cas=cas'
          for v in MODELS.values()],
      figures={'cas': _figure(models, real)},
      checks={'every GAN scores below the classifier trained on as many real images (the gap '
              'the paper reports for every GAN)':
              bool(max(r['cas'].mean() for r in models.values()) < real.mean()),
              'the Fréchet distance ranks the models differently from CAS (the paper: FID does '
              'not predict CAS)': ranked('fd', lower=True) != ranked('cas', lower=False)})
