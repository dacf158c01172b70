"""Generator and discriminator modules, registered by the name a config uses."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

import flax.linen as nn
import ml_collections

from gan_jax.errors import ConfigError
from gan_jax.models.cyclegan import CycleGANGenerator
from gan_jax.models.dcgan import DCGANDiscriminator, DCGANGenerator
from gan_jax.models.mlp import MLPDiscriminator, MLPGenerator
from gan_jax.models.resnet import ResNetDiscriminator, ResNetGenerator
from gan_jax.models.srgan import SRGANDiscriminator, SRResNetGenerator
from gan_jax.models.stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator
from gan_jax.models.unet import PatchGANDiscriminator, UNetGenerator

GENERATORS: dict[str, type[nn.Module]] = {
    'mlp': MLPGenerator, 'dcgan': DCGANGenerator, 'resnet': ResNetGenerator,
    'unet': UNetGenerator, 'srresnet': SRResNetGenerator, 'cyclegan': CycleGANGenerator,
    'stylegan2': StyleGAN2Generator}
DISCRIMINATORS: dict[str, type[nn.Module]] = {
    'mlp': MLPDiscriminator, 'dcgan': DCGANDiscriminator, 'resnet': ResNetDiscriminator,
    'patchgan': PatchGANDiscriminator, 'srgan': SRGANDiscriminator,
    'stylegan2': StyleGAN2Discriminator}


def _build_one(role: str, module: type[nn.Module], model: ml_collections.ConfigDict,
               data_shape: tuple[int, ...], num_classes: int,
               sync_batch_norm: bool, scale: int = 1) -> nn.Module:
  fields = {f.name for f in dataclasses.fields(module)}
  kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in model.items() if k != 'name'}
  if 'num_classes' in kwargs and kwargs['num_classes'] != num_classes:
    raise ConfigError(f'config.{role}.num_classes: {kwargs["num_classes"]}, but the dataset has '
                      f'{num_classes} classes')
  if 'num_classes' in fields:
    kwargs['num_classes'] = num_classes
  kind = getattr(module, 'condition_kind', 'class')
  if kwargs.get('conditioning', 'none') != 'none' and kind == 'class' and not num_classes:
    raise ConfigError(f'config.{role}.conditioning: {kwargs["conditioning"]!r} needs class '
                      'labels, and the dataset has none')
  for shape_field in ('out_shape', 'image_shape'):
    if shape_field in fields:
      kwargs[shape_field] = tuple(data_shape)
  if 'image_size' in fields:
    kwargs['image_size'] = data_shape[0]
  if 'scale' in fields:
    kwargs['scale'] = scale
  if 'batch_norm_axis' in fields and sync_batch_norm:
    kwargs['batch_norm_axis'] = 'data'  # The mesh axis the train step runs over.
  model = module(**kwargs)
  if hasattr(model, 'check_shape'):
    model.check_shape(tuple(data_shape))
  return model


@dataclasses.dataclass(frozen=True)
class Networks:
  """The networks of a run by side and name: `{'g': ...}` and `{'d': ...}` for a noise-to-image
  GAN; `{'g_ab': ..., 'g_ba': ...}` and `{'d_a': ..., 'd_b': ...}` for CycleGAN."""
  generators: dict[str, nn.Module]
  discriminators: dict[str, nn.Module]
  shapes: dict[str, tuple[int, ...]]   # the data they see: {'x': ...}; {'source': ..., 'target': ...}
  fixed: dict[str, Any] = dataclasses.field(default_factory=dict)  # frozen weights losses use


def apply_model(model: nn.Module, params: Any, batch_stats: Any, *inputs: Any, train: bool = True,
                rngs: dict[str, jax.Array] | None = None) -> tuple[Any, Any]:
  """Runs a model on its inputs; returns its output and its batch statistics (BatchNorm's running
  averages, spectral norm's vectors), updated when training."""
  variables = {'params': params}
  if batch_stats:
    variables['batch_stats'] = batch_stats
    if train:
      out, updates = model.apply(variables, *inputs, train=True, mutable=['batch_stats'],
                                 rngs=rngs)
      return out, updates['batch_stats']
  return model.apply(variables, *inputs, train=train, rngs=rngs), batch_stats


PRECISIONS = {'f32': jnp.float32, 'bf16': jnp.bfloat16}


def _cast_floats(tree: Any, dtype: Any) -> Any:
  return jax.tree.map(lambda x: x.astype(dtype) if isinstance(x, jax.Array | jnp.ndarray) and
                      jnp.issubdtype(x.dtype, jnp.floating) else x, tree)


@dataclasses.dataclass(frozen=True)
class LowPrecision:
  """A model run in mixed precision (`config.precision = 'bf16'`): its parameters and floating
  inputs are cast to `dtype` for each call, so that matmuls, convolutions and activations run
  in it, while the parameters, their gradients, the optimizer states and the batch statistics
  stay float32; outputs and updated statistics come back as float32, for the losses and
  metrics. Everything else (fields, `init`) is the module's."""
  module: nn.Module
  dtype: Any = jnp.bfloat16

  def __getattr__(self, name: str) -> Any:
    return getattr(self.module, name)

  def init(self, *args, **kwargs) -> Any:
    return self.module.init(*args, **kwargs)

  def apply(self, variables: dict, *inputs, **kwargs) -> Any:
    variables = dict(variables, params=_cast_floats(variables['params'], self.dtype))
    out = self.module.apply(variables, *_cast_floats(inputs, self.dtype), **kwargs)
    return _cast_floats(out, jnp.float32)


# What a model can be conditioned on: integer class labels, or sentence embeddings (a
# text-conditioned model declares `condition_kind = 'text'`).
CONDITION_KINDS = ('class', 'text')


def condition_kind(model: nn.Module) -> str:
  """What a built model is conditioned on: 'class', 'text', or '' (nothing). A model with a
  `conditioning` other than 'none' takes its module's `condition_kind` (default 'class')."""
  if getattr(model, 'conditioning', 'none') == 'none':
    return ''
  return getattr(model, 'condition_kind', 'class')


def is_conditional(model: nn.Module) -> bool:
  """Whether a built model takes class labels."""
  return condition_kind(model) == 'class'


def build(config: ml_collections.ConfigDict, data_shape: tuple[int, ...],
          num_classes: int = 0, scale: int = 1) -> tuple[nn.Module, nn.Module]:
  """The (generator, discriminator) pair a config names, sized for the dataset's sample shape,
  number of classes and (super-resolution) scale."""
  generator = _build_one('generator', GENERATORS[config.generator.name], config.generator,
                         data_shape, num_classes, config.sync_batch_norm, scale)
  discriminator = _build_one('discriminator', DISCRIMINATORS[config.discriminator.name],
                             config.discriminator, data_shape, num_classes,
                             config.sync_batch_norm, scale)
  if config.pack > 1 and (is_conditional(generator) or is_conditional(discriminator)):
    raise ConfigError(f'config.pack: {config.pack} packs samples of different classes; use '
                      'pack=1 with conditional models')
  if config.precision != 'f32':
    return (LowPrecision(generator, PRECISIONS[config.precision]),
            LowPrecision(discriminator, PRECISIONS[config.precision]))
  return generator, discriminator
