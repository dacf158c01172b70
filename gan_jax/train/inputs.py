"""Every input a generator receives is drawn here: latents and class labels for training, for the
sample figures and toy metrics, and for the evaluators. Each stream is a pure function of the
seed (and step), so a run resumes exactly and does not depend on the device count.

Streams:
- training, critic update i of step s, example j of the global batch:
  `z = normal(fold_in(fold_in(fold_in(run key, s), i), j))`, its class
  `randint(fold_in(that example key, 1))`;
- style family, phase p of step s (0: generator, 1: path length, 2: discriminator), example j:
  z and class as above from `fold_in(fold_in(fold_in(run key, s), p), j)`; with style mixing,
  the second latent `normal(fold_in(example key, 2))`, whether it mixes `uniform(fold_in(.., 3))`,
  the crossover `randint(fold_in(.., 4))`; the synthesis noise from `fold_in(example key, 5)`;
- translation, step s: example j's dropout masks come from `fold_in(fold_in(run key, s), j)`;
- preview (sample figures, toy mode metrics): `normal(fold_in(key(seed), 0xE7A1), (n, d))`,
  the same latents at every evaluation;
- evaluator NAME: the chunk of samples from index i on is
  `normal(fold_in(fold_in(key(seed), hash(NAME)), i), (chunk, d))`, classes cycling 0, 1, ...
- latent walks (gan_jax.reproduce): walk w goes between the two latents
  `normal(fold_in(key(seed), 0x3A1C), (n, 2, d))[w]`.
"""

from __future__ import annotations

import hashlib

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

PREVIEW_STREAM = 0xE7A1
WALK_STREAM = 0x3A1C


def per_example_keys(key: jax.Array, n: int, axis_name: str | None) -> jax.Array:
  """One key per example, from its index in the global batch.

  Folding in the global index (device index * local size + position) decorrelates devices,
  as fold_in(axis_index) would, and also makes the run independent of the device count.
  """
  offset = lax.axis_index(axis_name) * n if axis_name else 0
  return jax.vmap(jax.random.fold_in, (None, 0))(key, offset + jnp.arange(n))


def noise_inputs(key: jax.Array, n: int, latent_dim: int, num_classes: int,
                 axis_name: str | None) -> tuple[jax.Array, jax.Array | None]:
  """Training latents [n, latent_dim] and, when `num_classes`, classes [n] of this device's
  `n` examples."""
  keys = per_example_keys(key, n, axis_name)
  z = jax.vmap(lambda k: jax.random.normal(k, (latent_dim,)))(keys)
  labels = None
  if num_classes:
    labels = jax.vmap(lambda k: jax.random.randint(jax.random.fold_in(k, 1), (), 0,
                                                   num_classes))(keys)
  return z, labels


def style_inputs(key: jax.Array, n: int, latent_dim: int, num_classes: int, num_ws: int,
                 mixing_prob: float, axis_name: str | None) -> dict[str, jax.Array | None]:
  """The style generator's inputs for this device's `n` examples: `z`, `labels` (as
  `noise_inputs`), `z_mix` [n, latent_dim] and `crossover` [n] (the first W index taken from
  `z_mix`'s W; `num_ws` where the example does not mix: with probability 1 - `mixing_prob`), and
  `noise_keys` [n] (the synthesis noise)."""
  keys = per_example_keys(key, n, axis_name)
  z, labels = noise_inputs(key, n, latent_dim, num_classes, axis_name)
  z_mix = jax.vmap(lambda k: jax.random.normal(jax.random.fold_in(k, 2), (latent_dim,)))(keys)
  mixes = jax.vmap(lambda k: jax.random.uniform(jax.random.fold_in(k, 3)))(keys) < mixing_prob
  cut = jax.vmap(lambda k: jax.random.randint(jax.random.fold_in(k, 4), (), 1, num_ws))(keys)
  return {'z': z, 'labels': labels, 'z_mix': z_mix, 'crossover': jnp.where(mixes, cut, num_ws),
          'noise_keys': jax.vmap(lambda k: jax.random.fold_in(k, 5))(keys)}


def dropout_keys(step_key: jax.Array, n: int, axis_name: str | None) -> jax.Array:
  """A translation generator's only randomness: one key per example for its dropout masks."""
  return per_example_keys(step_key, n, axis_name)


def preview_latents(seed: int, n: int, latent_dim: int) -> jax.Array:
  """The latents of the sample figures and toy mode metrics: the same at every evaluation."""
  return jax.random.normal(jax.random.fold_in(jax.random.key(seed), PREVIEW_STREAM),
                           (n, latent_dim))


def walk_endpoints(seed: int, n: int, latent_dim: int) -> jax.Array:
  """[n, 2, latent_dim]: the start and end latents of n latent-space walks."""
  return jax.random.normal(jax.random.fold_in(jax.random.key(seed), WALK_STREAM),
                           (n, 2, latent_dim))


def preview_labels(rows: int, cols: int) -> np.ndarray:
  """One row of the figure per class."""
  return np.repeat(np.arange(rows), cols).astype(np.int32)


def evaluator_key(seed: int, name: str) -> jax.Array:
  """The stream of the evaluator called `name`: the same latents at every evaluation."""
  return jax.random.fold_in(jax.random.key(seed), int(hashlib.sha256(name.encode()).hexdigest()[:7], 16))


def evaluator_latents(key: jax.Array, start: int, n: int, latent_dim: int) -> jax.Array:
  """Latents of samples `start`..`start + n` of an evaluator (`start` a multiple of `n`)."""
  return jax.random.normal(jax.random.fold_in(key, start), (n, latent_dim))


def evaluator_labels(count: int, num_classes: int) -> np.ndarray:
  """Classes of an evaluator's samples: every class equally often."""
  return (np.arange(count) % num_classes).astype(np.int32)
