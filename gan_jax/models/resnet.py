"""SNGAN ResNet generator and discriminator for 32x32 images (Miyato et al. 2018, Table 4).

Generator: z -> dense 4x4 -> three up-sampling residual blocks -> BN, ReLU, 3x3 conv, tanh;
with `conditioning='cbn'` its BatchNorms take per-class gains and biases (conditional BN).
Discriminator: an optimized down block, a down block, two plain blocks, ReLU, global sum
pooling, dense; spectral normalization on every layer (`spectral_norm`); with
`conditioning='projection'` (Miyato & Koyama 2018) it adds <embed(y), features>; with 'acgan'
(Odena et al. 2017) it also predicts the class: it returns (logits, class logits).
Without spectral normalization these are the ResNets of WGAN-GP (Gulrajani et al. 2017).
"""

from __future__ import annotations

from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.errors import ConfigError
from gan_jax.models.layers import Conv, batch_norm

_INIT = nn.initializers.xavier_uniform()


def _check(role: str, config) -> None:
  allowed = ('none', 'cbn') if role == 'generator' else ('none', 'projection', 'acgan')
  if config.get('conditioning', 'none') not in allowed:
    raise ConfigError(f'config.{role}.conditioning: {config.conditioning!r}; use one of {allowed}')
  if config.get('ch', 1) <= 0:
    raise ConfigError(f'config.{role}.ch: must be positive')


def _check_shape(shape: tuple[int, ...]) -> None:
  if len(shape) != 3 or shape[:2] != (32, 32):
    raise ConfigError(f'config.dataset: the SNGAN ResNet needs 32x32 images, got {shape}; set '
                      'config.dataset.image_size=32')


class ConditionalBatchNorm(nn.Module):
  """BatchNorm whose gain and bias come from the class (or are shared when unconditional)."""
  num_classes: int = 0
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array | None, train: bool) -> jax.Array:
    x = batch_norm(train, self.axis_name, use_scale=not self.num_classes,
                   use_bias=not self.num_classes)(x)
    if not self.num_classes:
      return x
    ch = x.shape[-1]
    gain = nn.Embed(self.num_classes, ch, embedding_init=nn.initializers.ones, name='gain')(labels)
    bias = nn.Embed(self.num_classes, ch, embedding_init=nn.initializers.zeros, name='bias')(labels)
    return x * gain[:, None, None, :] + bias[:, None, None, :]


def _upsample(x: jax.Array) -> jax.Array:
  return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def _downsample(x: jax.Array) -> jax.Array:
  return nn.avg_pool(x, (2, 2), strides=(2, 2))


class GeneratorBlock(nn.Module):
  ch: int
  num_classes: int = 0
  batch_norm_axis: str | None = None

  @nn.compact
  def __call__(self, x, labels, train):
    norm = lambda: ConditionalBatchNorm(self.num_classes, self.batch_norm_axis)
    h = nn.relu(norm()(x, labels, train))
    h = Conv(self.ch, (3, 3), kernel_init=_INIT)(_upsample(h))
    h = nn.relu(norm()(h, labels, train))
    h = Conv(self.ch, (3, 3), kernel_init=_INIT)(h)
    return h + Conv(self.ch, (1, 1), kernel_init=_INIT)(_upsample(x))


class ResNetGenerator(nn.Module):
  """z (and a label) -> 32x32 image in [-1, 1]."""
  out_shape: tuple[int, ...]
  num_classes: int = 0
  ch: int = 256
  conditioning: str = 'none'
  batch_norm_axis: str | None = None  # set by config.sync_batch_norm

  data_fields: ClassVar[tuple[str, ...]] = ('out_shape', 'num_classes', 'batch_norm_axis')
  check_config = staticmethod(_check)
  check_shape = staticmethod(_check_shape)

  @nn.compact
  def __call__(self, z: jax.Array, labels: jax.Array | None = None,
               train: bool = True) -> jax.Array:
    classes = self.num_classes if self.conditioning == 'cbn' else 0
    x = nn.Dense(4 * 4 * self.ch, kernel_init=_INIT)(z).reshape(z.shape[0], 4, 4, self.ch)
    for _ in range(3):
      x = GeneratorBlock(self.ch, classes, self.batch_norm_axis)(x, labels, train)
    x = nn.relu(batch_norm(train, self.batch_norm_axis)(x))
    return jnp.tanh(Conv(self.out_shape[-1], (3, 3), kernel_init=_INIT)(x))


class _Layers:
  """Makes layers, spectrally normalized or not; call as `layers(module, x)`."""

  def __init__(self, spectral_norm: bool, train: bool):
    self.spectral_norm, self.train = spectral_norm, train

  def __call__(self, layer: nn.Module, x: Any) -> jax.Array:
    if self.spectral_norm:
      return nn.SpectralNorm(layer)(x, update_stats=self.train)
    return layer(x)


class DiscriminatorBlock(nn.Module):
  ch: int
  down: bool
  first: bool = False          # the optimized first block: no ReLU before its first conv
  spectral_norm: bool = True

  @nn.compact
  def __call__(self, x, train):
    layers = _Layers(self.spectral_norm, train)
    h = x if self.first else nn.relu(x)
    h = layers(Conv(self.ch, (3, 3), kernel_init=_INIT), h)
    h = layers(Conv(self.ch, (3, 3), kernel_init=_INIT), nn.relu(h))
    if self.down:
      h = _downsample(h)
    shortcut = x
    if self.first:
      shortcut = layers(Conv(self.ch, (1, 1), kernel_init=_INIT), _downsample(x))
    elif self.down or x.shape[-1] != self.ch:
      shortcut = layers(Conv(self.ch, (1, 1), kernel_init=_INIT), x)
      shortcut = _downsample(shortcut) if self.down else shortcut
    return h + shortcut


class ResNetDiscriminator(nn.Module):
  """32x32 image (and a label) -> one logit."""
  num_classes: int = 0
  ch: int = 128
  spectral_norm: bool = True
  conditioning: str = 'none'

  data_fields: ClassVar[tuple[str, ...]] = ('num_classes',)
  check_config = staticmethod(_check)
  check_shape = staticmethod(_check_shape)

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array | None = None,
               train: bool = True) -> jax.Array | tuple[jax.Array, jax.Array]:
    layers = _Layers(self.spectral_norm, train)
    for i, down in enumerate((True, True, False, False)):
      x = DiscriminatorBlock(self.ch, down, first=i == 0, spectral_norm=self.spectral_norm)(
          x, train)
    features = jnp.sum(nn.relu(x), axis=(1, 2))  # Global sum pooling.
    logits = layers(nn.Dense(1, kernel_init=_INIT), features)[:, 0]
    if self.conditioning == 'projection':
      embedding = layers(nn.Embed(self.num_classes, self.ch, embedding_init=_INIT), labels)
      logits += jnp.sum(embedding * features, axis=-1)
    if self.conditioning == 'acgan':
      return logits, layers(nn.Dense(self.num_classes, kernel_init=_INIT), features)
    return logits
