"""DCGAN generator and discriminator (Radford et al. 2015) for 28x28, 32x32 and 64x64 images.

The layout of the PyTorch DCGAN example: a transposed convolution from z to a 4x4 map (7x7 for
28x28), stride-2 transposed convolutions with BatchNorm and ReLU, tanh; the discriminator
mirrors it with stride-2 convolutions, BatchNorm (not on the first layer) and LeakyReLU(0.2).
With `conditioning='concat'` (Mirza & Osindero 2014) the one-hot label is concatenated to z
and, broadcast over the image, to the discriminator's input channels. With 'acgan' (Odena et al.
2017) the generator is conditioned the same way and the discriminator, which does not see the
label, also predicts it: it returns (logits, class logits). With 'projection' (Miyato & Koyama
2018) the generator is conditioned the same way and the discriminator adds <embed(y), features>
to its logit, the features summed over the last hidden layer's positions.
"""

from __future__ import annotations

import math
from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.errors import ConfigError
from gan_jax.models.layers import Conv, ConvTranspose, batch_norm

_INIT = nn.initializers.normal(0.02)  # DCGAN: weights from N(0, 0.02).
SIZES = (28, 32, 64)


def _base_and_layers(size: int) -> tuple[int, int]:
  base = 7 if size == 28 else 4
  return base, int(math.log2(size // base))


def _scale_init(key, shape, dtype=jnp.float32):
  return 1.0 + 0.02 * jax.random.normal(key, shape, dtype)  # DCGAN: BN gains from N(1, 0.02).


def _check(role: str, config) -> None:
  allowed = ('none', 'concat', 'acgan', 'projection')
  if config.get('conditioning', 'none') not in allowed:
    raise ConfigError(f'config.{role}.conditioning: {config.conditioning!r}; use one of {allowed}')
  if config.get('ch', 64) <= 0:
    raise ConfigError(f'config.{role}.ch: must be positive')


def _check_shape(shape: tuple[int, ...]) -> None:
  if len(shape) != 3 or shape[0] != shape[1] or shape[0] not in SIZES:
    raise ConfigError(f'config.dataset: DCGAN needs square images of size {SIZES}, got {shape}; '
                      'set config.dataset.image_size')


class DCGANGenerator(nn.Module):
  """z (and a label) -> image in [-1, 1] of `out_shape`."""
  out_shape: tuple[int, ...]
  num_classes: int = 0
  ch: int = 64                 # ngf: channels of the last hidden layer, doubling towards z
  conditioning: str = 'none'
  batch_norm_axis: str | None = None  # set by config.sync_batch_norm

  data_fields: ClassVar[tuple[str, ...]] = ('out_shape', 'num_classes', 'batch_norm_axis')
  check_config = staticmethod(_check)
  check_shape = staticmethod(_check_shape)

  @nn.compact
  def __call__(self, z: jax.Array, labels: jax.Array | None = None,
               train: bool = True) -> jax.Array:
    size, _, channels = self.out_shape
    base, layers = _base_and_layers(size)
    if self.conditioning in ('concat', 'acgan', 'projection'):
      z = jnp.concatenate([z, jax.nn.one_hot(labels, self.num_classes, dtype=z.dtype)], axis=-1)
    x = z[:, None, None, :]
    x = ConvTranspose(self.ch * 2 ** (layers - 1), (base, base), padding='VALID',
                         use_bias=False, kernel_init=_INIT)(x)
    x = nn.relu(batch_norm(train, self.batch_norm_axis, scale_init=_scale_init)(x))
    for i in reversed(range(layers - 1)):
      x = ConvTranspose(self.ch * 2 ** i, (4, 4), strides=(2, 2), padding='SAME',
                           use_bias=False, kernel_init=_INIT)(x)
      x = nn.relu(batch_norm(train, self.batch_norm_axis, scale_init=_scale_init)(x))
    x = ConvTranspose(channels, (4, 4), strides=(2, 2), padding='SAME', use_bias=False,
                         kernel_init=_INIT)(x)
    return jnp.tanh(x)


class DCGANDiscriminator(nn.Module):
  """Image (and a label) -> one logit."""
  num_classes: int = 0
  ch: int = 64                 # ndf: channels of the first layer, doubling with depth
  conditioning: str = 'none'
  batch_norm_axis: str | None = None  # set by config.sync_batch_norm

  data_fields: ClassVar[tuple[str, ...]] = ('num_classes', 'batch_norm_axis')
  check_config = staticmethod(_check)
  check_shape = staticmethod(_check_shape)

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array | None = None,
               train: bool = True) -> jax.Array | tuple[jax.Array, jax.Array]:
    base, layers = _base_and_layers(x.shape[1])
    if self.conditioning == 'concat':
      onehot = jax.nn.one_hot(labels, self.num_classes, dtype=x.dtype)[:, None, None, :]
      x = jnp.concatenate([x, jnp.broadcast_to(onehot, x.shape[:3] + onehot.shape[-1:])], -1)
    for i in range(layers):
      x = Conv(self.ch * 2 ** i, (4, 4), strides=(2, 2), use_bias=False, kernel_init=_INIT)(x)
      if i:
        x = batch_norm(train, self.batch_norm_axis, scale_init=_scale_init)(x)
      x = nn.leaky_relu(x, 0.2)
    features = x
    x = Conv(1, (base, base), padding='VALID', use_bias=False, kernel_init=_INIT)(features)
    logits = x.reshape(x.shape[0])
    if self.conditioning == 'projection':
      embedding = nn.Embed(self.num_classes, features.shape[-1], embedding_init=_INIT)(labels)
      logits += jnp.sum(embedding * jnp.sum(features, axis=(1, 2)), axis=-1)
    if self.conditioning == 'acgan':
      class_logits = Conv(self.num_classes, (base, base), padding='VALID',
                          kernel_init=_INIT)(features).reshape(x.shape[0], self.num_classes)
      return logits, class_logits
    return logits
