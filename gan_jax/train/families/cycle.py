"""The cycle family: CycleGAN (Zhu et al. 2017), two generators between unpaired domains A and B.

Networks `{'g_ab', 'g_ba'}` (A -> B, B -> A) and `{'d_a', 'd_b'}` (d_b judges domain B). Each
step, as the reference implementation (junyanz/pytorch-CycleGAN-and-pix2pix):
1. the generators' loss, through the discriminators of the step's start:
   adversarial_weight x (fooling d_b with g_ab(a), and d_a with g_ba(b))
   + cycle_weight x (|g_ba(g_ab(a)) - a| + |g_ab(g_ba(b)) - b|)
   + identity_weight x cycle_weight x (|g_ab(b) - b| + |g_ba(a) - a|)
   + semantic_weight x the cross-entropy of a fixed domain-A classifier f on g_ab(a) against
     argmax f(a) (CyCADA's semantic consistency, Hoffman et al. 2018; 0 in CycleGAN);
2. each discriminator's loss on real images against earlier fakes drawn from its image pool;
3. one optimizer step per side, then the EMA.

The pools (`running['pools']`, `pool_size` fakes per discriminator, Shrivastava et al. 2017)
are queried image by image in global-batch order with keys from the step, so they evolve the
same way on any number of devices: every device gathers the global batch's fakes, runs the
same queries, and keeps its own rows.
"""

from __future__ import annotations

from typing import Callable

import os
import types

import jax
import jax.numpy as jnp
import ml_collections
import optax
from jax import lax
from jax.sharding import Mesh

from gan_jax import data, losses, models
from gan_jax.config import non_negative
from gan_jax.data.unpaired import known_truth_directions
from gan_jax.errors import ConfigError, EvaluateError
from gan_jax.metrics import classifier, evaluators
from gan_jax.models import Networks, apply_model
from gan_jax.train.parts import (check_one_update_per_step, device_mean, ema, no_preview_metrics,
                                 optimizer_step, translation_sample_kind, translation_sampler)

Batch = dict[str, jax.Array]
DIRECTIONS = {'g_ab': ('a', 'b'), 'g_ba': ('b', 'a')}   # generator -> (source, target) domain
JUDGES = {'a': 'd_a', 'b': 'd_b'}                        # domain -> its discriminator


# The family's own config fields and their defaults (beside gan_jax/config.py's base_config): the
# generators' loss is adversarial_weight x adversarial + cycle_weight x the cycle losses +
# identity_weight x cycle_weight x the identity losses + semantic_weight x CyCADA's semantic
# consistency loss (Hoffman et al. 2018: a fixed classifier of domain A, semantic_network, a
# weights file, '' = the shipped one of A, mnist for mnist_mnistm, must give each A -> B
# translation the class it gives its source); each discriminator judges fakes drawn from a pool
# of pool_size earlier ones.
FIELDS = dict(
    adversarial_weight=1.0,
    cycle_weight=10.0,
    identity_weight=0.5,
    pool_size=50,
    semantic_weight=0.0,
    semantic_network='',
)


def check(config: ml_collections.ConfigDict) -> None:
  if not data.is_unpaired(config):
    raise ConfigError('config.dataset.name: cycle training needs two unpaired domains: '
                      'mnist_mnistm, unpaired_folder:/path or cycle_gan/<pair>')
  check_one_update_per_step(config, 'cycle')
  non_negative(config, 'adversarial_weight', 'cycle_weight', 'identity_weight', 'pool_size',
               'semantic_weight')


# Domains whose A side gan_jax ships a classifier for: the default of `semantic_network`.
SHIPPED_A_CLASSIFIERS = {data.MNIST_MNISTM: 'mnist'}


def semantic_network(config: ml_collections.ConfigDict) -> dict:
  """The fixed classifier of domain A that the semantic loss consults: `semantic_network`, or the
  one gan_jax ships for the dataset's domain A."""
  shipped = SHIPPED_A_CLASSIFIERS.get(config.dataset.name)
  path = config.semantic_network or (classifier.weights_path(shipped) if shipped else '')
  if not path or not os.path.exists(path):
    where = f'no classifier weights at {path}' if path else (
        f'gan_jax ships no classifier of domain A of {config.dataset.name!r}')
    raise ConfigError(f'config.semantic_network: {where}; give a file made by `python -m '
                      'gan_jax.metrics.classifier` on domain A, or set semantic_weight 0')
  params, info = classifier.load_weights(path)
  return {'params': params, 'name': f'{info.get("dataset", path)} classifier'}


def networks(config: ml_collections.ConfigDict, dataset) -> Networks:
  shapes = dataset.shapes
  if config.identity_weight and shapes['a'][-1] != shapes['b'][-1]:
    raise ConfigError(f'config.identity_weight: the identity loss feeds each generator images of '
                      f'its target domain, so both need the same channels (A {shapes["a"][-1]}, '
                      f'B {shapes["b"][-1]}); set it 0')
  g_ab, d_b = models.build(config, shapes['b'])
  g_ba, d_a = models.build(config, shapes['a'])
  fixed = {'semantic': semantic_network(config)} if config.semantic_weight else {}
  return Networks({'g_ab': g_ab, 'g_ba': g_ba}, {'d_a': d_a, 'd_b': d_b},
                  {'a': tuple(shapes['a']), 'b': tuple(shapes['b'])}, fixed)


def sample_kind(config: ml_collections.ConfigDict, nets: Networks,
                dataset) -> evaluators.SampleKind:
  """Translations of held-out images each way (an entry names ab or ba), with true targets
  where the domains were made from each other (`known_truth_directions`)."""
  return translation_sample_kind(
      config, dataset, ('ab', 'ba'),
      lambda split, direction: direction in known_truth_directions(config.dataset.name, split))


# Translated from held-out sources by the EMA generators: as every translation family.
evaluation_sampler, preview_metrics = translation_sampler, no_preview_metrics


def preview(config: ml_collections.ConfigDict, nets: Networks, dataset, mesh: Mesh | None):
  """The sample figure: rows of source | translation | translated back, for 8 held-out images
  each way, A -> B above B -> A."""
  from gan_jax.train.samplers import TranslationPreview  # Heavy (matplotlib): only runs draw.
  return TranslationPreview(config, nets.generators, mesh, ('ab', 'ba'), 8, True)


def translator(config: ml_collections.ConfigDict, shapes: Callable[[], dict], direction: str,
               workdir: str
               ) -> tuple[Networks, str, int]:
  """`gan_jax.translate`: (the run's networks, built for the `shapes` it saved; the generator
  of `direction`; the channels of its sources)."""
  if not direction:
    raise EvaluateError(f'--direction: {workdir} translates both ways; give ab (A to B) or ba')
  shapes = shapes()
  nets = networks(config, types.SimpleNamespace(shapes=shapes))
  return nets, f'g_{direction}', shapes[direction[0]][-1]


def init_variables(config: ml_collections.ConfigDict, nets: Networks, g_key: jax.Array,
                   d_key: jax.Array) -> tuple[dict, dict, dict]:
  zeros = lambda side: jnp.zeros((1,) + nets.shapes[side], jnp.float32)
  g_vars = {name: nets.generators[name].init(jax.random.fold_in(g_key, i), zeros(source), None,
                                             train=False)
            for i, (name, (source, _)) in enumerate(DIRECTIONS.items())}
  d_vars = {JUDGES[side]: nets.discriminators[JUDGES[side]].init(jax.random.fold_in(d_key, i),
                                                                 zeros(side), train=False)
            for i, side in enumerate(('a', 'b'))}
  pools = {side: {'images': jnp.zeros((config.pool_size,) + nets.shapes[side], jnp.float32),
                  'count': jnp.zeros((), jnp.int32)} for side in ('a', 'b')}
  return g_vars, d_vars, {'pools': pools}


def query_pool(pool: dict[str, jax.Array], images: jax.Array,
               key: jax.Array) -> tuple[dict[str, jax.Array], jax.Array]:
  """The reference's ImagePool.query, image by image in order: (new pool, images to judge).

  While the pool fills, each image is stored and returned. Then, with probability 1/2 an image
  is returned as it is; otherwise a random stored image is returned and replaced by it.
  """
  size = pool['images'].shape[0]
  if size == 0:
    return pool, images

  def one(carry, inputs):
    stored, count = carry
    image, image_key = inputs
    use_key, pick_key = jax.random.split(image_key)
    filling = count < size
    swap = jax.random.uniform(use_key) > 0.5
    slot = jnp.where(filling, count, jax.random.randint(pick_key, (), 0, size))
    old = stored[slot]
    stored = stored.at[slot].set(jnp.where(filling | swap, image, old))
    return (stored, count + filling), jnp.where(filling | ~swap, image, old)

  keys = jax.vmap(jax.random.fold_in, (None, 0))(key, jnp.arange(images.shape[0]))
  (stored, count), out = lax.scan(one, (pool['images'], pool['count']), (images, keys))
  return {'images': stored, 'count': count}, out


def pooled_fakes(pools: dict, fakes: dict[str, jax.Array], key: jax.Array,
                 axis_name: str | None) -> tuple[dict, dict[str, jax.Array]]:
  """Each domain's pool queried with the global batch's fakes; this device's rows of the result."""
  new_pools, out = {}, {}
  for i, side in enumerate(('a', 'b')):
    local = fakes[side]
    every = lax.all_gather(local, axis_name, tiled=True) if axis_name else local
    new_pools[side], judged = query_pool(pools[side], every, jax.random.fold_in(key, i))
    start = lax.axis_index(axis_name) * local.shape[0] if axis_name else 0
    out[side] = lax.dynamic_slice_in_dim(judged, start, local.shape[0])
  return new_pools, out


def semantic_loss(params: dict, source: jax.Array, translated: jax.Array) -> jax.Array:
  """CyCADA's semantic consistency (Hoffman et al. 2018, Eq. 4), its source -> target term: the
  fixed classifier's cross-entropy on the translations against the classes it gives their sources.
  The target -> source term is left out: it needs the classifier's labels of domain B images,
  which a domain-A classifier gets mostly wrong (mnist_cnn: 16.5 % on MNIST-M-like digits)."""
  labels = jnp.argmax(classifier.logits(params, source), axis=-1)
  translated_logits = classifier.logits(params, translated)
  return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(translated_logits, labels))


def generator_loss(g_params, g_batch_stats, d_params, d_batch_stats, real: dict[str, jax.Array], *,
                   config: ml_collections.ConfigDict, nets: Networks):
  """(g_loss, (fakes by domain, new batch statistics, metrics))."""
  stats = dict(g_batch_stats)
  def translate(name, x):
    y, stats[name] = apply_model(nets.generators[name], g_params[name], stats[name], x)
    return y

  fakes = {'b': translate('g_ab', real['a']), 'a': translate('g_ba', real['b'])}
  rebuilt = {'a': translate('g_ba', fakes['b']), 'b': translate('g_ab', fakes['a'])}
  gan = losses.LOSSES[config.loss]
  adversarial = sum(gan.g_loss(apply_model(nets.discriminators[JUDGES[side]],
                                           d_params[JUDGES[side]], d_batch_stats[JUDGES[side]],
                                           fakes[side])[0]) for side in ('a', 'b'))
  cycle = sum(jnp.mean(jnp.abs(rebuilt[side] - real[side])) for side in ('a', 'b'))
  g_loss = config.adversarial_weight * adversarial + config.cycle_weight * cycle
  metrics = {'g_adversarial_loss': adversarial, 'g_cycle_loss': cycle}
  if config.identity_weight:
    identity = (jnp.mean(jnp.abs(translate('g_ab', real['b']) - real['b']))
                + jnp.mean(jnp.abs(translate('g_ba', real['a']) - real['a'])))
    g_loss += config.identity_weight * config.cycle_weight * identity
    metrics['g_identity_loss'] = identity
  if config.semantic_weight:
    semantic = semantic_loss(nets.fixed['semantic']['params'], real['a'], fakes['b'])
    g_loss += config.semantic_weight * semantic
    metrics['g_semantic_loss'] = semantic
  metrics['g_loss'] = g_loss
  return g_loss, (fakes, stats, metrics)


def discriminator_loss(d_params, d_batch_stats, real: dict[str, jax.Array],
                       fake: dict[str, jax.Array], *, config: ml_collections.ConfigDict,
                       nets: Networks):
  """(d_loss, (new batch statistics, metrics)): each discriminator's loss on its domain's real
  images against the pooled fakes, summed."""
  stats, metrics, d_loss = dict(d_batch_stats), {}, 0.0
  for side in ('a', 'b'):
    name = JUDGES[side]
    real_logits, stats[name] = apply_model(nets.discriminators[name], d_params[name], stats[name],
                                           real[side])
    fake_logits, stats[name] = apply_model(nets.discriminators[name], d_params[name], stats[name],
                                           fake[side])
    loss = losses.LOSSES[config.loss].d_loss(real_logits, fake_logits)
    metrics.update({f'{name}_loss': loss, f'{name}_real': jnp.mean(real_logits),
                    f'{name}_fake': jnp.mean(fake_logits)})
    d_loss += loss
  metrics['d_loss'] = d_loss
  return d_loss, (stats, metrics)


def update(state, batch: Batch, *, config: ml_collections.ConfigDict, nets: Networks,
           axis_name: str | None):
  """One step on this device's share of the batch: `a` and `b` [1, samples, ...]."""
  real = {'a': batch['a'][0], 'b': batch['b'][0]}
  (_, (fakes, g_batch_stats, g_metrics)), g_grads = jax.value_and_grad(generator_loss, has_aux=True)(
      state.g_params, state.g_batch_stats, state.d_params, state.d_batch_stats, real,
      config=config, nets=nets)
  pools, judged = pooled_fakes(state.running['pools'], jax.tree.map(lax.stop_gradient, fakes),
                               jax.random.fold_in(state.key, state.step), axis_name)
  d_grads, (d_batch_stats, d_metrics) = jax.grad(discriminator_loss, has_aux=True)(
      state.d_params, state.d_batch_stats, real, judged, config=config, nets=nets)

  g_grads, d_grads = device_mean(g_grads, axis_name), device_mean(d_grads, axis_name)
  g_params, g_opt_state = optimizer_step(state.g_tx, g_grads, state.g_opt_state, state.g_params)
  d_params, d_opt_state = optimizer_step(state.d_tx, d_grads, state.d_opt_state, state.d_params)
  new_state = state.replace(
      step=state.step + 1, g_params=g_params, d_params=d_params,
      g_ema_params=ema(g_params, state.g_ema_params, state.step, config.ema_decay),
      g_batch_stats=device_mean(g_batch_stats, axis_name),
      d_batch_stats=device_mean(d_batch_stats, axis_name),
      g_opt_state=g_opt_state, d_opt_state=d_opt_state, running={'pools': pools})
  metrics = {**g_metrics, **d_metrics, 'g_grad_norm': optax.tree.norm(g_grads),
             'd_grad_norm': optax.tree.norm(d_grads)}
  return new_state, device_mean(metrics, axis_name)
