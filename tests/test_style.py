"""The style family: its step against a reference written here from stylegan2-ada-pytorch's
training loop (phases Gmain, Greg, Dmain, Dreg; lazy regularization; EMA in images), 1 device =
8 devices, exact resume, the runlocal experiment and its bad-input lines."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.sharding import Mesh

from experiments import stylegan2_cifar
from gan_jax import augment, parallel
from gan_jax.errors import ConfigError
from gan_jax.train import train_and_evaluate
from gan_jax.train.checks import check
from gan_jax.train.families import check_devices, style
from gan_jax.train.run import build_run
from gan_jax.train.step import make_train_step
from conftest import RandomImages


def small_config(**overrides):
  """Every part of the step in use: path length and R1 every 2 steps, style mixing, ADA with
  p moving every step, a class-conditional G and D, non-default learning rates and betas."""
  c = stylegan2_cifar.get_config('runlocal,conditional,ada')
  c.evals, c.eval.best_metric = {}, ''
  c.latent_dim = c.generator.w_dim = 8
  c.generator.channel_max = c.discriminator.channel_max = 4
  c.generator.map_layers = 2
  c.discriminator.cmap_layers = 2
  c.d_reg_interval, c.g_reg_interval = 2, 2
  c.pl_weight, c.r1_gamma, c.mixing_prob = 2.0, 1.0, 0.9
  c.ema_kimg, c.ema_rampup = 0.05, 0.5
  c.augment.update(p=0.3, interval=1, kimg=0.1)
  c.optim.update(g_lr=0.002, d_lr=0.003, g_b1=0.1, d_b1=0.2, g_b2=0.99, d_b2=0.98)
  for key, value in overrides.items():
    group, _, field = key.rpartition('.')
    (c[group] if group else c)[field] = value
  return check(c)


def example_keys(state, phase, n):
  """Example j's key in `phase` of the state's step (docs: gan_jax/train/inputs.py), [n]."""
  phase_key = jax.random.fold_in(jax.random.fold_in(state.key, state.step), phase)
  return jax.vmap(lambda j: jax.random.fold_in(phase_key, j))(jnp.arange(n))


def each(f, keys, *args):
  """f(key, *args) of each example's key."""
  return jax.vmap(lambda k: f(k, *args))(keys)


def reference_step(config, nets, state, batch, step: int):
  """One step from the reference's definition, on one device; returns (state fields, metrics).
  `step` is the state's step, as a Python number (which phases run)."""
  g, d = nets.generators['g'], nets.discriminators['d']
  real, real_c = batch['x'][0], batch['label'][0]
  n, num_ws = real.shape[0], g.num_ws
  step_key = jax.random.fold_in(state.key, step)
  p = state.running['ada']['p']

  def seen(images, key):  # what D sees: ADA at p, each example by its index's key
    keys = jax.vmap(lambda j: jax.random.fold_in(key, j))(jnp.arange(images.shape[0]))
    return augment.augment('ada', images, keys, p, config.augment.policy)

  def run_g(params, stats, phase, count):
    """run_G with style mixing: (images, ws, W of the main latents, classes, synthesis, keys)."""
    keys = example_keys(state, phase, count)
    z = each(lambda k: jax.random.normal(k, (config.latent_dim,)), keys)
    c = each(lambda k: jax.random.randint(jax.random.fold_in(k, 1), (), 0, 10), keys)
    z2 = each(lambda k: jax.random.normal(jax.random.fold_in(k, 2), (config.latent_dim,)), keys)
    variables = {'params': params, 'batch_stats': stats}
    w = g.apply(variables, z, c, method='mapping')
    w2 = g.apply(variables, z2, c, method='mapping')

    def mixed(k, w, w2):  # ws[:cutoff] from z, ws[cutoff:] from z2
      mixes = jax.random.uniform(jax.random.fold_in(k, 3)) < config.mixing_prob
      cutoff = jnp.where(mixes, jax.random.randint(jax.random.fold_in(k, 4), (), 1, num_ws), num_ws)
      return jnp.where((jnp.arange(num_ws) < cutoff)[:, None], w, w2)
    ws = jax.vmap(mixed)(keys, w, w2)
    noise_keys = each(lambda k: jax.random.fold_in(k, 5), keys)
    synthesis = lambda ws: g.apply(variables, ws, noise_keys, method='synthesis')
    return synthesis(ws), ws, w, c, synthesis, keys

  def adam(lr, b1, b2, interval):
    ratio = interval / (interval + 1)
    return optax.adam(optax.constant_schedule(lr * ratio), b1=b1 ** ratio, b2=b2 ** ratio)

  o = config.optim
  g_opt = adam(o.g_lr, o.g_b1, o.g_b2, config.g_reg_interval)
  d_opt = adam(o.d_lr, o.d_b1, o.d_b2, config.d_reg_interval)

  # Gmain: softplus(-D(aug(G(z)))); the W average lerps towards this batch's mean W.
  def g_main(params):
    images, _, w, c, _, _ = run_g(params, state.g_batch_stats['g'], 0, n)
    logits = d.apply({'params': state.d_params['d']}, seen(images, jax.random.fold_in(step_key, 10)), c)
    return jnp.mean(jax.nn.softplus(-logits)), w

  (g_loss, w), grads = jax.value_and_grad(g_main, has_aux=True)(state.g_params['g'])
  beta_w = g.w_avg_beta
  w_avg = jnp.mean(w, 0) * (1 - beta_w) + beta_w * state.g_batch_stats['g']['w_avg']
  g_stats = {'w_avg': w_avg}
  updates, g_opt_state = g_opt.update({'g': grads}, state.g_opt_state, state.g_params)
  g_params = optax.apply_updates(state.g_params, updates)

  # Greg on steps divisible by the interval: pl_weight x interval x (|J^T y| - running mean)^2.
  pl_mean = state.running['pl_mean']
  if step % config.g_reg_interval == 0:
    def g_reg(params):
      images, ws, _, _, synthesis, keys = run_g(params, g_stats, 1, n // config.pl_batch_shrink)
      y = each(lambda k: jax.random.normal(jax.random.fold_in(jax.random.fold_in(k, 5), 6),
                                           images.shape[1:]), keys) / np.sqrt(8 * 8)
      grads = jax.grad(lambda ws: jnp.sum(synthesis(ws) * y))(ws)
      lengths = jnp.sqrt(jnp.mean(jnp.sum(grads ** 2, axis=2), axis=1))
      mean = jax.lax.stop_gradient(pl_mean + config.pl_decay * (jnp.mean(lengths) - pl_mean))
      return jnp.mean((lengths - mean) ** 2) * config.pl_weight * config.g_reg_interval, mean
    grads, pl_mean = jax.grad(g_reg, has_aux=True)(g_params['g'])
    updates, g_opt_state = g_opt.update({'g': grads}, g_opt_state, g_params)
    g_params = optax.apply_updates(g_params, updates)

  # Dmain: softplus(D(aug(G(z)))) + softplus(-D(aug(x))), G's images from the new G.
  fakes, _, _, fake_c, _, _ = run_g(g_params['g'], g_stats, 2, n)

  def d_main(params):
    real_logits = d.apply({'params': params}, seen(real, jax.random.fold_in(step_key, 11)), real_c)
    fake_logits = d.apply({'params': params}, seen(fakes, jax.random.fold_in(step_key, 12)), fake_c)
    loss = jnp.mean(jax.nn.softplus(fake_logits)) + jnp.mean(jax.nn.softplus(-real_logits))
    return loss, jnp.mean(jnp.sign(real_logits))

  (d_loss, real_sign), grads = jax.value_and_grad(d_main, has_aux=True)(state.d_params['d'])
  updates, d_opt_state = d_opt.update({'d': grads}, state.d_opt_state, state.d_params)
  d_params = optax.apply_updates(state.d_params, updates)

  # Dreg: R1 = |grad_x D(aug(x))|^2 summed over pixels, x gamma / 2 x interval.
  if step % config.d_reg_interval == 0:
    def d_reg(params):
      key = jax.random.fold_in(step_key, 13)
      grad = jax.grad(lambda x: jnp.sum(d.apply({'params': params}, seen(x, key), real_c)))(real)
      return jnp.mean(jnp.sum(grad ** 2, axis=(1, 2, 3))) * config.r1_gamma / 2 * config.d_reg_interval
    grads = jax.grad(d_reg)(d_params['d'])
    updates, d_opt_state = d_opt.update({'d': grads}, d_opt_state, d_params)
    d_params = optax.apply_updates(d_params, updates)

  # G_ema: half-life ema_kimg thousand images, at most ema_rampup x the images seen so far.
  ema_nimg = min(config.ema_kimg * 1000, step * config.batch_size * config.ema_rampup)
  beta = 0.5 ** (config.batch_size / max(ema_nimg, 1e-8))
  ema = jax.tree.map(lambda p, e: p + (e - p) * beta, g_params, state.g_ema_params)
  # ADA: p moves every `interval` steps by sign(r_t - target) x batch x interval / (kimg x 1000).
  a = config.augment
  new_p = jnp.clip(p + jnp.sign(real_sign - a.target) * config.batch_size * a.interval /
                   (a.kimg * 1000), 0.0, 1.0)
  fields = dict(g_params=g_params, d_params=d_params, g_ema_params=ema,
                g_batch_stats={'g': g_stats}, g_opt_state=g_opt_state, d_opt_state=d_opt_state)
  return fields, dict(g_loss=g_loss, d_loss=d_loss, pl_mean=pl_mean, augment_p=new_p,
                      ema_beta=beta)


def run_steps(config, devices, steps=2):
  """(state, metrics of each step) after `steps` train steps on `devices` devices."""
  mesh = Mesh(np.array(jax.devices()[:devices]), ('data',))
  run = build_run(config, dataset=RandomImages((8, 8, 3)))
  state = parallel.replicate(run.state, mesh)
  train_step = make_train_step(config, run.nets, mesh)
  states, metrics = [jax.device_get(state)], []
  types = [jax.typeof(x) for x in jax.tree.leaves(state)]
  for step in range(steps):
    state, m = train_step(state, parallel.shard_batch(RandomImages((8, 8, 3)).batch(step), mesh))
    states.append(jax.device_get(state))
    metrics.append(jax.device_get(m))
  # The new state has the initial state's types (weak types included): each kind of step
  # compiles once.
  assert [jax.typeof(x) for x in jax.tree.leaves(state)] == types
  return run.nets, states, metrics


def test_style_step_equals_the_reference_and_eight_devices_match_one():
  """The first step (both regularizers) against the reference; the second (neither) leaves the
  penalties and the path-length mean as they were; then the first step on 8 devices."""
  config = small_config()
  nets, states, metrics = run_steps(config, 1)
  reference = jax.jit(lambda state, batch: reference_step(config, nets, state, batch, 0))
  expected, expected_metrics = jax.device_get(reference(states[0], RandomImages((8, 8, 3)).batch(0)))
  for name, tree in expected.items():
    jax.tree.map(lambda want, got: np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6,
                                                              err_msg=name),
                 tree, getattr(states[1], name))
  for key, want in expected_metrics.items():
    np.testing.assert_allclose(metrics[0][key], want, rtol=1e-5, atol=1e-7, err_msg=key)
  assert metrics[0]['r1_penalty'] > 0 and metrics[0]['pl_mean'] > 0
  for key in ('r1_penalty', 'pl_penalty', 'pl_mean'):  # not computed on step 1
    assert metrics[1][key] == metrics[0][key], key
  assert states[2].running['ada']['p'] == metrics[1]['augment_p'] != metrics[0]['augment_p']
  _, eight, metrics8 = run_steps(config, 8, steps=1)
  for name in ('g_params', 'd_params', 'g_ema_params', 'g_batch_stats', 'g_opt_state',
               'd_opt_state', 'running'):
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5, err_msg=name),
                 getattr(states[1], name), getattr(eight[1], name))
  for key in metrics[0]:
    np.testing.assert_allclose(metrics[0][key], metrics8[0][key], rtol=2e-4, atol=1e-5, err_msg=key)


def test_lazy_regularization_corrects_adam_and_the_ema_follows_images():
  config = small_config(d_reg_interval=16, g_reg_interval=4)
  kinds = [style.step_kind(config, step) for step in range(17)]
  assert kinds[0] == kinds[16] == ('pl', 'r1') and kinds[4] == kinds[8] == ('pl',)
  assert kinds[1] == () and sum(k == () for k in kinds[:16]) == 12
  assert style.step_kind(small_config(pl_weight=0.0, r1_gamma=0.0), 0) == ()
  g_tx, d_tx = style.optimizers(config)
  # One Adam step from zero moments moves each parameter by lr x ratio (bias-corrected).
  for tx, lr, ratio in ((g_tx, config.optim.g_lr, 4 / 5), (d_tx, config.optim.d_lr, 16 / 17)):
    updates, _ = tx.update({'w': jnp.ones(3)}, tx.init({'w': jnp.zeros(3)}))
    np.testing.assert_allclose(updates['w'], -lr * ratio, rtol=1e-4)
  c = small_config(ema_kimg=10.0, ema_rampup=0.05, batch_size=64)
  assert float(style.ema_beta(c, jnp.int32(0))) == 0.0  # the first average is G itself
  # 1,000 steps of 64 images: the ramped half-life is 3,200 images, below 10 kimg.
  assert float(style.ema_beta(c, jnp.int32(1000))) == pytest.approx(0.5 ** (64 / 3200))
  assert float(style.ema_beta(c, jnp.int32(10 ** 6))) == pytest.approx(0.5 ** (64 / 10_000))


def test_stylegan2_cifar_runlocal_resumes_exactly(tmp_path, tfds_dir, monkeypatch):
  """ADA's p, the path-length mean, the W average and the EMA resume as one run has them."""
  from test_train import assert_same_run, interrupt_and_resume, logged_every_step
  config = logged_every_step(stylegan2_cifar.get_config('runlocal,ada'), tfds_dir, num_steps=6)
  # Two kinds of step (each compiles its program): both regularizers, and neither.
  config.pl_weight, config.mixing_prob, config.g_reg_interval, config.d_reg_interval = 2.0, 0.9, 2, 2
  config.augment.update(p=0.5, interval=1, kimg=0.1)
  full, resumed = str(tmp_path / 'full'), str(tmp_path / 'resumed')
  train_and_evaluate(config, full)
  interrupt_and_resume(config, resumed, monkeypatch, stop_at=4)
  state, rows = assert_same_run(config, full, resumed, 6)
  assert len({r['augment_p'] for r in rows}) > 1 and 0 < rows[-1]['pl_mean']
  assert np.any(state.g_batch_stats['g']['w_avg'] != 0)
  protocol = rows[-1]['eval/fd_cifar10_cnn_protocol']
  assert 'samples of the EMA generator (half-life 0.01 kimg, ramp-up 0.05; no truncation; ' \
         'constant noise) at step 6' in protocol
  with open(os.path.join(full, 'config.json')) as f:
    assert json.load(f)['family'] == 'style'
  # The figure: 3 rows of samples, the truncation sweep, and the style-mixing grid below a blank.
  from PIL import Image
  figure = np.asarray(Image.open(os.path.join(full, 'samples_0000006.png')))
  assert figure.shape[:2] == (8 * 34 + 2, 8 * 34 + 2)
  cell = lambda r, c: figure[2 + 34 * r:34 * (r + 1), 2 + 34 * c:34 * (c + 1)]
  # psi 0 (the last of the sweep) is the average W's image, not z_0's (the first).
  assert not np.array_equal(cell(3, 0), cell(3, 7))
  assert np.all(cell(4, 0) == 255) and not np.all(cell(4, 1) == 255)
  assert not np.array_equal(cell(5, 1), cell(6, 1))  # rows: other coarse styles


@pytest.mark.parametrize('overrides,message', [
    ({'discriminator.mbstd_group': 4}, r"config.discriminator.mbstd_group: a group of 4 does not "
     r"divide each device's batch of 2 \(16 over 8 devices\)"),
    ({'generator.truncation_psi': 1.5}, r'config.generator.truncation_psi: must be in \[0, 1\]'),
    ({'generator.base': (4, 6)}, r"config.generator.base: \(4, 6\) doubled a whole number of "
     r"times must give the images' 8x8"),
    ({'discriminator.architecture': 'skip'}, r"config.discriminator.architecture: 'skip'; use "
     r"'orig' or 'resnet'"),
    ({'d_reg_interval': 0}, r'config.d_reg_interval: must be at least 1, got 0'),
    ({'mixing_prob': 1.5}, r'config.mixing_prob: must be in \[0, 1\], got 1.5'),
    ({'pl_batch_shrink': 3}, r'config.pl_batch_shrink: 3 does not divide the batch of 16'),
    ({'loss': 'hinge'}, r"config.loss: the style family trains with the reference's logistic"),
    ({'gp_weight': 1.0}, r'config.gp_weight: a field of the noise family'),
])
def test_style_config_mistakes_are_one_line_before_any_build(overrides, message):
  with pytest.raises(ConfigError, match=message):
    config = small_config(**overrides)
    check_devices(config, 8)
    build_run(config, dataset=RandomImages((8, 8, 3)))
