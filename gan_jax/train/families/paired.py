"""The paired family: a generator from a source image to its target, trained on pairs.

- pix2pix (Isola et al. 2017): the discriminator judges (source, image) pairs
  (`discriminator_sees_source`); the generator's loss is the adversarial loss plus 100 x L1.
- SRResNet and SRGAN (Ledig et al. 2017): low-resolution sources; the discriminator judges images
  alone; the content loss is MSE (SRResNet, `adversarial_weight` 0) or the distance between a
  fixed network's feature maps, plus 1e-3 x the adversarial loss (SRGAN).

Networks `{'g'}` and `{'d'}`. Each step: one discriminator update (none when the adversarial
weight is 0), then one generator update through the new discriminator, then the EMA.
"""

from __future__ import annotations

from typing import Callable

import os

import jax
import jax.numpy as jnp
import ml_collections
import optax
from jax import lax
from jax.sharding import Mesh

from gan_jax import data, losses, models
from gan_jax.config import non_negative
from gan_jax.errors import ConfigError, EvaluateError
from gan_jax.models import Networks, apply_model
from gan_jax.train import inputs
from gan_jax.metrics import classifier, evaluators
from gan_jax.train.parts import (check_one_update_per_step, device_mean, ema, no_preview_metrics,
                                 optimizer_step, translation_sample_kind, translation_sampler)

Batch = dict[str, jax.Array]
CONTENT_LOSSES = ('l1', 'mse', 'features')


# The family's own config fields and their defaults (beside gan_jax/config.py's base_config): the
# generator's loss is adversarial_weight x adversarial + content_weight x the content loss (l1,
# mse, or features: MSE of a fixed classifier's last convolution block, from content_network: a
# weights file; '' = the dataset's shipped one).
FIELDS = dict(
    adversarial_weight=1.0,
    content_loss='l1',
    content_weight=100.0,
    content_network='',
    discriminator_sees_source=True,  # pix2pix's conditional D; SRGAN's D sees images alone
)


def check(config: ml_collections.ConfigDict) -> None:
  if not data.is_paired(config):
    if data.is_unpaired(config):
      raise ConfigError(f'config.family: {config.dataset.name!r} holds two unpaired domains; '
                        'train it with family=cycle')
    raise ConfigError('config.dataset.source: paired training needs (source, target) pairs: a '
                      f'source made from each image ({", ".join(data.SOURCES)}), or a '
                      'paired_folder:/path dataset')
  check_one_update_per_step(config, 'paired')
  non_negative(config, 'adversarial_weight', 'content_weight')
  if config.content_loss not in CONTENT_LOSSES:
    raise ConfigError(f'config.content_loss: unknown {config.content_loss!r}; known: '
                      f'{CONTENT_LOSSES}')
  if config.discriminator_sees_source and config.dataset.source == 'lowres':
    raise ConfigError('config.discriminator_sees_source: low-resolution sources cannot be stacked '
                      'on their targets; set it False (SRGAN judges images alone)')


def content_network(config: ml_collections.ConfigDict) -> dict:
  """The fixed classifier whose feature maps the `features` content loss compares: the shipped
  classifier of the dataset (`content_network` empty), or classifier weights from a path."""
  path = config.content_network or classifier.weights_path(config.dataset.name)
  if not os.path.exists(path):
    raise ConfigError(f'config.content_network: no classifier weights at {path}; give a file made '
                      'by `python -m gan_jax.metrics.classifier`, or a dataset gan_jax ships one for '
                      '(mnist, fashion_mnist, cifar10)')
  params, info = classifier.load_weights(path)
  return {'params': params, 'name': f'{info.get("dataset", path)} classifier, last conv block'}


def networks(config: ml_collections.ConfigDict, dataset) -> Networks:
  scale = dataset.shape[0] // dataset.source_shape[0]
  generator, discriminator = models.build(config, dataset.shape, scale=scale)
  fixed = {'content': content_network(config)} if config.content_loss == 'features' else {}
  return Networks({'g': generator}, {'d': discriminator},
                  {'source': tuple(dataset.source_shape), 'target': tuple(dataset.shape)}, fixed)


def _judged(config, source: jax.Array, image: jax.Array) -> jax.Array:
  """What the discriminator sees: the image, after its source when `discriminator_sees_source`."""
  return jnp.concatenate([source, image], axis=-1) if config.discriminator_sees_source else image


def sample_kind(config: ml_collections.ConfigDict, nets: Networks,
                dataset) -> evaluators.SampleKind:
  """Translations of held-out sources, one way, each with its target."""
  return translation_sample_kind(config, dataset, (), lambda split, direction: True)


# Translated from held-out sources by the EMA generators: as every translation family.
evaluation_sampler, preview_metrics = translation_sampler, no_preview_metrics


def preview(config: ml_collections.ConfigDict, nets: Networks, dataset, mesh: Mesh | None):
  """The sample figure: rows of source | output | target of 16 held-out pairs."""
  from gan_jax.train.samplers import TranslationPreview  # Heavy (matplotlib): only runs draw.
  return TranslationPreview(config, nets.generators, mesh, ('ab',), 16, False)


def translator(config: ml_collections.ConfigDict, shapes: Callable[[], dict], direction: str,
               workdir: str
               ) -> tuple[Networks, str, int]:
  """`gan_jax.translate`: (the run's networks, built for the `shapes` it saved, without the
  content network; the generator's name; the channels of its sources)."""
  if direction:
    raise EvaluateError(f'--direction: {workdir} translates one way; leave --direction out')
  shapes = shapes()
  scale = shapes['target'][0] // shapes['source'][0]
  generator, discriminator = models.build(config, shapes['target'], scale=scale)
  return Networks({'g': generator}, {'d': discriminator}, shapes), 'g', shapes['source'][-1]


def init_variables(config: ml_collections.ConfigDict, nets: Networks, g_key: jax.Array,
                   d_key: jax.Array) -> tuple[dict, dict, dict]:
  source = jnp.zeros((1,) + nets.shapes['source'], jnp.float32)
  target = jnp.zeros((1,) + nets.shapes['target'], jnp.float32)
  g_vars = nets.generators['g'].init(g_key, source, None, train=False)
  d_vars = nets.discriminators['d'].init(d_key, _judged(config, source, target), train=False)
  return {'g': g_vars}, {'d': d_vars}, {}


def content_loss(output: jax.Array, target: jax.Array, config: ml_collections.ConfigDict,
                 nets: Networks) -> jax.Array:
  """The generator's distance to the target: L1 or MSE on pixels, or MSE on the fixed network's
  feature maps."""
  if config.content_loss == 'l1':
    return jnp.mean(jnp.abs(output - target))
  if config.content_loss == 'mse':
    return jnp.mean((output - target) ** 2)
  params = nets.fixed['content']['params']
  features = classifier.feature_maps
  return jnp.mean((features(params, output) - features(params, target)) ** 2)


def discriminator_loss(d_params, d_batch_stats, source, target, output, *,
                       config: ml_collections.ConfigDict, discriminator):
  """(d_loss, (new batch statistics, metrics)): the adversarial loss of every logit (every patch
  for a PatchGAN) of real images against generated ones."""
  real_logits, d_batch_stats = apply_model(discriminator, d_params, d_batch_stats,
                                           _judged(config, source, target))
  fake_logits, d_batch_stats = apply_model(discriminator, d_params, d_batch_stats,
                                           _judged(config, source, output))
  d_loss = losses.LOSSES[config.loss].d_loss(real_logits, fake_logits)
  metrics = {'d_real': jnp.mean(real_logits), 'd_fake': jnp.mean(fake_logits), 'd_loss': d_loss}
  return d_loss, (d_batch_stats, metrics)


def generator_loss(output, source, target, d_params, d_batch_stats, *,
                   config: ml_collections.ConfigDict, nets: Networks):
  """(g_loss, metrics): `adversarial_weight` x fooling the new discriminator, plus
  `content_weight` x the content loss (pix2pix: 1 and 100 x L1; SRGAN: 1e-3 and features)."""
  content = content_loss(output, target, config, nets)
  g_loss = config.content_weight * content
  metrics = {'g_content_loss': content}
  if config.adversarial_weight:
    fake_logits, _ = apply_model(nets.discriminators['d'], d_params, d_batch_stats,
                                 _judged(config, source, output))
    metrics['g_adversarial_loss'] = losses.LOSSES[config.loss].g_loss(fake_logits)
    g_loss += config.adversarial_weight * metrics['g_adversarial_loss']
  metrics['g_loss'] = g_loss
  return g_loss, metrics


def update(state, batch: Batch, *, config: ml_collections.ConfigDict, nets: Networks,
           axis_name: str | None):
  """One step on this device's share of the batch: `source` and `target` [1, samples, ...]."""
  generator = nets.generators['g']
  source, target = batch['source'][0], batch['target'][0]
  dropout_keys = inputs.dropout_keys(jax.random.fold_in(state.key, state.step), source.shape[0],
                                     axis_name)
  # One generator pass; its VJP is kept for the generator update below.
  output, g_vjp, g_batch_stats = jax.vjp(
      lambda p: apply_model(generator, p, state.g_batch_stats['g'], source, dropout_keys),
      state.g_params['g'], has_aux=True)

  d_params, d_opt_state, d_batch_stats, metrics = (state.d_params, state.d_opt_state,
                                                   state.d_batch_stats, {})
  if config.adversarial_weight:  # Without an adversarial term the discriminator is idle.
    d_grads, (new_stats, metrics) = jax.grad(discriminator_loss, has_aux=True)(
        d_params['d'], d_batch_stats['d'], source, target, lax.stop_gradient(output),
        config=config, discriminator=nets.discriminators['d'])
    d_grads = device_mean({'d': d_grads}, axis_name)
    d_params, d_opt_state = optimizer_step(state.d_tx, d_grads, d_opt_state, d_params)
    d_batch_stats = device_mean({'d': new_stats}, axis_name)
    metrics['d_grad_norm'] = optax.tree.norm(d_grads)

  (_, g_metrics), output_grads = jax.value_and_grad(generator_loss, has_aux=True)(
      output, source, target, d_params['d'], d_batch_stats['d'], config=config, nets=nets)
  g_grads = device_mean({'g': g_vjp(output_grads)[0]}, axis_name)
  g_params, g_opt_state = optimizer_step(state.g_tx, g_grads, state.g_opt_state, state.g_params)

  new_state = state.replace(
      step=state.step + 1, g_params=g_params, d_params=d_params,
      g_ema_params=ema(g_params, state.g_ema_params, state.step, config.ema_decay),
      g_batch_stats=device_mean({'g': g_batch_stats}, axis_name), d_batch_stats=d_batch_stats,
      g_opt_state=g_opt_state, d_opt_state=d_opt_state)
  metrics.update(g_metrics, g_grad_norm=optax.tree.norm(g_grads))
  return new_state, device_mean(metrics, axis_name)
