"""The style family: StyleGAN2 (Karras et al. 2020) trained as stylegan2-ada-pytorch trains it,
with DiffAugment or ADA (`config.augment`) for limited data. Networks `{'g'}` and `{'d'}`.

Each step runs the reference's phases in its order, each one optimizer update:
1. G: the non-saturating loss of D's logits on G's (augmented) samples; the W average moves;
2. every `g_reg_interval` steps, path-length regularization of G on a batch `pl_batch_shrink`
   times smaller, weighted by `pl_weight` x the interval; its running mean decays by `pl_decay`
   towards the device-averaged mean length;
3. D: real against the new G's samples, both augmented;
4. every `d_reg_interval` steps, R1 on the real images (before augmentation), weighted by
   `r1_gamma` / 2 x the interval.
Both sides' Adam follow the reference's correction for lazy regularization: with
ratio = I / (I + 1), the learning rate times ratio and the betas to the power ratio
(`optimizers`). Style mixing: each example, with probability `mixing_prob`, takes its W from a
second latent from a random crossover on. The EMA generator averages with a half-life of
`ema_kimg` thousand images, ramped up as `ema_rampup` x the images seen.

Which regularizers a step runs is its kind (`step_kind`): each kind is its own compiled program,
chosen on the host by the step number (`gan_jax.train.step.StepsByKind`), so no convolution runs
inside a branch (RESULTS.md, "The style family's lazy regularization").
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax
from jax import lax
from jax.sharding import Mesh

from gan_jax import augment, data, losses, parallel
from gan_jax.config import non_negative
from gan_jax.errors import ConfigError
from gan_jax.metrics import evaluators
from gan_jax.models import Networks
from gan_jax.train import inputs
from gan_jax.train.families import noise
from gan_jax.train.parts import (augmentation_running, augmenter, device_mean,
                                 next_augmentation_running, no_preview_metrics, optimizer_step)

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]

# The family's own config fields and their defaults (beside gan_jax/config.py's base_config): the
# reference's (stylegan2-ada-pytorch, train.py's 'auto' and 'paper256' specs).
FIELDS = dict(
    r1_gamma=10.0,         # R1 weight gamma (the loss is gamma / 2 x R1)
    d_reg_interval=16,     # R1 every this many steps (lazy regularization)
    pl_weight=2.0,         # path-length regularization (0: none)
    pl_decay=0.01,         # decay of the path lengths' running mean
    pl_batch_shrink=2,     # the path-length batch is the batch divided by this
    g_reg_interval=4,      # path-length regularization every this many steps
    mixing_prob=0.9,       # style mixing probability (0: none)
    ema_kimg=10.0,         # EMA half-life in thousands of images
    ema_rampup=0.05,       # the half-life is at most this x the images seen (0: no ramp-up)
    augment=augment.default_config().to_dict(),  # DiffAugment or ADA of what D sees
)


def check(config: ml_collections.ConfigDict) -> None:
  non_negative(config, 'r1_gamma', 'pl_weight', 'ema_kimg', 'ema_rampup')
  for field in ('d_reg_interval', 'g_reg_interval', 'pl_batch_shrink'):
    if config[field] < 1:
      raise ConfigError(f'config.{field}: must be at least 1, got {config[field]}')
  for field in ('pl_decay', 'mixing_prob'):
    if not 0.0 <= config[field] <= 1.0:
      raise ConfigError(f'config.{field}: must be in [0, 1], got {config[field]}')
  augment.check_config(config.augment)
  for role in ('generator', 'discriminator'):
    if config[role].name != 'stylegan2':
      raise ConfigError(f"config.{role}.name: the style family trains StyleGAN2's networks; use "
                        f"'stylegan2', got {config[role].name!r}")
  if config.n_critic != 1 or config.pack != 1:
    raise ConfigError(f'config.{"n_critic" if config.n_critic != 1 else "pack"}: the style family '
                      'makes one discriminator update per step on unpacked images; use 1')
  if config.loss != 'non_saturating':
    raise ConfigError(f"config.loss: the style family trains with the reference's logistic "
                      f"non-saturating loss; use 'non_saturating', got {config.loss!r}")
  if config.batch_size % config.pl_batch_shrink:
    raise ConfigError(f'config.pl_batch_shrink: {config.pl_batch_shrink} does not divide the '
                      f'batch of {config.batch_size}')
  if data.is_paired(config) or data.is_unpaired(config) or config.dataset.name in data.TOY_DATASETS:
    raise ConfigError(f'config.dataset.name: the style family generates images of one dataset; '
                      f'{config.dataset.name!r} is not one')


def check_devices(config: ml_collections.ConfigDict, num_devices: int) -> None:
  """Minibatch standard deviation takes groups of consecutive examples of the global batch: a
  group must not straddle two devices, so it divides each device's batch (and the path-length
  batch splits evenly)."""
  per_device = config.batch_size // num_devices
  group = config.discriminator.get('mbstd_group', 4)
  if per_device % group:
    raise ConfigError(f'config.discriminator.mbstd_group: a group of {group} does not divide each '
                      f"device's batch of {per_device} ({config.batch_size} over {num_devices} "
                      'devices); use a group that divides it, or a larger batch')
  if per_device % config.pl_batch_shrink:
    raise ConfigError(f'config.pl_batch_shrink: {config.pl_batch_shrink} does not divide each '
                      f"device's batch of {per_device}")


def _lazy_adam(lr: float, b1: float, b2: float, interval: int, num_updates: int,
               schedule: str, decay_from: float) -> optax.GradientTransformation:
  from gan_jax.train.state import make_optimizer  # The state module imports the families.
  ratio = interval / (interval + 1)
  return make_optimizer(lr * ratio, b1 ** ratio, b2 ** ratio, schedule, num_updates, decay_from)


def optimizers(config: ml_collections.ConfigDict) -> tuple[optax.GradientTransformation,
                                                            optax.GradientTransformation]:
  """(G's, D's) Adam, corrected for lazy regularization; each side also updates on its
  regularization steps, which the linear schedule counts."""
  o, steps = config.optim, config.num_steps
  g_updates = steps + (-(-steps // config.g_reg_interval) if config.pl_weight else 0)
  d_updates = steps + (-(-steps // config.d_reg_interval) if config.r1_gamma else 0)
  return (_lazy_adam(o.g_lr, o.g_b1, o.g_b2, config.g_reg_interval, g_updates, o.schedule,
                     o.decay_from),
          _lazy_adam(o.d_lr, o.d_b1, o.d_b2, config.d_reg_interval, d_updates, o.schedule,
                     o.decay_from))


def networks(config: ml_collections.ConfigDict, dataset) -> Networks:
  return noise.networks(config, dataset)


def sample_kind(config: ml_collections.ConfigDict, nets: Networks,
                dataset) -> evaluators.SampleKind:
  return noise.sample_kind(config, nets, dataset)


preview_metrics = no_preview_metrics


def ema_description(config: ml_collections.ConfigDict) -> str:
  """The sampled generator, for the evaluators' protocol texts."""
  ramp = f', ramp-up {config.ema_rampup:g}' if config.ema_rampup else ''
  psi = config.generator.get('truncation_psi', 1.0)
  truncation = 'no truncation' if psi == 1.0 else f'truncation psi {psi:g}'
  return (f'the EMA generator (half-life {config.ema_kimg:g} kimg{ramp}; {truncation}; '
          'constant noise)')


def evaluation_sampler(config: ml_collections.ConfigDict, nets: Networks, dataset,
                       mesh: Mesh | None):
  """The EMA generator's samples from fixed latents, W truncated by `generator.truncation_psi`
  towards the running W average, with the constant noise."""
  sampler = noise.evaluation_sampler(config, nets, dataset, mesh)
  sampler.who = ema_description(config)
  return sampler


def preview(config: ml_collections.ConfigDict, nets: Networks, dataset, mesh: Mesh | None):
  """Class rows for a conditional generator (the noise family's figure); otherwise
  `StylePreview`: samples, a truncation sweep and a style-mixing grid."""
  if nets.generators['g'].classes:
    return noise.preview(config, nets, dataset, mesh)
  return StylePreview(config, nets.generators['g'])


class StylePreview:
  """An 8 x 8 figure of the EMA generator from fixed latents z_0, z_1, ... (constant noise):
  rows 1-3, samples z_0..z_23 (truncated by `generator.truncation_psi`); row 4, z_0's W
  truncated towards the W average with psi 1, 0.9, 0.8, 0.7, 0.6, 0.5, 0.25, 0; rows 5-8, a
  style-mixing grid: row 5 shows z_1..z_7 (the fine styles, one per column), column 1 of rows
  6-8 z_8..z_10 (the coarse styles, one per row), and each other cell takes its row's coarse
  styles (the first half of the W vectors, from the lowest resolution) and its column's fine
  ones. Latents below the samples are not truncated."""

  PSIS = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.25, 0.0)

  def __init__(self, config: ml_collections.ConfigDict, generator):
    z = inputs.preview_latents(config.seed, 24, config.latent_dim)
    mix_z = inputs.preview_latents(config.seed, 35, config.latent_dim)[24:]  # 11 more
    psis = jnp.asarray(self.PSIS)
    half, num_ws = generator.num_ws // 2, generator.num_ws

    def draw(g_params, g_stats):
      variables = {'params': g_params, 'batch_stats': g_stats}
      samples = generator.apply(variables, z, train=False)
      w = generator.apply(variables, jnp.concatenate([z[:1], mix_z]), method='mapping')
      w_avg = g_stats['w_avg']
      sweep = w_avg + psis[:, None] * (w[0] - w_avg)                      # [8, w_dim]
      fine, coarse = w[1:8], w[8:11]
      mixed = jnp.concatenate([jnp.broadcast_to(coarse[:, None, None], (3, 7, half, w.shape[-1])),
                               jnp.broadcast_to(fine[None, :, None], (3, 7, num_ws - half,
                                                                      w.shape[-1]))], axis=2)
      ws = jnp.concatenate([sweep[:, None].repeat(num_ws, 1), fine[:, None].repeat(num_ws, 1),
                            coarse[:, None].repeat(num_ws, 1), mixed.reshape(21, num_ws, -1)])
      images = jnp.clip(generator.apply(variables, ws, method='synthesis'), -1, 1)
      sweep_images, fine_images, coarse_images = images[:8], images[8:15], images[15:18]
      mixed_images = images[18:].reshape((3, 7) + images.shape[1:])
      blank = jnp.ones((1,) + images.shape[1:])
      grid = [samples, sweep_images, blank, fine_images]
      for i in range(3):
        grid += [coarse_images[i:i + 1], mixed_images[i]]
      return jnp.concatenate(grid)
    self.draw = jax.jit(draw, compiler_options=parallel.compiler_options())

  def __call__(self, state) -> tuple[Any, dict[str, float]]:
    from gan_jax import figures  # matplotlib: only runs that draw need it
    images = jax.device_get(self.draw(state.g_ema_params['g'], state.g_batch_stats['g']))
    return figures.image_grid(images, 8), {}


translator = noise.translator


def init_variables(config: ml_collections.ConfigDict, nets: Networks, g_key: jax.Array,
                   d_key: jax.Array) -> tuple[dict, dict, dict]:
  """Each network's variables (G's with the W average), and the running values: ADA's p, the
  path lengths' running mean and the last regularization penalties."""
  z = jnp.zeros((1, config.latent_dim), jnp.float32)
  labels = jnp.zeros((1,), jnp.int32)
  g_vars = nets.generators['g'].init(g_key, z, labels, train=False)
  d_vars = nets.discriminators['d'].init(d_key, jnp.zeros((1,) + nets.shapes['x']), labels,
                                         train=False)
  running = dict(augmentation_running(config), pl_mean=jnp.float32(0.0),
                 pl_penalty=jnp.float32(0.0), r1_penalty=jnp.float32(0.0))
  return {'g': g_vars}, {'d': d_vars}, running


def step_kind(config: ml_collections.ConfigDict, step: int) -> tuple[str, ...]:
  """The regularizers due at `step` (0-based), as the reference's phases: R1 ('r1') every
  `d_reg_interval` steps, path length ('pl') every `g_reg_interval` steps, from step 0."""
  return ((('pl',) if config.pl_weight and step % config.g_reg_interval == 0 else ()) +
          (('r1',) if config.r1_gamma and step % config.d_reg_interval == 0 else ()))


def ema_beta(config: ml_collections.ConfigDict, step: jax.Array) -> jax.Array:
  """The EMA's decay after update `step` (0-based): a half-life of `ema_kimg` thousand images,
  at most `ema_rampup` x the images seen before the update (the reference's cur_nimg)."""
  half_life = jnp.float32(config.ema_kimg * 1000)
  if config.ema_rampup:
    half_life = jnp.minimum(half_life, step.astype(jnp.float32) * config.batch_size *
                            config.ema_rampup)
  return 0.5 ** (config.batch_size / jnp.maximum(half_life, 1e-8))


def generate(generator, g_params, g_stats, style: dict[str, Any], update_w_avg: bool = False):
  """(images, ws, new G statistics) of `inputs.style_inputs`: W of z, mixed with the W of
  `z_mix` from each example's crossover on; the W average moved when `update_w_avg`."""
  variables = {'params': g_params, 'batch_stats': g_stats}
  ws, updates = generator.apply(variables, style['z'], style['labels'], update_w_avg,
                                method='mapping', mutable=['batch_stats'])
  ws_mix = generator.apply(variables, style['z_mix'], style['labels'], method='mapping')
  index = jnp.arange(generator.num_ws)[None, :, None]
  ws = jnp.where(index < style['crossover'][:, None, None], ws[:, None], ws_mix[:, None])
  images = generator.apply(variables, ws, style['noise_keys'], method='synthesis')
  return images, ws, updates['batch_stats']


def update(state, batch: Batch, *, config: ml_collections.ConfigDict, nets: Networks,
           axis_name: str | None, kind: tuple[str, ...]):
  """One step on this device's share of the batch: `x` [1, samples, *image shape], and for
  conditional models `label` [1, samples]; `kind`: the regularizers due (`step_kind`)."""
  generator, discriminator = nets.generators['g'], nets.discriminators['d']
  real_x, real_labels = batch['x'][0], batch['label'][0] if 'label' in batch else None
  n = real_x.shape[0]
  step_key = jax.random.fold_in(state.key, state.step)
  see = augmenter(config, state.running, axis_name) or (lambda images, key: images)
  loss = losses.LOSSES[config.loss]

  def style_inputs(phase: int, count: int):
    return inputs.style_inputs(jax.random.fold_in(step_key, phase), count, config.latent_dim,
                               generator.classes, generator.num_ws, config.mixing_prob, axis_name)

  def logits(d_params, images, labels, key):
    return discriminator.apply({'params': d_params}, see(images, key), labels)

  # 1. G: its samples judged by the current D; the W average moves.
  def g_main_loss(g_params):
    style = style_inputs(0, n)
    fake_x, _, g_stats = generate(generator, g_params, state.g_batch_stats['g'], style, True)
    fake_logits = logits(state.d_params['d'], fake_x, style['labels'], jax.random.fold_in(step_key, 10))
    return loss.g_loss(fake_logits), g_stats

  (g_loss, g_stats), g_grads = jax.value_and_grad(g_main_loss, has_aux=True)(state.g_params['g'])
  g_grads = device_mean({'g': g_grads}, axis_name)
  g_params, g_opt_state = optimizer_step(state.g_tx, g_grads, state.g_opt_state, state.g_params)
  g_stats = device_mean(g_stats, axis_name)

  # 2. Path-length regularization, on the steps whose kind has it.
  def pl_loss(g_params):
    style = style_inputs(1, n // config.pl_batch_shrink)
    images, ws, _ = generate(generator, g_params, g_stats, style)
    h, w = images.shape[1:3]
    y = jax.vmap(lambda k: jax.random.normal(jax.random.fold_in(k, 6), images.shape[1:]))(
        style['noise_keys']) / jnp.sqrt(h * w)
    synthesis = lambda ws: generator.apply({'params': g_params, 'batch_stats': g_stats}, ws,
                                           style['noise_keys'], method='synthesis')
    _, vjp = jax.vjp(synthesis, ws)
    lengths = losses.path_lengths(vjp(y)[0])
    mean = state.running['pl_mean']
    mean = lax.stop_gradient(mean + config.pl_decay * (device_mean(jnp.mean(lengths), axis_name) - mean))
    penalty = jnp.mean(jnp.square(lengths - mean))
    return penalty * config.pl_weight * config.g_reg_interval, (mean, penalty)

  pl_mean, pl_penalty = state.running['pl_mean'], state.running['pl_penalty']
  if 'pl' in kind:
    grads, (pl_mean, pl_penalty) = jax.grad(pl_loss, has_aux=True)(g_params['g'])
    g_params, g_opt_state = optimizer_step(state.g_tx, device_mean({'g': grads}, axis_name),
                                           g_opt_state, g_params)
    pl_penalty = device_mean(pl_penalty, axis_name)

  # 3. D: real images against the new G's samples.
  style = style_inputs(2, n)
  fake_x = lax.stop_gradient(generate(generator, g_params['g'], g_stats, style)[0])

  def d_main_loss(d_params):
    real_logits = logits(d_params, real_x, real_labels, jax.random.fold_in(step_key, 11))
    fake_logits = logits(d_params, fake_x, style['labels'], jax.random.fold_in(step_key, 12))
    metrics = {'d_real': jnp.mean(real_logits), 'd_fake': jnp.mean(fake_logits),
               'd_real_sign': jnp.mean(jnp.sign(real_logits))}
    return loss.d_loss(real_logits, fake_logits), metrics

  (d_loss, d_metrics), d_grads = jax.value_and_grad(d_main_loss, has_aux=True)(state.d_params['d'])
  d_grads = device_mean({'d': d_grads}, axis_name)
  d_params, d_opt_state = optimizer_step(state.d_tx, d_grads, state.d_opt_state, state.d_params)

  # 4. R1 on the real images before augmentation, on the steps whose kind has it.
  r1 = state.running['r1_penalty']
  if 'r1' in kind:
    def r1_loss(params):
      critic = lambda x: logits(params, x, real_labels, jax.random.fold_in(step_key, 13))
      penalty = losses.r1_penalty(critic, real_x)
      return penalty * (config.r1_gamma / 2) * config.d_reg_interval, penalty
    grads, r1 = jax.grad(r1_loss, has_aux=True)(d_params['d'])
    d_params, d_opt_state = optimizer_step(state.d_tx, device_mean({'d': grads}, axis_name),
                                           d_opt_state, d_params)
    r1 = device_mean(r1, axis_name)

  beta = ema_beta(config, state.step)
  new_state = state.replace(
      step=state.step + 1, g_params=g_params, d_params=d_params,
      g_ema_params=jax.tree.map(lambda p, e: p + beta * (e - p), g_params, state.g_ema_params),
      g_batch_stats={'g': g_stats}, g_opt_state=g_opt_state, d_opt_state=d_opt_state,
      running=dict(state.running, pl_mean=pl_mean, pl_penalty=pl_penalty, r1_penalty=r1))
  metrics = device_mean(dict(d_metrics, d_loss=d_loss, g_loss=g_loss,
                             g_grad_norm=optax.tree.norm(g_grads),
                             d_grad_norm=optax.tree.norm(d_grads)), axis_name)
  metrics.update(r1_penalty=r1, pl_penalty=pl_penalty, pl_mean=pl_mean, ema_beta=beta)
  if config.augment.name == 'ada':
    running = next_augmentation_running(config, new_state.running, metrics['d_real_sign'])
    new_state = new_state.replace(running=running)
    metrics['augment_p'] = running['ada']['p']
  return new_state, metrics
