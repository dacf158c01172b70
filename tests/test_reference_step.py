"""The compiled train step against a reference written here from its definition (docs/design.md):
plain `jax.grad` and optax, the losses in closed form, the noise rebuilt from the documented key
derivation. Every new parameter, optimizer state, batch statistic and logged value must agree."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.sharding import Mesh

from experiments import dcgan_mnist, gan_grid
from gan_jax import data, models, parallel
from gan_jax.train.run import build_run
from gan_jax.train.step import make_train_step
from conftest import RandomImages

# (discriminator loss of (real logits, fake logits), generator loss of fake logits), as published.
LOSSES = {
    'minimax': (lambda r, f: -jnp.mean(jnp.log(jax.nn.sigmoid(r))) - jnp.mean(jnp.log(1 - jax.nn.sigmoid(f))),
                lambda f: jnp.mean(jnp.log(1 - jax.nn.sigmoid(f)))),
    'non_saturating': (lambda r, f: -jnp.mean(jnp.log(jax.nn.sigmoid(r))) - jnp.mean(jnp.log(1 - jax.nn.sigmoid(f))),
                       lambda f: -jnp.mean(jnp.log(jax.nn.sigmoid(f)))),
    'hinge': (lambda r, f: jnp.mean(jnp.maximum(0, 1 - r)) + jnp.mean(jnp.maximum(0, 1 + f)),
              lambda f: -jnp.mean(f)),
    'wasserstein': (lambda r, f: jnp.mean(f) - jnp.mean(r), lambda f: -jnp.mean(f)),
    'least_squares': (lambda r, f: 0.5 * jnp.mean((r - 1) ** 2) + 0.5 * jnp.mean(f ** 2),
                      lambda f: 0.5 * jnp.mean((f - 1) ** 2)),
}


def cross_entropy(class_logits, labels):
  return -jnp.mean(jax.nn.log_softmax(class_logits)[jnp.arange(len(labels)), labels])


def run(model, params, stats, x, labels, train=True):
  """(output, new batch statistics) of a Flax model."""
  if not stats:
    return model.apply({'params': params}, x, labels, train=train), stats
  if not train:
    return model.apply({'params': params, 'batch_stats': stats}, x, labels, train=False), stats
  out, new = model.apply({'params': params, 'batch_stats': stats}, x, labels, train=True,
                         mutable=['batch_stats'])
  return out, new['batch_stats']


def packed(x, k):
  """Runs of k consecutive samples, concatenated along the last axis."""
  return jnp.concatenate([x[i::k] for i in range(k)], axis=-1)


def adam(config, lr, b1, b2, updates_per_run):
  # A constant rate is a schedule too, so that the state counts updates as gan_jax's does.
  rate = (optax.linear_schedule(lr, 0.0, updates_per_run) if config.optim.schedule == 'linear'
          else optax.constant_schedule(lr))
  return optax.adam(rate, b1=b1, b2=b2)


def reference_step(config, generator, discriminator, state, batch):
  """(new state fields, metrics) of one step, from the definition."""
  d_loss_of, g_loss_of = LOSSES[config.loss]
  k = config.pack
  conditional = models.is_conditional(generator)
  o = config.optim
  d_tx = adam(config, o.d_lr, o.d_b1, o.d_b2, config.num_steps * config.n_critic)
  g_tx = adam(config, o.g_lr, o.g_b1, o.g_b2, config.num_steps)
  step_key = jax.random.fold_in(state.key, state.step)
  n = batch['x'].shape[1]

  def draw(critic_key):
    example_keys = [jax.random.fold_in(critic_key, j) for j in range(n)]
    z = jnp.stack([jax.random.normal(key, (config.latent_dim,)) for key in example_keys])
    if not conditional:
      return z, None
    return z, jnp.stack([jax.random.randint(jax.random.fold_in(key, 1), (), 0,
                                            generator.num_classes) for key in example_keys])

  def logits_and_classes(out):
    return out if isinstance(out, tuple) else (out, None)

  # Networks are named per side ({'g': ...}, {'d': ...}); each side has one optimizer state.
  d_params, d_opt, d_stats = state.d_params, state.d_opt_state, state.d_batch_stats['d']
  for i in range(config.n_critic):
    critic_key = jax.random.fold_in(step_key, i)
    z, fake_labels = draw(critic_key)
    fake_x, g_stats = run(generator, state.g_params['g'], state.g_batch_stats['g'], z, fake_labels)
    real_x = batch['x'][i]
    real_labels = batch['label'][i] if conditional else None

    def d_objective(params):
      real_out, stats = run(discriminator, params['d'], d_stats, packed(real_x, k), real_labels)
      fake_out, stats = run(discriminator, params['d'], stats, packed(fake_x, k), fake_labels)
      (real_logits, real_classes), (fake_logits, fake_classes) = map(
          logits_and_classes, (real_out, fake_out))
      adversarial = d_loss_of(real_logits, fake_logits)
      metrics = {'d_real': jnp.mean(real_logits), 'd_fake': jnp.mean(fake_logits),
                 'd_adversarial_loss': adversarial}
      total = adversarial
      if real_classes is not None:
        metrics['d_class_loss'] = (cross_entropy(real_classes, real_labels) +
                                   cross_entropy(fake_classes, fake_labels))
        metrics['d_real_class_accuracy'] = jnp.mean(jnp.argmax(real_classes, -1) == real_labels)
        total += config.aux_weight * metrics['d_class_loss']
      critic = lambda x: logits_and_classes(run(discriminator, params['d'], stats, x, real_labels,
                                                train=False)[0])[0]
      grad_norms = lambda x: jnp.sqrt(jnp.sum(jax.grad(lambda x: jnp.sum(critic(x)))(x) ** 2,
                                              axis=tuple(range(1, x.ndim))))
      if config.gp_weight:
        mix_key = jax.random.fold_in(critic_key, 1)
        u = jnp.stack([jax.random.uniform(jax.random.fold_in(mix_key, j))
                       for j in range(n // k)]).reshape((-1,) + (1,) * (real_x.ndim - 1))
        x_hat = u * packed(real_x, k) + (1 - u) * packed(fake_x, k)
        metrics['gp'] = jnp.mean((grad_norms(x_hat) - 1) ** 2)
        total += config.gp_weight * metrics['gp']
      if config.r1_weight:
        metrics['r1'] = jnp.mean(grad_norms(packed(real_x, k)) ** 2)
        total += config.r1_weight / 2 * metrics['r1']
      metrics['d_loss'] = total
      return total, (stats, metrics)

    grads, (d_stats, d_metrics) = jax.grad(d_objective, has_aux=True)(d_params)
    updates, d_opt = d_tx.update(grads, d_opt, d_params)
    d_params = optax.apply_updates(d_params, updates)
    d_metrics['d_grad_norm'] = optax.tree.norm(grads)

  def g_objective(params):  # On the fakes of the last critic update, through the new critic.
    fake_x, _ = run(generator, params['g'], state.g_batch_stats['g'], z, fake_labels)
    out, _ = run(discriminator, d_params['d'], d_stats, packed(fake_x, k), fake_labels)
    logits, classes = logits_and_classes(out)
    loss = g_loss_of(logits)
    if classes is not None:
      loss += config.aux_weight * cross_entropy(classes, fake_labels)
    return loss

  g_loss, g_grads = jax.value_and_grad(g_objective)(state.g_params)
  updates, g_opt = g_tx.update(g_grads, state.g_opt_state, state.g_params)
  g_params = optax.apply_updates(state.g_params, updates)
  decay = jnp.minimum(config.ema_decay, (1.0 + state.step) / (10.0 + state.step))
  g_ema = jax.tree.map(lambda e, p: decay * e + (1 - decay) * p, state.g_ema_params, g_params)
  new = dict(g_params=g_params, d_params=d_params, g_ema_params=g_ema, g_opt_state=g_opt,
             d_opt_state=d_opt, g_batch_stats={'g': g_stats}, d_batch_stats={'d': d_stats})
  return new, {**d_metrics, 'g_loss': g_loss, 'g_grad_norm': optax.tree.norm(g_grads)}


def override(config, overrides):
  for key, value in overrides.items():
    group, _, field = key.rpartition('.')
    (config[group] if group else config)[field] = value
  return config


def toy_config(**overrides):
  config = gan_grid.get_config('runlocal')
  config.update(batch_size=16, num_steps=4, ema_decay=0.9, latent_dim=3)
  config.optim.update(g_lr=1e-3, d_lr=2e-3)
  config.generator.hidden = config.discriminator.hidden = (16, 16)
  return override(config, overrides)


def image_config(variant, **overrides):
  config = dcgan_mnist.get_config(f'runlocal,{variant}')
  config.update(num_steps=4, n_critic=1, ema_decay=0.9)
  return override(config, overrides)


CASES = {  # name -> (config, devices)
    'non_saturating': (toy_config(), 2),
    'n_critic=2': (toy_config(n_critic=2), 2),
    'minimax': (toy_config(loss='minimax'), 2),
    'hinge,pack=2': (toy_config(loss='hinge', pack=2), 2),
    'least_squares': (toy_config(loss='least_squares'), 1),
    # One device. A hidden unit on the same side of its activation's kink for every example
    # has a bias gradient of exactly 0 under WGAN-GP (the critic's two means cancel, and the
    # penalty is piecewise constant in biases); float32 leaves +-1e-9 whose sign depends on the
    # summation order, which the device count changes, and Adam (eps 1e-8) turns that into an
    # update of up to lr/2 either way (measured: mu -7e-10 vs +2e-10, bias +5.4e-4 vs -1.7e-4).
    # Leaky ReLU, since maxout's near-ties do the same for weights as well.
    'wasserstein,gp,pack=2,n_critic=2': (toy_config(
        loss='wasserstein', gp_weight=10.0, pack=2, n_critic=2,
        **{'discriminator.activation': 'leaky_relu'}), 1),
    'r1': (toy_config(r1_weight=1.0), 2),
    'linear schedule': (toy_config(**{'optim.schedule': 'linear'}), 1),
    'acgan, batch norm': (image_config('acgan', aux_weight=0.5), 1),
    'conditional, batch norm, r1, linear': (image_config(
        'conditional', r1_weight=0.1, **{'optim.schedule': 'linear'}), 1),
}


@pytest.mark.parametrize('case', list(CASES))
def test_train_step_equals_the_reference(case):
  config, devices = CASES[case]
  mesh = Mesh(np.array(jax.devices()[:devices]), ('data',))
  dataset = (RandomImages(updates=config.n_critic, samples=8) if config.dataset.name == 'mnist'
             else data.build(config))
  run = build_run(config, dataset=dataset)
  nets, state = run.nets, run.state
  generator, discriminator = nets.generators['g'], nets.discriminators['d']
  # The EMA starts away from the generator, so that its update is visible.
  state = state.replace(g_ema_params=jax.tree.map(lambda p: p + 0.5, state.g_ema_params))
  train_step = make_train_step(config, nets, mesh)
  reference = jax.jit(lambda s, b: reference_step(config, generator, discriminator, s, b))
  for step in range(2):  # Step 1 checks that step 0's noise and data are not reused.
    batch = dataset.batch(step)
    expected, expected_metrics = jax.device_get(reference(state, batch))
    state, metrics = train_step(parallel.replicate(state, mesh), parallel.shard_batch(batch, mesh))
    state, metrics = jax.device_get((state, metrics))
    assert int(state.step) == step + 1
    for name, tree in expected.items():
      # atol 1e-5: jax 0.12's XLA sums some convolution gradients in another order than 0.10's
      # (one element of 86,240 moves 5e-6); a wrong update moves them by orders more.
      jax.tree.map(lambda want, got: np.testing.assert_allclose(
          got, want, rtol=2e-5, atol=1e-5, err_msg=f'{case}: {name} at step {step}'),
                   tree, getattr(state, name))
    assert metrics.keys() == expected_metrics.keys(), case
    for key, want in expected_metrics.items():
      np.testing.assert_allclose(metrics[key], want, rtol=2e-5, atol=2e-6,
                                 err_msg=f'{case}: {key} at step {step}')
  if config.gp_weight or config.r1_weight:  # d_loss = adversarial + weight x penalty.
    penalty = (config.gp_weight * metrics.get('gp', 0.0) +
               config.r1_weight / 2 * metrics.get('r1', 0.0))
    np.testing.assert_allclose(metrics['d_loss'], metrics['d_adversarial_loss'] + penalty,
                               rtol=1e-5)
    assert penalty > 0
