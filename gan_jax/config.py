"""The fields every experiment has, and the checks every family shares. Nothing here imports
`gan_jax.train`: the one check of a run, `gan_jax.train.checks.check`, calls this one first."""

from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any

import ml_collections

from gan_jax import losses, models
from gan_jax.errors import ConfigError
from gan_jax.parallel import bf16_missing


def base_config() -> ml_collections.ConfigDict:
  """The fields every family has, with their defaults; `gan_jax.train.families.base_config(name)`
  adds a family's own. Experiments change values; they never add fields.

  Model fields (`generator.*`, `discriminator.*`) are the fields of the Flax module named by
  `name`, checked against that module by `check`.
  """
  c = ml_collections.ConfigDict()
  c.family = 'noise'                 # noise (noise -> image), paired (pix2pix, SRGAN) or cycle
                                     # (CycleGAN); each family adds its own fields and defaults
                                     # (its FIELDS in gan_jax/train/families/)
  c.seed = 0
  c.num_seeds = 1                    # N > 1: the runs of seeds seed .. seed+N-1 as one vmapped
                                     # program; metrics per seed, with their mean and s.e.
  c.num_steps = 1000                 # generator updates
  c.batch_size = 64                  # global; discriminator examples per update (packs of `pack`)
  c.n_critic = 1                     # discriminator updates per generator update
  c.pack = 1                         # PacGAN: samples the discriminator judges jointly
  c.latent_dim = 128
  c.loss = 'non_saturating'
  c.init_generator_from = ''         # a workdir whose latest generator starts this run (SRGAN)
  c.ema_decay = 0.999                # 0 makes the EMA generator the generator itself
  c.sync_batch_norm = False          # batch statistics over the global batch, not per device
  c.precision = 'f32'                # or 'bf16': activations, matmuls and convolutions in bfloat16;
                                     # parameters, optimizer states, losses and metrics in float32

  c.dataset = ml_collections.ConfigDict()
  c.dataset.name = 'grid'            # ring, grid; a tfds image dataset; or folder:/path
  c.dataset.num_train = 100_000      # toy datasets and stacked_mnist: size of the training set
  c.dataset.split = 'train'          # image datasets: the tfds split
  c.dataset.data_dir = ''            # tfds data directory ('' = tfds's default)
  c.dataset.image_size = 0           # resize images to this square size (0 = as stored)
  c.dataset.download = True          # let tfds download a dataset that is not prepared
  c.dataset.read = 'auto'            # tfds image datasets: 'memory' (decoded once), 'stream' (example
                                     # by example from ArrayRecord files), 'auto' (stream above 4 GiB)
  c.dataset.source = ''              # paired proxies: edges, grey or lowres sources of each image
  c.dataset.scale = 4                # lowres: the downsampling factor
  c.dataset.test_split = 'test'      # translation: the held-out pairs of figures and evaluators

  c.generator = ml_collections.ConfigDict({'name': 'mlp'})
  c.discriminator = ml_collections.ConfigDict({'name': 'mlp'})

  c.optim = ml_collections.ConfigDict()
  c.optim.g_lr = 2e-4
  c.optim.d_lr = 2e-4
  c.optim.g_b1 = 0.5
  c.optim.g_b2 = 0.999
  c.optim.d_b1 = 0.5
  c.optim.d_b2 = 0.999
  c.optim.schedule = 'constant'      # or 'linear': decay to 0 at num_steps
  c.optim.decay_from = 0.0           # linear: the fraction of training before the decay starts

  c.eval = ml_collections.ConfigDict()
  c.eval.num_samples = 2500          # toy datasets: samples for the mode metrics
  c.eval.inception_weights = ''      # FID Inception .npz or pytorch-fid .pth ('' = cache/download)
  c.eval.cache_dir = ''              # real-data feature cache ('' = $GAN_JAX_CACHE/stats)
  c.eval.best_metric = ''            # e.g. 'fid': keep the best checkpoint by it in workdir/best
  # Sample-quality metrics, by name: each {metric, every, num_samples, extractor, real_split
  # ('' = the metric's or the family's: the training split for samples, test_split for
  # translations), num_real (0 = all of it)}; see gan_jax/metrics/evaluators.py and, for each
  # metric, gan_jax/metrics/records.py.
  c.evals = ml_collections.ConfigDict()

  c.log_every = 100
  c.eval_every = 1000
  c.checkpoint_every = 1000
  c.keep_checkpoints = 3
  c.resume_step = 0                  # 0: resume from the latest checkpoint; N: from checkpoint N,
                                     # moving later ones to workdir/set_aside/ (nothing is deleted)
  return c


def _check_type(path: str, value: Any, expected: Any) -> None:
  """Raises unless `value` fits `expected` (a default value, or a type annotation)."""
  if isinstance(expected, type):
    kind = expected
  elif typing.get_origin(expected) in (tuple, typing.Union) or expected is Any:
    return  # Shapes and optional fields: the module checks them.
  elif isinstance(expected, str):
    kind = {'int': int, 'float': float, 'str': str, 'bool': bool}.get(expected)
    if kind is None:
      return
  else:
    kind = type(expected)
  ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
  if kind is float and isinstance(value, int) and not isinstance(value, bool):
    ok = True
  if kind in (tuple, list) and isinstance(value, (tuple, list)):
    ok = True
  if not ok:
    raise ConfigError(f'config.{path}: expected {kind.__name__}, got {value!r}')


def _check_fields(prefix: str, config: ml_collections.ConfigDict,
                  schema: ml_collections.ConfigDict) -> None:
  for key, value in config.items():
    path = f'{prefix}{key}'
    if key not in schema:
      raise ConfigError(f'config.{path}: unknown field; known: {sorted(schema.keys())}')
    if key == 'evals':
      continue  # Entries are checked by gan_jax.metrics.evaluators.entries.
    if isinstance(schema[key], ml_collections.ConfigDict) and key not in ('generator',
                                                                          'discriminator'):
      if not isinstance(value, ml_collections.ConfigDict):
        raise ConfigError(f'config.{path}: expected a group of fields, got {value!r}')
      _check_fields(path + '.', value, schema[key])
    elif not isinstance(schema[key], ml_collections.ConfigDict):
      _check_type(path, value, schema[key])


def _check_model(role: str, model: ml_collections.ConfigDict, registry: dict[str, Any]) -> None:
  name = model.get('name')
  if name not in registry:
    raise ConfigError(f"config.{role}.name: unknown model {name!r}; known: {sorted(registry)}")
  module = registry[name]
  fields = {f.name: f for f in dataclasses.fields(module)
            if f.init and f.name not in ('parent', 'name')}
  hints = typing.get_type_hints(module)
  for key, value in model.items():
    if key == 'name':
      continue
    # Fields filled from the dataset; num_classes may be given, and is then checked against it.
    if key not in fields or (key in module.data_fields and key != 'num_classes'):
      settable = sorted(set(fields) - set(module.data_fields))
      raise ConfigError(f'config.{role}.{key}: not a field of {module.__name__}; known: {settable}')
    _check_type(f'{role}.{key}', value, hints.get(key, Any))
  if hasattr(module, 'check_config'):
    module.check_config(role, model)


def _check_finite(prefix: str, config: ml_collections.ConfigDict) -> None:
  # NaN passes every comparison-based range check (nan <= 0 is False), so test it first.
  for key, value in config.items():
    path = f'{prefix}{key}'
    if isinstance(value, ml_collections.ConfigDict):
      _check_finite(path + '.', value)
      continue
    for v in value if isinstance(value, (tuple, list)) else (value,):
      if isinstance(v, float) and not math.isfinite(v):
        raise ConfigError(f'config.{path}: must be a finite number, got {value}')


def _positive(config: ml_collections.ConfigDict, *paths: str) -> None:
  for path in paths:
    value = config
    for part in path.split('.'):
      value = value[part]
    if value <= 0:
      raise ConfigError(f'config.{path}: must be positive, got {value}')


def check(config: ml_collections.ConfigDict, schema: ml_collections.ConfigDict) -> None:
  """The checks every family shares: each field of `config` one of `schema` (`base_config()` and
  the family's own fields) and of its type, finite, within range; model names and their fields,
  the loss, the precision and the optimizer. Raises `ConfigError` naming the first bad field.

  `gan_jax.train.checks.check` runs it, then the family's, the data's and the evaluators'
  checks, before anything is built or compiled, so a typo costs seconds, not a compile.
  """
  _check_fields('', config, schema)
  _check_finite('', config)
  if config.precision not in models.PRECISIONS:
    raise ConfigError(f'config.precision: {config.precision!r}; use one of {list(models.PRECISIONS)}')
  if config.loss not in losses.LOSSES:
    raise ConfigError(f'config.loss: unknown loss {config.loss!r}; known: {sorted(losses.LOSSES)}')
  if config.optim.schedule not in ('constant', 'linear'):
    raise ConfigError(f"config.optim.schedule: {config.optim.schedule!r}; use 'constant' or 'linear'")
  if not 0.0 <= config.optim.decay_from < 1.0:
    raise ConfigError(f'config.optim.decay_from: must be in [0, 1) (the fraction of training at a '
                      f'constant rate), got {config.optim.decay_from}')
  _check_model('generator', config.generator, models.GENERATORS)
  _check_model('discriminator', config.discriminator, models.DISCRIMINATORS)
  if config.resume_step < 0:
    raise ConfigError(f'config.resume_step: must be >= 0 (0 = the latest checkpoint), '
                      f'got {config.resume_step}')
  _positive(config, 'num_steps', 'num_seeds', 'batch_size', 'n_critic', 'pack', 'latent_dim', 'log_every',
            'eval_every', 'checkpoint_every', 'keep_checkpoints', 'eval.num_samples',
            'dataset.num_train', 'dataset.scale', 'optim.g_lr', 'optim.d_lr')
  non_negative(config, 'dataset.image_size')
  if not 0.0 <= config.ema_decay < 1.0:
    raise ConfigError(f'config.ema_decay: must be in [0, 1), got {config.ema_decay}')
  for path in ('g_b1', 'g_b2', 'd_b1', 'd_b2'):
    if not 0.0 <= config.optim[path] < 1.0:
      raise ConfigError(f'config.optim.{path}: must be in [0, 1), got {config.optim[path]}')


def non_negative(config: ml_collections.ConfigDict, *paths: str) -> None:
  """Raises `ConfigError` naming the first of `paths` (dotted) whose value is negative."""
  for path in paths:
    value = config
    for part in path.split('.'):
      value = value[part]
    if value < 0:
      raise ConfigError(f'config.{path}: must be >= 0, got {value}')


def check_precision(config: ml_collections.ConfigDict, devices) -> None:
  """bf16 only where the devices have bfloat16 arithmetic."""
  if config.precision == 'bf16' and (why := bf16_missing(devices)):
    raise ConfigError(f"config.precision: bf16, but {why}; use --config.precision=f32")


def check_devices(config: ml_collections.ConfigDict, num_devices: int) -> None:
  """The global batch must split evenly over devices (packs are never split)."""
  if config.batch_size % num_devices and config.num_seeds > 1:
    raise ConfigError(
        f'config.num_seeds: each of the {config.num_seeds} seeds splits its batch of '
        f'{config.batch_size} over the {num_devices} devices, and {config.batch_size} is not '
        f'divisible by {num_devices}; use a config.batch_size that is a multiple of '
        f'{num_devices}, or fewer devices')
  if config.batch_size % num_devices:
    raise ConfigError(
        f'config.batch_size: {config.batch_size} is not divisible by the {num_devices} devices; '
        f'use a multiple of {num_devices}')
