"""pix2pix's U-Net generator and PatchGAN discriminator (Isola et al. 2017), the layout of the
reference implementation (junyanz/pytorch-CycleGAN-and-pix2pix, `unet_256`, `basic` D).

U-Net: stride-2 4x4 convolutions down to 1x1 (C64-C128-C256-C512-C512-..., LeakyReLU 0.2 before
each, no norm on the first), transposed convolutions back up (ReLU before each), each decoder
level concatenated with the encoder level of its size (the skips), dropout 0.5 on the first three
decoder layers as the paper's text has it (the reference code skips the innermost one and so has
none at 32x32), tanh. Dropout is on in training only: evaluation is deterministic. The depth takes the training size down to 1x1: 8 levels
at 256, 5 at 32; images of other sizes (28x28, rectangles) are reflect-padded to a multiple of
2^depth and the output cropped back, so the generator applies to images of any size.

PatchGAN: C64 (no norm) and n_layers - 1 more stride-2 4x4 convolutions, one stride-1
C(ch * 2^n) and a stride-1 convolution to one logit per patch; every convolution pads by 1 as
the reference does. Its receptive field (`receptive_field`): 16 pixels at n_layers 1, 34 at 2,
70 at 3 (the paper's 70x70). `n_layers = 0` picks the largest field up to half the image:
70 at 256, the paper's choice; 16 at 28 and 32.
"""

from __future__ import annotations

import math
from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.errors import ConfigError
from gan_jax.models.layers import Conv, ConvTranspose, check_norm, example_dropout, normalization

_INIT = nn.initializers.normal(0.02)  # The reference's init_type 'normal', gain 0.02.


def _check_shape(shape: tuple[int, ...]) -> None:
  if len(shape) != 3 or min(shape[:2]) < 8:
    raise ConfigError(f'config.dataset: the U-Net and PatchGAN need images [H, W, C] of at least '
                      f'8x8, got {shape}; set config.dataset.image_size')


def _check(role: str, config) -> None:
  check_norm(role, config)
  if config.get('ch', 64) <= 0:
    raise ConfigError(f'config.{role}.ch: must be positive')
  if config.get('n_layers', 0) < 0:
    raise ConfigError(f'config.{role}.n_layers: must be >= 0 (0 = scaled to the image size)')
  if not 0 <= config.get('dropout', 0.5) < 1:
    raise ConfigError(f'config.{role}.dropout: must be in [0, 1)')


class UNetGenerator(nn.Module):
  """source image [N, S, S, C] (and per-example dropout keys) -> image of `out_shape` in [-1, 1]."""
  out_shape: tuple[int, ...]
  ch: int = 64                  # ngf
  norm: str = 'batch'
  dropout: float = 0.5
  batch_norm_axis: str | None = None  # set by config.sync_batch_norm

  data_fields: ClassVar[tuple[str, ...]] = ('out_shape', 'batch_norm_axis')
  check_config = staticmethod(_check)
  check_shape = staticmethod(_check_shape)

  @nn.compact
  def __call__(self, source: jax.Array, dropout_keys: jax.Array | None = None,
               train: bool = True) -> jax.Array:
    # Levels down to 1x1 at the training size; other sizes (any, rectangular included) are
    # reflect-padded to a multiple of 2^levels and the output cropped back.
    levels = max(1, math.ceil(math.log2(max(self.out_shape[:2]))))
    height, width_px = source.shape[1:3]
    multiple = 2 ** levels
    pad = [(0, 0)] + [((-n % multiple) // 2, -n % multiple - (-n % multiple) // 2)
                      for n in (height, width_px)] + [(0, 0)]
    source = jnp.pad(source, pad, mode='reflect')
    width = lambda i: self.ch * min(2 ** i, 8)
    norm = lambda x: normalization(self.norm, train, self.batch_norm_axis)(x)
    x, skips = source, []
    for i in range(levels):
      if i:
        x = nn.leaky_relu(x, 0.2)
      x = Conv(width(i), (4, 4), strides=(2, 2), use_bias=self.norm != 'batch',
               kernel_init=_INIT)(x)
      if 0 < i < levels - 1:  # Neither the outermost nor the innermost level is normalized.
        x = norm(x)
      skips.append(x)
    for i in reversed(range(levels)):
      if i < levels - 1:
        x = jnp.concatenate([x, skips[i]], axis=-1)
      x = nn.relu(x)
      features = self.out_shape[-1] if i == 0 else width(i - 1)
      x = ConvTranspose(features, (4, 4), strides=(2, 2), use_bias=i == 0 or self.norm != 'batch',
                        kernel_init=_INIT)(x)
      if i:
        x = norm(x)
        if i >= levels - 3 and train:  # The first three decoder layers, as the paper says.
          x = example_dropout(x, dropout_keys, self.dropout, i)
    return jnp.tanh(x)[:, pad[1][0]:pad[1][0] + height, pad[2][0]:pad[2][0] + width_px]


def receptive_field(n_layers: int) -> int:
  """Pixels of the input that one PatchGAN logit sees."""
  field = 1
  for stride in reversed([2] * n_layers + [1, 1]):
    field = (field - 1) * stride + 4
  return field


def layers_for(size: int) -> int:
  """The most stride-2 layers whose receptive field is at most half of `size` (at least 1)."""
  n = 1
  while receptive_field(n + 1) <= size // 2:
    n += 1
  return n


class PatchGANDiscriminator(nn.Module):
  """image [N, S, S, C] (for pix2pix: source and image concatenated) -> logits [N, P, P, 1]."""
  image_size: int
  ch: int = 64                  # ndf
  n_layers: int = 0             # 0: `layers_for(image_size)`
  norm: str = 'batch'
  batch_norm_axis: str | None = None

  data_fields: ClassVar[tuple[str, ...]] = ('image_size', 'batch_norm_axis')
  check_config = staticmethod(_check)
  check_shape = staticmethod(_check_shape)

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
    n = self.n_layers or layers_for(self.image_size)
    pad = lambda x: jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    for i in range(n + 1):
      stride = 2 if i < n else 1
      x = Conv(self.ch * min(2 ** i, 8), (4, 4), strides=(stride, stride), padding='VALID',
               use_bias=i == 0 or self.norm != 'batch', kernel_init=_INIT)(pad(x))
      if i:
        x = normalization(self.norm, train, self.batch_norm_axis)(x)
      x = nn.leaky_relu(x, 0.2)
    return Conv(1, (4, 4), padding='VALID', kernel_init=_INIT)(pad(x))
