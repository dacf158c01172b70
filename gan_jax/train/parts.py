"""The parts every family's update is made of, written once: device means, optimizer steps, the
EMA generators, PacGAN packing, discriminator outputs and augmentation of what D sees."""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import optax
from jax import lax
from jax.sharding import Mesh

from gan_jax import augment
from gan_jax.errors import ConfigError
from gan_jax.metrics import evaluators
from gan_jax.models import Networks
from gan_jax.train import inputs

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


def augmentation_running(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """The running values of `config.augment`: ADA's p, and the sum of the device-averaged
  E[sign(D(real))] over the steps since p last moved (none for DiffAugment or no augmentation)."""
  if config.augment.name != 'ada':
    return {}
  return {'ada': {'p': jnp.float32(config.augment.p), 'sign_sum': jnp.float32(0.0),
                  'steps': jnp.int32(0)}}


def augmenter(config: ml_collections.ConfigDict, running: dict[str, Any],
              axis_name: str | None) -> Callable[[jax.Array, jax.Array], jax.Array] | None:
  """`see(images, key)`: the images as D sees them, each augmented by its own key from its index
  in the global batch (so 1 device = 8); None without augmentation. DiffAugment at strength 1
  (the paper), ADA at the running p."""
  a = config.augment
  if not a.name:
    return None
  strength = running['ada']['p'] if a.name == 'ada' else 1.0

  def see(images: jax.Array, key: jax.Array) -> jax.Array:
    keys = inputs.per_example_keys(key, images.shape[0], axis_name)
    return augment.augment(a.name, images, keys, strength, a.policy)
  return see


def next_augmentation_running(config: ml_collections.ConfigDict, running: dict[str, Any],
                              real_sign: jax.Array) -> dict[str, Any]:
  """ADA's running values after a step whose device-averaged E[sign(D(real))] is `real_sign`:
  every `augment.interval` steps p moves by `augment.ada_p_update` of their mean (unless
  `augment.target` is 0) and the sum restarts."""
  if config.augment.name != 'ada':
    return running
  a, ada = config.augment, running['ada']
  sign_sum, steps = ada['sign_sum'] + real_sign, ada['steps'] + 1
  due = steps >= a.interval
  p = ada['p']
  if a.target:
    moved = augment.ada_p_update(p, sign_sum / steps, a.target, config.batch_size, a.interval,
                                 a.kimg)
    p = jnp.where(due, moved, p)
  return dict(running, ada={'p': p, 'sign_sum': jnp.where(due, 0.0, sign_sum),
                            'steps': jnp.where(due, 0, steps)})


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
