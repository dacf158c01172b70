"""The training step: `n_critic` discriminator updates, one generator update, the EMA update."""

from __future__ import annotations

import functools
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax
from jax import lax
from jax.sharding import Mesh, PartitionSpec as P

from gan_jax import losses, models, parallel
from gan_jax.train.state import GANState, apply_model

Metrics = dict[str, jax.Array]
Batch = dict[str, jax.Array]


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


def per_example_keys(key: jax.Array, n: int, axis_name: str | None) -> jax.Array:
  """One key per example, from its index in the global batch.

  Folding in the global index (device index * local size + position) decorrelates devices,
  as fold_in(axis_index) would, and also makes the run independent of the device count.
  """
  offset = lax.axis_index(axis_name) * n if axis_name else 0
  return jax.vmap(jax.random.fold_in, (None, 0))(key, offset + jnp.arange(n))


def gan_update(state: GANState, batch: Batch, *, config: ml_collections.ConfigDict,
               generator: nn.Module, discriminator: nn.Module,
               axis_name: str | None) -> tuple[GANState, Metrics]:
  """One step on this device's share of the batch: `x` [n_critic, samples, *data shape], and
  for conditional models `label` [n_critic, samples].

  With `axis_name`, gradients, batch statistics and metrics are averaged over that axis.
  """
  loss = losses.LOSSES[config.loss]
  num_samples = batch['x'].shape[1]
  num_classes = generator.num_classes if models.is_conditional(generator) else 0
  step_key = jax.random.fold_in(state.key, state.step)

  def device_mean(tree):
    return lax.pmean(tree, axis_name) if axis_name else tree

  def generate(g_params, g_batch_stats, key):
    """Fake samples, and (their labels (None when unconditional), new batch statistics)."""
    keys = per_example_keys(key, num_samples, axis_name)
    z = jax.vmap(lambda k: jax.random.normal(k, (config.latent_dim,)))(keys)
    labels = None
    if num_classes:
      labels = jax.vmap(lambda k: jax.random.randint(jax.random.fold_in(k, 1), (), 0,
                                                     num_classes))(keys)
    fake_x, g_batch_stats = apply_model(generator, g_params, g_batch_stats, z, labels)
    return fake_x, (labels, g_batch_stats)

  def d_objective(d_params, d_batch_stats, real_x, real_labels, fake_x, fake_labels, key):
    real_x, fake_x = pack(real_x, config.pack), pack(fake_x, config.pack)
    real_out, d_batch_stats = apply_model(discriminator, d_params, d_batch_stats, real_x,
                                          real_labels)
    fake_out, d_batch_stats = apply_model(discriminator, d_params, d_batch_stats, fake_x,
                                          fake_labels)
    (real_logits, real_classes), (fake_logits, fake_classes) = (split_outputs(real_out),
                                                                split_outputs(fake_out))
    adversarial = loss.d_loss(real_logits, fake_logits)
    metrics = {'d_real': jnp.mean(real_logits), 'd_fake': jnp.mean(fake_logits),
               'd_adversarial_loss': adversarial}
    d_loss = adversarial
    if real_classes is not None:  # AC-GAN: the discriminator also classifies both batches.
      metrics['d_class_loss'] = (losses.class_loss(real_classes, real_labels) +
                                 losses.class_loss(fake_classes, fake_labels))
      metrics['d_real_class_accuracy'] = jnp.mean(jnp.argmax(real_classes, -1) == real_labels)
      d_loss += config.aux_weight * metrics['d_class_loss']

    def critic(x):
      out = apply_model(discriminator, d_params, d_batch_stats, x, real_labels, train=False)[0]
      return split_outputs(out)[0]

    if config.gp_weight:
      mix_keys = per_example_keys(key, real_x.shape[0], axis_name)
      mix = jax.vmap(jax.random.uniform)(mix_keys)
      metrics['gp'] = losses.gradient_penalty(critic, real_x, fake_x, mix)
      d_loss += config.gp_weight * metrics['gp']
    if config.r1_weight:
      metrics['r1'] = losses.r1_penalty(critic, real_x)
      d_loss += 0.5 * config.r1_weight * metrics['r1']
    metrics['d_loss'] = d_loss
    return d_loss, (d_batch_stats, metrics)

  def d_update(carry, real, fake_x, fake_labels, key):
    d_params, d_opt_state, d_batch_stats = carry
    grads, (d_batch_stats, metrics) = jax.grad(d_objective, has_aux=True)(
        d_params, d_batch_stats, real['x'], real.get('label'), lax.stop_gradient(fake_x),
        fake_labels, key)
    grads = device_mean(grads)
    updates, d_opt_state = state.d_tx.update(grads, d_opt_state, d_params)
    metrics['d_grad_norm'] = optax.tree.norm(grads)
    return (optax.apply_updates(d_params, updates), d_opt_state, d_batch_stats), metrics

  # The n_critic updates are unrolled into one straight-line program rather than a lax.scan:
  # XLA:CPU runs convolutions inside a while loop ~14x slower (2.8 s against 0.2 s for a
  # DCGAN discriminator update, measured), and n_critic is small.
  carry = (state.d_params, state.d_opt_state, state.d_batch_stats)
  for i in range(config.n_critic):
    key = jax.random.fold_in(step_key, i)
    real = jax.tree.map(lambda a: a[i], batch)
    if i < config.n_critic - 1:  # Batch-stat updates of these generator passes are dropped.
      fake_x, (fake_labels, _) = generate(state.g_params, state.g_batch_stats, key)
    else:
      # The generator update learns from the fakes of the last critic update, as in the
      # PyTorch DCGAN example: one generator forward pass, its VJP kept for the update below.
      fake_x, g_vjp, (fake_labels, g_batch_stats) = jax.vjp(
          lambda p: generate(p, state.g_batch_stats, key), state.g_params, has_aux=True)
    carry, d_metrics = d_update(carry, real, fake_x, fake_labels, jax.random.fold_in(key, 1))
  d_params, d_opt_state, d_batch_stats = carry

  def g_objective(fake_x):
    fake_out, _ = apply_model(discriminator, d_params, d_batch_stats,
                              pack(fake_x, config.pack), fake_labels)
    fake_logits, fake_classes = split_outputs(fake_out)
    g_loss = loss.g_loss(fake_logits)
    if fake_classes is not None:  # AC-GAN: the generator makes its fakes recognisable.
      g_loss += config.aux_weight * losses.class_loss(fake_classes, fake_labels)
    return g_loss

  g_loss, fake_grads = jax.value_and_grad(g_objective)(fake_x)
  g_grads = device_mean(g_vjp(fake_grads)[0])
  updates, g_opt_state = state.g_tx.update(g_grads, state.g_opt_state, state.g_params)
  g_params = optax.apply_updates(state.g_params, updates)
  # EMA warm-up (tf.train.ExponentialMovingAverage's num_updates): early on, the average
  # follows the generator instead of carrying its random initialization for ~1/(1-decay) steps.
  ema_decay = jnp.minimum(config.ema_decay, (1.0 + state.step) / (10.0 + state.step))
  g_ema_params = optax.incremental_update(g_params, state.g_ema_params, 1.0 - ema_decay)

  new_state = state.replace(
      step=state.step + 1, g_params=g_params, d_params=d_params, g_ema_params=g_ema_params,
      g_batch_stats=device_mean(g_batch_stats), d_batch_stats=device_mean(d_batch_stats),
      g_opt_state=g_opt_state, d_opt_state=d_opt_state)
  # Metrics of the last discriminator update, and of the generator update.
  metrics = dict(d_metrics)
  metrics.update(g_loss=g_loss, g_grad_norm=optax.tree.norm(g_grads))
  return new_state, device_mean(metrics)


def make_train_step(config: ml_collections.ConfigDict, generator: nn.Module,
                    discriminator: nn.Module,
                    mesh: Mesh) -> Callable[[GANState, Batch], tuple[GANState, Metrics]]:
  """`train_step(state, batch) -> (state, metrics)`, compiled once for all devices of `mesh`.

  The state is replicated and donated; every array of the batch is sharded along its sample
  axis (axis 1) over the mesh's `data` axis.
  """
  per_device = functools.partial(gan_update, config=config, generator=generator,
                                 discriminator=discriminator, axis_name='data')
  # check_vma=False gives pmap's semantics: gradients inside are per-device, and the explicit
  # pmean averages them (with check_vma=True, grad would already sum replicated params' grads).
  step = jax.shard_map(per_device, mesh=mesh, in_specs=(P(), P(None, 'data')),
                       out_specs=(P(), P()), check_vma=False)
  return jax.jit(step, donate_argnums=0, compiler_options=parallel.compiler_options(mesh))
