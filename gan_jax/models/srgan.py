"""SRGAN's networks (Ledig et al. 2017, Fig. 4): the SRResNet generator and the discriminator.

SRResNet: a 9x9 convolution with PReLU; `blocks` residual blocks (3x3 conv, BN, PReLU, 3x3 conv,
BN, plus the input); a 3x3 conv with BN plus the first layer's output; per factor of 2, a 3x3
convolution to 4x the channels, a sub-pixel shuffle and PReLU; a 9x9 convolution to the image.
The paper's B = 16 blocks of 64 channels, x4 (two upsampling stages). Output unbounded, as the
paper's; metrics and figures clip to [-1, 1].

Discriminator: 3x3 convolutions of 64, 64/2, 128, 128/2, 256, 256/2, 512, 512/2 channels/stride,
LeakyReLU 0.2, BN on all but the first; dense 1024, LeakyReLU, dense 1.
"""

from __future__ import annotations

import math
from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.errors import ConfigError
from gan_jax.models.layers import Conv, batch_norm


class PReLU(nn.Module):
  """PyTorch's nn.PReLU(): one learned slope, initialized to 0.25."""

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    slope = self.param('slope', nn.initializers.constant(0.25), (), jnp.float32)
    return jnp.where(x >= 0, x, slope * x)


def pixel_shuffle(x: jax.Array, factor: int) -> jax.Array:
  """[N, H, W, C r^2] -> [N, H r, W r, C], PyTorch's PixelShuffle channel order."""
  n, h, w, c = x.shape
  x = x.reshape(n, h, w, c // factor ** 2, factor, factor)
  return x.transpose(0, 1, 4, 2, 5, 3).reshape(n, h * factor, w * factor, c // factor ** 2)


def _check(role: str, config) -> None:
  for field in ('ch', 'blocks'):
    if config.get(field, 1) <= 0:
      raise ConfigError(f'config.{role}.{field}: must be positive')


class SRResNetGenerator(nn.Module):
  """low-resolution image [N, h, w, C] -> [N, h s, w s, C], s = `scale` (a power of 2)."""
  out_shape: tuple[int, ...]
  scale: int = 4
  ch: int = 64
  blocks: int = 16
  batch_norm_axis: str | None = None

  data_fields: ClassVar[tuple[str, ...]] = ('out_shape', 'scale', 'batch_norm_axis')
  check_config = staticmethod(_check)

  @staticmethod
  def check_shape(shape: tuple[int, ...]) -> None:
    if len(shape) != 3:
      raise ConfigError(f'config.dataset: SRResNet needs images [H, W, C], got {shape}')

  @nn.compact
  def __call__(self, source: jax.Array, dropout_keys: jax.Array | None = None,
               train: bool = True) -> jax.Array:
    del dropout_keys  # Deterministic.
    if self.scale < 2 or self.scale & (self.scale - 1):
      raise ConfigError(f'config.dataset.scale: SRResNet upsamples by powers of 2, got {self.scale}')
    norm = lambda x: batch_norm(train, self.batch_norm_axis)(x)
    first = PReLU()(Conv(self.ch, (9, 9))(source))
    x = first
    for _ in range(self.blocks):
      y = PReLU()(norm(Conv(self.ch, (3, 3))(x)))
      x = x + norm(Conv(self.ch, (3, 3))(y))
    x = first + norm(Conv(self.ch, (3, 3))(x))
    for _ in range(int(math.log2(self.scale))):
      x = PReLU()(pixel_shuffle(Conv(self.ch * 4, (3, 3))(x), 2))
    return Conv(self.out_shape[-1], (9, 9))(x)


class SRGANDiscriminator(nn.Module):
  """image [N, H, W, C] -> logits [N, 1]."""
  ch: int = 64
  batch_norm_axis: str | None = None

  data_fields: ClassVar[tuple[str, ...]] = ('batch_norm_axis',)
  check_config = staticmethod(_check)

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
    for i in range(8):
      x = Conv(self.ch * 2 ** (i // 2), (3, 3), strides=(1 + i % 2,) * 2)(x)
      if i:
        x = batch_norm(train, self.batch_norm_axis)(x)
      x = nn.leaky_relu(x, 0.2)
    x = nn.leaky_relu(nn.Dense(self.ch * 16)(x.reshape(x.shape[0], -1)), 0.2)
    return nn.Dense(1)(x)
