"""Walks in a DCGAN's latent space (Radford, Metz & Chintala 2015, Fig. 4): images along straight
(lerp) and spherical (slerp; White 2016) paths between two latents change smoothly, with no
sharp transitions, which the paper reads as the generator not having memorized its data.

The generator is experiments/dcgan_mnist.py's EMA generator. Measured per walk: its largest
change between neighbouring frames, as a share of the mean distance between two independent
samples (a walk without sharp transitions keeps it well below 1), and how often the shipped MNIST
classifier's digit changes along it; beside the same for random latents in a row (no walk).
Also the latent norm at the middle of the path, as a share of the endpoints': lerp's drops to
about 1/√2 for Gaussian latents, slerp's stays near 1 (White 2016).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.reproduce import Report, mean_se, trained_dcgan_mnist

PAPER = 'Radford, Metz & Chintala 2015, "Unsupervised Representation Learning with DCGANs"'
FIGURE = 'Fig. 4: smooth walks in the latent space'
PROTOCOLS = {'short': (1_000, 16), 'medium': (5_000, 32), 'full': (10_000, 64)}  # steps, walks
BUDGETS = tuple(PROTOCOLS)
FRAMES = 10
PUBLISHED = 'smooth transitions, no sharp jumps (qualitative)'


def lerp(a: jax.Array, b: jax.Array, t: jax.Array) -> jax.Array:
  return (1 - t) * a + t * b


def slerp(a: jax.Array, b: jax.Array, t: jax.Array) -> jax.Array:
  """Spherical interpolation along the great circle between a and b (White 2016)."""
  cos = jnp.sum(a * b, -1, keepdims=True) / (
      jnp.linalg.norm(a, axis=-1, keepdims=True) * jnp.linalg.norm(b, axis=-1, keepdims=True))
  omega = jnp.arccos(jnp.clip(cos, -1, 1))
  return (jnp.sin((1 - t) * omega) * a + jnp.sin(t * omega) * b) / jnp.sin(omega)


def walk_latents(endpoints: jax.Array, path) -> jax.Array:
  """[walks, FRAMES, d] latents from each pair of endpoints [walks, 2, d]."""
  t = jnp.linspace(0, 1, FRAMES)[None, :, None]
  return path(endpoints[:, :1], endpoints[:, 1:], t)


def frame_steps(frames: np.ndarray) -> np.ndarray:
  """[walks, FRAMES - 1] pixel distances between neighbouring frames."""
  diffs = (frames[:, 1:] - frames[:, :-1]).reshape(frames.shape[0], frames.shape[1] - 1, -1)
  return np.linalg.norm(diffs, axis=-1)


def class_changes(labels: np.ndarray) -> np.ndarray:
  """Per walk: how many times the predicted digit changes between neighbouring frames."""
  return (labels[:, 1:] != labels[:, :-1]).sum(1)


def _figure(rows_of_images: dict[str, np.ndarray]):
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  names = list(rows_of_images)
  walks = min(6, len(next(iter(rows_of_images.values()))))
  fig, axes = plt.subplots(len(names) * walks, FRAMES, figsize=(FRAMES * 0.8, len(names) * walks * 0.8))
  for i, name in enumerate(names):
    for w in range(walks):
      for f in range(FRAMES):
        ax = axes[i * walks + w, f]
        ax.imshow(rows_of_images[name][w, f, ..., 0], cmap='gray', vmin=-1, vmax=1)
        ax.set_xticks([]), ax.set_yticks([])
      axes[i * walks + w, 0].set_ylabel(name if w == 0 else '', rotation=0, ha='right')
  fig.subplots_adjust(wspace=0.02, hspace=0.02)
  return fig


def reproduce(budget: str, out: str) -> Report:
  from gan_jax.train import inputs
  steps, walks = PROTOCOLS[budget]
  config, generate, read_digits = trained_dcgan_mnist(steps, out)
  endpoints = inputs.walk_endpoints(config.seed, walks, config.latent_dim)
  random = inputs.walk_endpoints(config.seed + 1, walks * FRAMES // 2, config.latent_dim)
  latents = {'lerp': walk_latents(endpoints, lerp), 'slerp': walk_latents(endpoints, slerp),
             'random latents (no walk)': random.reshape(walks, FRAMES, -1)}
  images, steps_of, digits_of, middles = {}, {}, {}, {}
  for name, z in latents.items():
    frames = generate(z).reshape(walks, FRAMES, 28, 28, 1)
    images[name] = frames
    steps_of[name] = frame_steps(frames)
    digits = read_digits(frames.reshape(-1, 28, 28, 1))
    digits_of[name] = class_changes(digits.reshape(walks, FRAMES))
    norms = np.linalg.norm(np.asarray(z), axis=-1)
    middles[name] = norms[:, FRAMES // 2] / ((norms[:, 0] + norms[:, -1]) / 2)
  independent = steps_of['random latents (no walk)'].mean()
  largest = {name: steps.max(1) / independent for name, steps in steps_of.items()}
  rows = [[name, mean_se(largest[name], digits=3), mean_se(digits_of[name], digits=2),
           mean_se(middles[name], digits=3) if name != 'random latents (no walk)' else '—',
           PUBLISHED if name == 'lerp' else ''] for name in latents]
  checks = {f'no sharp transitions: every walk\'s largest step is under half the distance '
            f'between independent samples (largest: lerp {largest["lerp"].max():.3f}, slerp '
            f'{largest["slerp"].max():.3f})': bool(max(largest['lerp'].max(),
                                                        largest['slerp'].max()) < 0.5),
            'the digit changes less often along walks than along random latents in a row':
            bool(max(digits_of['lerp'].mean(), digits_of['slerp'].mean()) <
                 digits_of['random latents (no walk)'].mean())}
  return Report(
      title=f'{PAPER}, {FIGURE}',
      columns=['path', 'largest neighbouring-frame step / distance of independent samples',
               'digit changes per walk (mnist classifier)', 'latent norm at the middle / ends',
               'published'],
      rows=rows,
      protocol=(f'experiments/dcgan_mnist.py trained {steps:,} steps; its EMA generator on '
                f'{walks} walks of {FRAMES} frames between latent pairs drawn by the seed '
                f'({config.seed}); frame distances in pixel space ([-1, 1]); digits by gan_jax\'s '
                'shipped MNIST classifier; the random row puts independent latents in a row. '
                'Mean ± standard error over walks.'),
      commands=[f'python -m gan_jax.reproduce dcgan_latent_walks --budget {budget} --out {out}'],
      figures={'dcgan_latent_walks': _figure(images)},
      checks=checks)
