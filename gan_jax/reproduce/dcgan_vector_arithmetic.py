"""Vector arithmetic on a DCGAN's latents (Radford, Metz & Chintala 2015, Fig. 7): adding the
difference of two concepts' latents to a third sample moves it to the other concept ("smiling
woman - neutral woman + neutral man = smiling man"), when each concept's latent is the mean over
a few exemplars; with single exemplars the paper found the arithmetic unstable.

On MNIST, the concept is the digit: samples of experiments/dcgan_mnist.py's EMA generator are
labelled by gan_jax's shipped MNIST classifier; for a pair of digits (a, b), a sample z_c of digit
b becomes z_c + mean(z of a) - mean(z of b), and the arithmetic succeeds when the classifier reads
the result as a. Measured over every ordered pair of digits and held-out samples of b, with the
concept means taken over 1 exemplar (the paper's unstable case), 3 (the paper's) and all.
"""

from __future__ import annotations


import numpy as np

from gan_jax.reproduce import Report, mean_se, trained_dcgan_mnist

PAPER = 'Radford, Metz & Chintala 2015, "Unsupervised Representation Learning with DCGANs"'
FIGURE = 'Fig. 7: vector arithmetic on latents'
PROTOCOLS = {'short': (1_000, 4_000), 'medium': (5_000, 10_000), 'full': (10_000, 20_000)}
BUDGETS = tuple(PROTOCOLS)  # (DCGAN steps, samples drawn to find each digit's latents)
EXEMPLARS = (1, 3, 0)  # 0: every sample of the digit
TARGETS = 20  # held-out samples of b per ordered pair
PUBLISHED = 'works with 3 averaged exemplars; unstable with single ones (qualitative)'


def arithmetic_success(z: np.ndarray, digits: np.ndarray, classify, exemplars: int,
                       rng: np.random.Generator) -> np.ndarray:
  """Per ordered digit pair (a, b): the share of held-out samples of b that the classifier reads
  as a after adding mean(z of a) - mean(z of b) over `exemplars` exemplars (0: all)."""
  rates = []
  for a in range(10):
    for b in range(10):
      za, zb = np.flatnonzero(digits == a), np.flatnonzero(digits == b)
      if a == b or len(za) < 4 or len(zb) < TARGETS + 4:
        continue
      zb = rng.permutation(zb)
      targets, pool_b = zb[:TARGETS], zb[TARGETS:]
      pick = lambda pool: pool if not exemplars else rng.choice(pool, exemplars, replace=False)
      shift = z[pick(za)].mean(0) - z[pick(pool_b)].mean(0)
      rates.append((classify(z[targets] + shift) == a).mean())
  return np.array(rates)


def _figure(rows_of_images: list[np.ndarray], titles: list[str]):
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  fig, axes = plt.subplots(len(rows_of_images), rows_of_images[0].shape[0],
                           figsize=(rows_of_images[0].shape[0] * 0.8, len(rows_of_images) * 0.9))
  for r, (images, title) in enumerate(zip(rows_of_images, titles)):
    for c, image in enumerate(images):
      axes[r, c].imshow(image[..., 0], cmap='gray', vmin=-1, vmax=1)
      axes[r, c].set_xticks([]), axes[r, c].set_yticks([])
    axes[r, 0].set_ylabel(title, rotation=0, ha='right', fontsize=8)
  fig.subplots_adjust(wspace=0.02, hspace=0.05)
  return fig


def reproduce(budget: str, out: str) -> Report:
  from gan_jax.train import inputs
  steps, count = PROTOCOLS[budget]
  config, images, read_digits = trained_dcgan_mnist(steps, out)
  classify = lambda z: read_digits(images(z))
  z = np.asarray(inputs.walk_endpoints(config.seed + 2, count // 2, config.latent_dim)).reshape(
      count, config.latent_dim)
  digits = classify(z)
  rng = np.random.default_rng(config.seed)
  success = {k: arithmetic_success(z, digits, classify, k, rng) for k in EXEMPLARS}
  # Baseline: the held-out samples of b themselves, read as a (the arithmetic's "before").
  before = []
  for a in range(10):
    for b in range(10):
      zb = np.flatnonzero(digits == b)
      if a != b and len(np.flatnonzero(digits == a)) >= 4 and len(zb) >= TARGETS + 4:
        before.append((classify(z[zb[:TARGETS]]) == a).mean())
  name = lambda k: 'all samples' if not k else f'{k} exemplar{"s" * (k > 1)}'
  rows = [[f'mean over {name(k)}', mean_se(100 * success[k], digits=1),
           PUBLISHED if k == 3 else ''] for k in EXEMPLARS]
  rows.append(['no arithmetic (the samples of b as they are)',
               mean_se(100 * np.array(before), digits=1), ''])
  # The figure: for 7 - 1 + (samples of 1) and 0 - 6 + (samples of 6), before and after.
  figure_rows, titles = [], []
  for a, b in ((7, 1), (0, 6)):
    zb = np.flatnonzero(digits == b)[:10]
    za = np.flatnonzero(digits == a)
    if len(zb) < 10 or len(za) < 3:
      continue
    shift = z[za[:3]].mean(0) - z[np.flatnonzero(digits == b)[10:13]].mean(0)
    figure_rows += [images(z[zb]), images(z[zb] + shift)]
    titles += [f'samples of {b}', f'+ mean {a} - mean {b} (3 each)']
  three, one = (float(success[k].mean()) if len(success[k]) else float('nan') for k in (3, 1))
  checks = {f'with 3 averaged exemplars the arithmetic gives the target digit far more often than '
            f'chance (10 %): {100 * three:.1f} %': bool(three > 0.3),
            f'averaging exemplars beats single exemplars ({100 * three:.1f} % against '
            f'{100 * one:.1f} %)': bool(three > one)}
  return Report(
      title=f'{PAPER}, {FIGURE}',
      columns=['concept latents', 'read as the target digit (%), over ordered digit pairs',
               'published'],
      rows=rows,
      protocol=(f'experiments/dcgan_mnist.py trained {steps:,} steps; {count:,} latents drawn by '
                f'the seed ({config.seed}), their EMA-generator samples labelled by gan_jax\'s '
                f'shipped MNIST classifier; per ordered pair of digits (a, b), {TARGETS} held-out '
                'samples of b shifted by mean(z of a) - mean(z of b) and read again; mean ± '
                'standard error over the pairs.'),
      commands=[f'python -m gan_jax.reproduce dcgan_vector_arithmetic --budget {budget} --out {out}'],
      figures={'dcgan_vector_arithmetic': _figure(figure_rows, titles)} if figure_rows else {},
      checks=checks)
