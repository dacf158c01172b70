"""A trained GAN discriminator as a feature extractor (Radford, Metz & Chintala 2015, Tables 1-2):
a linear classifier on its features, from N labelled images per class, against the same classifier
on raw pixels and on the features of the same discriminator at its random initialization.

The DCGAN of experiments/dcgan_mnist.py is trained on MNIST (unlabelled); its discriminator's
stride-2 convolution outputs are each max-pooled to a 4x4 grid and concatenated (the paper's
recipe: every layer, 4x4 max-pooled). The classifier is ridge regression on one-hot labels
(standardized features, the regularization chosen from a grid by closed-form leave-one-out
accuracy on the labelled images alone), scored on the 10,000 MNIST test images.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.reproduce import Report, dcgan_mnist, line_figure, mean_se, runs_dir, trained_state

PAPER = 'Radford, Metz & Chintala 2015, "Unsupervised Representation Learning with DCGANs"'
FIGURE = 'Tables 1-2: discriminator features for classification with few labels'
# budget -> (DCGAN training steps, labelled images per class, draws of the labelled set)
PROTOCOLS = {'short': (1_000, (10, 100, 1000), 3), 'medium': (5_000, (10, 100, 1000), 5),
             'full': (10_000, (10, 100, 1000), 10)}
BUDGETS = tuple(PROTOCOLS)
PUBLISHED = ('CIFAR-10, all labels: 82.8 % (DCGAN features, L2-SVM; Table 1); SVHN, 1000 labels: '
             '22.5 % error (Table 2)')
RIDGE = tuple(10.0 ** np.arange(-2, 5))


def max_pool_to(x: jax.Array, size: int = 4) -> jax.Array:
  """[N, H, W, C] -> [N, size, size, C]: the max over a size x size grid of windows (padded)."""
  n, h, w, c = x.shape
  ph, pw = -(-h // size) * size, -(-w // size) * size
  x = jnp.pad(x, ((0, 0), (0, ph - h), (0, pw - w), (0, 0)), constant_values=-jnp.inf)
  return x.reshape(n, size, ph // size, size, pw // size, c).max(axis=(2, 4))


def feature_function(discriminator):
  """features(d_params, d_batch_stats, images) -> [N, D]: each stride-2 convolution's output,
  max-pooled to 4x4, flattened and concatenated (the final logit convolution left out)."""
  from gan_jax.models.layers import Conv

  def features(params, batch_stats, images):
    variables = {'params': params, **({'batch_stats': batch_stats} if batch_stats else {})}
    _, state = discriminator.apply(variables, images, None, train=False,
                                   capture_intermediates=lambda m, _: isinstance(m, Conv))
    outputs = [v['__call__'][0] for v in state['intermediates'].values()
               if isinstance(v, dict) and '__call__' in v]
    hidden = outputs[:-1]  # in call order; the last is the logit convolution
    return jnp.concatenate([max_pool_to(o).reshape(o.shape[0], -1) for o in hidden], axis=1)
  return jax.jit(features)


def ridge_classifier(train_x: np.ndarray, train_y: np.ndarray, num_classes: int):
  """predict(x) of ridge regression on one-hot labels, with the regularization from RIDGE that
  gives the best leave-one-out accuracy on the training set (closed form through the SVD)."""
  mean, std = train_x.mean(0), train_x.std(0) + 1e-6
  x = (train_x - mean) / std
  targets = np.eye(num_classes)[train_y]
  offset = targets.mean(0)
  u, s, vt = np.linalg.svd(x, full_matrices=False)
  uty = u.T @ (targets - offset)
  best = None
  for lam in RIDGE:
    shrink = s ** 2 / (s ** 2 + lam)
    fitted = u @ (shrink[:, None] * uty) + offset
    leverage = (u ** 2) @ shrink + 1 / len(x)
    loo = targets - (targets - fitted) / (1 - leverage)[:, None]
    accuracy = (loo.argmax(1) == train_y).mean()
    if best is None or accuracy > best[0]:
      best = (accuracy, lam)
  lam = best[1]
  weights = vt.T @ ((s / (s ** 2 + lam))[:, None] * uty)
  return lambda test_x: (((test_x - mean) / std) @ weights + offset).argmax(1), lam


def labelled_subset(labels: np.ndarray, per_class: int, draw: int) -> np.ndarray:
  """Indices of `per_class` training images of each class, drawn by `draw`."""
  rng = np.random.default_rng(draw)
  return np.concatenate([rng.choice(np.flatnonzero(labels == k), per_class, replace=False)
                         for k in range(labels.max() + 1)])


def _figure(accuracies: dict, kinds, label_counts):
  fig, ax = line_figure(label_counts, {k: [accuracies[k, n] for n in label_counts] for k in kinds},
                        'labelled images per class', 'MNIST test accuracy (%)',
                        'linear classifier on features', scale=100, xscale='log')
  ax.legend()
  fig.tight_layout()
  return fig


def reproduce(budget: str, out: str) -> Report:
  from gan_jax.data.images import load_tfds
  steps, label_counts, draws = PROTOCOLS[budget]
  config = dcgan_mnist(steps)
  workdir = os.path.join(runs_dir(out), f'dcgan_mnist_{steps}steps')
  nets, random, trained = trained_state(config, workdir)
  features = feature_function(nets.discriminators['d'])
  d = config.dataset
  train_images, train_labels, _ = load_tfds('mnist', 'train', d.data_dir or None, 0, d.download, 0, 1)
  test_images, test_labels, _ = load_tfds('mnist', 'test', d.data_dir or None, 0, d.download, 0, 1)
  scaled = lambda images: images.astype(np.float32) / 127.5 - 1.0
  needed = np.unique(np.concatenate([labelled_subset(train_labels, n, k)
                                     for n in label_counts for k in range(draws)]))

  def represent(images, state):
    if state is None:
      return scaled(images).reshape(len(images), -1)
    return np.concatenate([np.asarray(features(state.d_params['d'], state.d_batch_stats['d'],
                                               scaled(images[i:i + 500])))
                           for i in range(0, len(images), 500)])

  kinds = {'raw pixels': None, 'random discriminator': random, 'trained discriminator': trained}
  accuracies = {}
  for kind, state in kinds.items():
    train_needed = represent(train_images[needed], state)
    test = represent(test_images, state)
    position = {int(i): j for j, i in enumerate(needed)}
    for n in label_counts:
      scores = []
      for k in range(draws):
        subset = labelled_subset(train_labels, n, k)
        predict, _ = ridge_classifier(train_needed[[position[int(i)] for i in subset]],
                                      train_labels[subset], 10)
        scores.append((predict(test) == test_labels).mean())
      accuracies[kind, n] = np.array(scores)
  rows = [[n, *(mean_se(accuracies[kind, n], 100, 1) for kind in kinds),
           PUBLISHED if n == label_counts[-1] else ''] for n in label_counts]
  checks = {f'{n} labels per class: the trained discriminator\'s features beat the random '
            f'discriminator\'s and raw pixels (mean accuracy)':
            bool(accuracies['trained discriminator', n].mean() >
                 max(accuracies['raw pixels', n].mean(), accuracies['random discriminator', n].mean()))
            for n in label_counts}
  dims = represent(test_images[:2], trained).shape[1]
  return Report(
      title=f'{PAPER}, {FIGURE}',
      columns=['labels per class', 'raw pixels (784-d), test accuracy %',
               f'random discriminator ({dims}-d)', f'trained discriminator ({dims}-d)',
               'published (other datasets)'],
      rows=rows,
      protocol=(f'experiments/dcgan_mnist.py trained {steps:,} steps (batch 128) without labels; '
                f'features of its discriminator at that step and at its initialization (seed '
                f'{config.seed}): every stride-2 convolution\'s output max-pooled to 4x4 and '
                'concatenated. Ridge regression on one-hot labels of N training images per class '
                f'(standardized features; λ from {RIDGE[0]:g}..{RIDGE[-1]:g} by leave-one-out '
                f'accuracy on those images), accuracy on the 10,000 MNIST test images; mean ± '
                f'standard error over {draws} draws of the labelled images.'),
      commands=[f'python -m gan_jax.reproduce discriminator_features --budget {budget} --out {out}',
                f'python launch.py --config experiments/dcgan_mnist.py --workdir {workdir} '
                f'--config.num_steps={steps}'],
      figures={'discriminator_features': _figure(accuracies, kinds, label_counts)},
      checks=checks)
