"""The paired translation family: pix2pix (Isola et al. 2017). Networks `{'g'}`, source ->
target, and `{'d'}`, which judges (source, image) pairs. Each step: one discriminator update on
real pairs and generated pairs, then one generator update on the adversarial loss plus
`l1_weight` x the L1 distance to the target through the new discriminator, then the EMA."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import optax
from jax import lax

from gan_jax import data, losses, models
from gan_jax.errors import ConfigError
from gan_jax.models import Networks, apply_model
from gan_jax.train import inputs
from gan_jax.train.parts import device_mean, ema, optimizer_step

Batch = dict[str, jax.Array]


def check(config: ml_collections.ConfigDict) -> None:
  if not data.is_paired(config):
    raise ConfigError('config.dataset.source: paired training needs (source, target) pairs: a '
                      f'source made from each image ({", ".join(data.SOURCES)}), or a '
                      'paired_folder:/path dataset')
  for field in ('n_critic', 'pack'):
    if config[field] != 1:
      raise ConfigError(f'config.{field}: paired training makes one discriminator update per step '
                        f'on unpacked pairs; use 1, got {config[field]}')
  if config.gp_weight or config.r1_weight:
    raise ConfigError('config.gp_weight, config.r1_weight: not used by paired training; set 0')


def networks(config: ml_collections.ConfigDict, dataset) -> Networks:
  generator, discriminator = models.build(config, dataset.shape)
  return Networks({'g': generator}, {'d': discriminator},
                  {'source': tuple(dataset.source_shape), 'target': tuple(dataset.shape)})


def init_variables(config: ml_collections.ConfigDict, nets: Networks, g_key: jax.Array,
                   d_key: jax.Array) -> tuple[dict, dict, dict]:
  source = jnp.zeros((1,) + nets.shapes['source'], jnp.float32)
  pair = jnp.zeros((1,) + nets.shapes['target'][:-1] +
                   (nets.shapes['source'][-1] + nets.shapes['target'][-1],), jnp.float32)
  g_vars = nets.generators['g'].init(g_key, source, None, train=False)
  d_vars = nets.discriminators['d'].init(d_key, pair, train=False)
  return {'g': g_vars}, {'d': d_vars}, {}


def discriminator_loss(d_params, d_batch_stats, source, target, output, *,
                       config: ml_collections.ConfigDict, discriminator):
  """(d_loss, (new batch statistics, metrics)): the adversarial loss of every patch of the real
  pairs (source, target) against the generated pairs (source, output)."""
  real_logits, d_batch_stats = apply_model(discriminator, d_params, d_batch_stats,
                                           jnp.concatenate([source, target], axis=-1))
  fake_logits, d_batch_stats = apply_model(discriminator, d_params, d_batch_stats,
                                           jnp.concatenate([source, output], axis=-1))
  d_loss = losses.LOSSES[config.loss].d_loss(real_logits, fake_logits)
  metrics = {'d_real': jnp.mean(real_logits), 'd_fake': jnp.mean(fake_logits), 'd_loss': d_loss}
  return d_loss, (d_batch_stats, metrics)


def generator_loss(output, source, target, d_params, d_batch_stats, *,
                   config: ml_collections.ConfigDict, discriminator):
  """(g_loss, metrics): fool the new discriminator on (source, output) (weighted by
  `config.adversarial_weight`, 0 for pix2pix's L1-only ablation), and stay within L1 of the target
  (pix2pix's lambda = `config.l1_weight`)."""
  fake_logits, _ = apply_model(discriminator, d_params, d_batch_stats,
                               jnp.concatenate([source, output], axis=-1))
  adversarial = losses.LOSSES[config.loss].g_loss(fake_logits)
  l1 = jnp.mean(jnp.abs(output - target))
  g_loss = config.adversarial_weight * adversarial + config.l1_weight * l1
  return g_loss, {'g_adversarial_loss': adversarial, 'g_l1': l1, 'g_loss': g_loss}


def update(state, batch: Batch, *, config: ml_collections.ConfigDict, nets: Networks,
           axis_name: str | None):
  """One step on this device's share of the batch: `source` and `target` [1, samples, ...]."""
  generator, discriminator = nets.generators['g'], nets.discriminators['d']
  source, target = batch['source'][0], batch['target'][0]
  dropout_keys = inputs.dropout_keys(jax.random.fold_in(state.key, state.step), source.shape[0],
                                     axis_name)
  # One generator pass; its VJP is kept for the generator update below.
  output, g_vjp, g_batch_stats = jax.vjp(
      lambda p: apply_model(generator, p, state.g_batch_stats['g'], source, dropout_keys),
      state.g_params['g'], has_aux=True)

  d_grads, (d_batch_stats, d_metrics) = jax.grad(discriminator_loss, has_aux=True)(
      state.d_params['d'], state.d_batch_stats['d'], source, target, lax.stop_gradient(output),
      config=config, discriminator=discriminator)
  d_grads = device_mean({'d': d_grads}, axis_name)
  d_params, d_opt_state = optimizer_step(state.d_tx, d_grads, state.d_opt_state, state.d_params)

  (_, g_metrics), output_grads = jax.value_and_grad(generator_loss, has_aux=True)(
      output, source, target, d_params['d'], d_batch_stats, config=config,
      discriminator=discriminator)
  g_grads = device_mean({'g': g_vjp(output_grads)[0]}, axis_name)
  g_params, g_opt_state = optimizer_step(state.g_tx, g_grads, state.g_opt_state, state.g_params)

  new_state = state.replace(
      step=state.step + 1, g_params=g_params, d_params=d_params,
      g_ema_params=ema(g_params, state.g_ema_params, state.step, config.ema_decay),
      g_batch_stats=device_mean({'g': g_batch_stats}, axis_name),
      d_batch_stats=device_mean({'d': d_batch_stats}, axis_name),
      g_opt_state=g_opt_state, d_opt_state=d_opt_state)
  metrics = dict(d_metrics, **g_metrics, d_grad_norm=optax.tree.norm(d_grads),
                 g_grad_norm=optax.tree.norm(g_grads))
  return new_state, device_mean(metrics, axis_name)
