"""The parts every family's update is made of, written once: device means, optimizer steps, the
EMA generators, PacGAN packing and discriminator outputs."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax
from jax import lax
from jax.sharding import Mesh

from gan_jax.errors import ConfigError
from gan_jax.metrics import evaluators
from gan_jax.models import Networks

PyTree = Any


def device_mean(tree: PyTree, axis_name: str | None) -> PyTree:
  """The mean over the devices of `axis_name` (gradients, batch statistics, metrics)."""
  return lax.pmean(tree, axis_name) if axis_name else tree


def optimizer_step(tx: optax.GradientTransformation, grads: PyTree, opt_state: optax.OptState,
                   params: PyTree) -> tuple[PyTree, optax.OptState]:
  """New (params, optimizer state) of one side from its device-averaged gradients."""
  updates, opt_state = tx.update(grads, opt_state, params)
  return optax.apply_updates(params, updates), opt_state


def ema(params: PyTree, ema_params: PyTree, step: jax.Array, decay: float) -> PyTree:
  """The EMA generators after update `step` (0-based).

  With warm-up (tf.train.ExponentialMovingAverage's num_updates): early on, the average follows
  the generator instead of carrying its random initialization for ~1/(1-decay) steps.
  """
  decay = jnp.minimum(decay, (1.0 + step) / (10.0 + step))
  return optax.incremental_update(params, ema_params, 1.0 - decay)


def pack(x: jax.Array, k: int) -> jax.Array:
  """PacGAN: concatenates each run of k consecutive samples along the last (feature) axis."""
  if k == 1:
    return x
  n, *rest = x.shape
  x = jnp.moveaxis(x.reshape(n // k, k, *rest), 1, -2)
  return x.reshape(n // k, *rest[:-1], k * rest[-1])


def split_outputs(out) -> tuple[jax.Array, jax.Array | None]:
  """(logits, class logits or None): AC-GAN discriminators also return class logits."""
  return out if isinstance(out, tuple) else (out, None)


def check_one_update_per_step(config: ml_collections.ConfigDict, family: str) -> None:
  """Config check of the translation families: one discriminator update per step on unpacked
  images."""
  for field in ('n_critic', 'pack'):
    if config[field] != 1:
      raise ConfigError(f'config.{field}: {family} training makes one discriminator update per '
                        f'step on unpacked images; use 1, got {config[field]}')


def translation_sample_kind(config: ml_collections.ConfigDict, dataset, directions: tuple[str, ...],
                            has_targets) -> evaluators.SampleKind:
  """What the translation families' samples are: images, drawn for no class, compared with the
  held-out split."""
  return evaluators.SampleKind(True, False, dataset.num_classes, tuple(dataset.shape),
                               config.dataset.test_split, directions, has_targets)


def no_preview_metrics(config: ml_collections.ConfigDict) -> set[str]:
  """A family whose preview logs no metric: `preview_metrics`."""
  return set()


def translation_sampler(config: ml_collections.ConfigDict, nets: Networks, dataset,
                        mesh: Mesh | None):
  """The translation families' `evaluation_sampler`: the EMA generators' translations of each
  entry's held-out sources."""
  from gan_jax.train.samplers import TranslationSampler  # Heavy (matplotlib): only runs need it.
  return TranslationSampler(config, nets.generators, mesh)
