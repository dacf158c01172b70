"""The noise-to-image family: MLP, DCGAN, conditional (concat, projection, AC-GAN), WGAN-GP,
SNGAN, PacGAN. Networks `{'g'}` and `{'d'}`; `n_critic` discriminator updates, then one generator
update on the fakes of the last one, then the EMA. Any of them can train with DiffAugment or ADA
(`config.augment`): D then sees augmented real and fake images, and G's loss its augmented fakes."""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import ml_collections
import optax
from jax import lax
from jax.sharding import Mesh

from gan_jax import augment, data, losses, models
from gan_jax.config import non_negative
from gan_jax.errors import ConfigError, EvaluateError
from gan_jax.metrics import evaluators, modes
from gan_jax.models import Networks, apply_model
from gan_jax.train import inputs
from gan_jax.train.parts import (augmentation_running, augmenter, device_mean, ema,
                                 next_augmentation_running, optimizer_step, pack, split_outputs)

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]


# The family's own config fields and their defaults (beside gan_jax/config.py's base_config).
FIELDS = dict(
    gp_weight=0.0,       # WGAN-GP gradient penalty
    r1_weight=0.0,       # R1 penalty on real data
    aux_weight=1.0,      # AC-GAN: weight of the class-prediction loss
    augment=augment.default_config().to_dict(),  # DiffAugment or ADA of what D sees
)


def check(config: ml_collections.ConfigDict) -> None:
  non_negative(config, 'gp_weight', 'r1_weight', 'aux_weight')
  augment.check_config(config.augment)
  if config.augment.name and config.dataset.name in data.TOY_DATASETS:
    raise ConfigError(f'config.augment.name: {config.augment.name} augments images; dataset '
                      f'{config.dataset.name!r} is 2-D points: leave it empty')
  if data.is_paired(config):
    raise ConfigError('config.family: noise-to-image training takes images, not the (source, '
                      f'target) pairs of dataset {config.dataset.name!r} (source '
                      f'{config.dataset.source!r}); use family=paired, or no dataset.source')
  if data.is_unpaired(config):
    raise ConfigError('config.family: noise-to-image training takes images of one domain, not '
                      f'the two domains of {config.dataset.name!r}; use family=cycle')


def networks(config: ml_collections.ConfigDict, dataset) -> Networks:
  generator, discriminator = models.build(config, dataset.shape, dataset.num_classes)
  return Networks({'g': generator}, {'d': discriminator}, {'x': tuple(dataset.shape)})


def sample_kind(config: ml_collections.ConfigDict, nets: Networks,
                dataset) -> evaluators.SampleKind:
  """Samples of the training distribution, compared with the training split."""
  return evaluators.SampleKind(not isinstance(dataset, data.ToyDataset),
                               models.is_conditional(nets.generators['g']), dataset.num_classes,
                               tuple(dataset.shape), reference_split=config.dataset.split)


def preview_metrics(config: ml_collections.ConfigDict) -> set[str]:
  """What the preview logs besides `evals`: the mode metrics on toy data."""
  return set(modes.MODE_METRICS) if config.dataset.name in data.TOY_DATASETS else set()


def evaluation_sampler(config: ml_collections.ConfigDict, nets: Networks, dataset,
                       mesh: Mesh | None):
  """What the evaluators score: the EMA generator's samples from fixed latents (and classes)."""
  from gan_jax.train.samplers import EvaluatorSampler  # Heavy (matplotlib): only runs need it.
  generator = nets.generators['g']
  num_classes = dataset.num_classes if models.is_conditional(generator) else 0
  return EvaluatorSampler(config, generator, num_classes, mesh)


def preview(config: ml_collections.ConfigDict, nets: Networks, dataset, mesh: Mesh | None):
  """The sample figure: a scatter plot with the mode metrics on toy data; an 8 x 8 grid of
  images, or one row per class (10 classes at most) for conditional models."""
  from gan_jax.train import samplers  # Heavy (matplotlib): only runs that draw need it.
  generator = nets.generators['g']
  if isinstance(dataset, data.ToyDataset):
    return samplers.ToyPreview(config, generator, dataset)
  if models.is_conditional(generator):
    rows = min(dataset.num_classes, 10)
    return samplers.GridPreview(config, generator, rows, 10, inputs.preview_labels(rows, 10))
  return samplers.GridPreview(config, generator, 8, 8)


def translator(config: ml_collections.ConfigDict, shapes: Callable[[], dict], direction: str,
               workdir: str):
  """`gan_jax.translate`: a noise-to-image generator translates nothing."""
  raise EvaluateError(f'{workdir} trained a {config.family} GAN (from noise); translate applies '
                      'generators trained on (source, target) pairs (family paired) or between '
                      'two domains (family cycle)')


def init_variables(config: ml_collections.ConfigDict, nets: Networks, g_key: jax.Array,
                   d_key: jax.Array) -> tuple[dict, dict, dict]:
  """Each network's variables from dummy inputs, and the running values (ADA's p)."""
  data_shape = nets.shapes['x']
  z = jnp.zeros((1, config.latent_dim), jnp.float32)
  labels = jnp.zeros((1,), jnp.int32)
  packed = jnp.zeros((1,) + tuple(data_shape[:-1]) + (data_shape[-1] * config.pack,), jnp.float32)
  g_vars = nets.generators['g'].init(g_key, z, labels, train=False)
  d_vars = nets.discriminators['d'].init(d_key, packed, labels, train=False)
  return {'g': g_vars}, {'d': d_vars}, augmentation_running(config)


def discriminator_loss(d_params, d_batch_stats, real_x, real_labels, fake_x, fake_labels,
                       key: jax.Array, *, config: ml_collections.ConfigDict,
                       discriminator, axis_name: str | None, see=None):
  """(d_loss, (new batch statistics, metrics)): the adversarial loss on packed real and fake
  batches, plus the AC-GAN class loss and the WGAN-GP and R1 penalties when weighted.

  With `see` (`parts.augmenter`), D judges augmented images, and the penalties are taken on
  them (the reference ADA code takes R1's gradient with respect to the images before
  augmentation)."""
  loss = losses.LOSSES[config.loss]
  if see is not None:
    real_x, fake_x = see(real_x, jax.random.fold_in(key, 2)), see(fake_x, jax.random.fold_in(key, 3))
  real_x, fake_x = pack(real_x, config.pack), pack(fake_x, config.pack)
  real_out, d_batch_stats = apply_model(discriminator, d_params, d_batch_stats, real_x, real_labels)
  fake_out, d_batch_stats = apply_model(discriminator, d_params, d_batch_stats, fake_x, fake_labels)
  (real_logits, real_classes), (fake_logits, fake_classes) = (split_outputs(real_out),
                                                              split_outputs(fake_out))
  adversarial = loss.d_loss(real_logits, fake_logits)
  metrics = {'d_real': jnp.mean(real_logits), 'd_fake': jnp.mean(fake_logits),
             'd_adversarial_loss': adversarial}
  if config.augment.name == 'ada':  # ADA's overfitting heuristic r_t
    metrics['d_real_sign'] = jnp.mean(jnp.sign(real_logits))
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
    mix = jax.vmap(jax.random.uniform)(inputs.per_example_keys(key, real_x.shape[0], axis_name))
    metrics['gp'] = losses.gradient_penalty(critic, real_x, fake_x, mix)
    d_loss += config.gp_weight * metrics['gp']
  if config.r1_weight:
    metrics['r1'] = losses.r1_penalty(critic, real_x)
    d_loss += 0.5 * config.r1_weight * metrics['r1']
  metrics['d_loss'] = d_loss
  return d_loss, (d_batch_stats, metrics)


def generator_loss(fake_x, fake_labels, d_params, d_batch_stats, *,
                   config: ml_collections.ConfigDict, discriminator, see=None,
                   key: jax.Array | None = None) -> jax.Array:
  """The generator's adversarial loss (plus AC-GAN's class loss) through the new critic, on the
  fakes as `see` augments them with `key`."""
  if see is not None:
    fake_x = see(fake_x, key)
  fake_out, _ = apply_model(discriminator, d_params, d_batch_stats, pack(fake_x, config.pack),
                            fake_labels)
  fake_logits, fake_classes = split_outputs(fake_out)
  g_loss = losses.LOSSES[config.loss].g_loss(fake_logits)
  if fake_classes is not None:  # AC-GAN: the generator makes its fakes recognisable.
    g_loss += config.aux_weight * losses.class_loss(fake_classes, fake_labels)
  return g_loss


def update(state, batch: Batch, *, config: ml_collections.ConfigDict, nets: Networks,
           axis_name: str | None):
  """One step on this device's share of the batch: `x` [n_critic, samples, *data shape], and
  for conditional models `label` [n_critic, samples]."""
  generator, discriminator = nets.generators['g'], nets.discriminators['d']
  num_samples = batch['x'].shape[1]
  num_classes = generator.num_classes if models.is_conditional(generator) else 0
  step_key = jax.random.fold_in(state.key, state.step)
  see = augmenter(config, state.running, axis_name)

  def generate(g_params, key):
    z, labels = inputs.noise_inputs(key, num_samples, config.latent_dim, num_classes, axis_name)
    fake_x, g_batch_stats = apply_model(generator, g_params, state.g_batch_stats['g'], z, labels)
    return fake_x, (labels, g_batch_stats)

  d_grad = jax.grad(discriminator_loss, has_aux=True)
  d_params, d_opt_state, d_batch_stats = state.d_params, state.d_opt_state, state.d_batch_stats
  # The n_critic updates are unrolled into one straight-line program rather than a lax.scan:
  # XLA:CPU runs convolutions inside a while loop ~14x slower (2.8 s against 0.2 s for a
  # DCGAN discriminator update, measured), and n_critic is small.
  for i in range(config.n_critic):
    key = jax.random.fold_in(step_key, i)
    real = jax.tree.map(lambda a: a[i], batch)
    if i < config.n_critic - 1:  # Batch-stat updates of these generator passes are dropped.
      fake_x, (fake_labels, _) = generate(state.g_params['g'], key)
    else:
      # The generator update learns from the fakes of the last critic update, as in the
      # PyTorch DCGAN example: one generator forward pass, its VJP kept for the update below.
      fake_x, g_vjp, (fake_labels, g_batch_stats) = jax.vjp(
          lambda p: generate(p, key), state.g_params['g'], has_aux=True)
    grads, (new_stats, d_metrics) = d_grad(
        d_params['d'], d_batch_stats['d'], real['x'], real.get('label'), lax.stop_gradient(fake_x),
        fake_labels, jax.random.fold_in(key, 1), config=config, discriminator=discriminator,
        axis_name=axis_name, see=see)
    grads = device_mean({'d': grads}, axis_name)
    d_params, d_opt_state = optimizer_step(state.d_tx, grads, d_opt_state, d_params)
    d_batch_stats = {'d': new_stats}
    d_metrics['d_grad_norm'] = optax.tree.norm(grads)

  g_loss, fake_grads = jax.value_and_grad(generator_loss)(
      fake_x, fake_labels, d_params['d'], d_batch_stats['d'], config=config,
      discriminator=discriminator, see=see, key=jax.random.fold_in(step_key, config.n_critic))
  g_grads = device_mean({'g': g_vjp(fake_grads)[0]}, axis_name)
  g_params, g_opt_state = optimizer_step(state.g_tx, g_grads, state.g_opt_state, state.g_params)

  new_state = state.replace(
      step=state.step + 1, g_params=g_params, d_params=d_params,
      g_ema_params=ema(g_params, state.g_ema_params, state.step, config.ema_decay),
      g_batch_stats=device_mean({'g': g_batch_stats}, axis_name),
      d_batch_stats=device_mean(d_batch_stats, axis_name),
      g_opt_state=g_opt_state, d_opt_state=d_opt_state)
  # Metrics of the last discriminator update, and of the generator update.
  metrics = device_mean(dict(d_metrics, g_loss=g_loss, g_grad_norm=optax.tree.norm(g_grads)),
                        axis_name)
  if config.augment.name == 'ada':
    running = next_augmentation_running(config, state.running, metrics['d_real_sign'])
    new_state = new_state.replace(running=running)
    metrics['augment_p'] = running['ada']['p']
  return new_state, metrics
