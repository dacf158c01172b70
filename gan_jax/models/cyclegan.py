"""CycleGAN's ResNet-block generator (Zhu et al. 2017, Appendix 7.2), the layout of the reference
implementation (junyanz/pytorch-CycleGAN-and-pix2pix, `resnet_9blocks`).

c7s1-64 (reflection padding 3), d128, d256 (3x3 stride-2 convolutions, zero padding 1),
`blocks` residual blocks R256 (reflection padding 1, 3x3 conv, norm, ReLU, 3x3 conv, norm, plus
the input), u128, u64 (3x3 transposed convolutions, stride 2, padding 1, output padding 1),
c7s1-3 and tanh. Instance norm without affine parameters, and so biases on every convolution,
as the reference. 9 blocks for 256x256 training images, 6 for 128x128. The discriminator is the
PatchGAN of `unet.py` with `norm='instance'`.
"""

from __future__ import annotations

from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.errors import ConfigError
from gan_jax.models.layers import Conv, ConvTranspose, check_norm, normalization

_INIT = nn.initializers.normal(0.02)  # The reference's init_type 'normal', gain 0.02.


def _reflect(x: jax.Array, pad: int) -> jax.Array:
  return jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode='reflect')


def _check(role: str, config) -> None:
  check_norm(role, config)
  for field in ('ch', 'blocks'):
    if config.get(field, 1) <= 0:
      raise ConfigError(f'config.{role}.{field}: must be positive')
  if config.get('downsamplings', 0) < 0:
    raise ConfigError(f'config.{role}.downsamplings: must be 0 or more (the paper: 2)')


class CycleGANGenerator(nn.Module):
  """image [N, H, W, C] (H and W multiples of 2 ** downsamplings) -> image of the same size with
  `out_shape`'s channels, in [-1, 1]."""
  out_shape: tuple[int, ...]
  ch: int = 64                  # ngf
  blocks: int = 9
  norm: str = 'instance'
  # Stride-2 halvings before the residual blocks, each doubling the channels: the paper's 2
  # turns 256x256 into 64x64; on 28x28 digits it leaves a 7x7 grid.
  downsamplings: int = 2
  batch_norm_axis: str | None = None

  data_fields: ClassVar[tuple[str, ...]] = ('out_shape', 'batch_norm_axis')
  check_config = staticmethod(_check)

  @property
  def size_multiple(self) -> int:
    """The generator works on heights and widths that are multiples of this: training images
    must be (`check_shape`); other inputs (translate) are reflect-padded up to one."""
    return 2 ** self.downsamplings

  def check_shape(self, shape: tuple[int, ...]) -> None:
    multiple = self.size_multiple
    if len(shape) != 3 or shape[0] % multiple or shape[1] % multiple:
      raise ConfigError(f'config.dataset: the CycleGAN generator halves images '
                        f'{self.downsamplings} times and needs [H, W, C] with H and W multiples '
                        f'of {multiple}, got {shape}; set config.dataset.image_size or '
                        'config.generator.downsamplings')

  @nn.compact
  def __call__(self, source: jax.Array, dropout_keys: jax.Array | None = None,
               train: bool = True) -> jax.Array:
    del dropout_keys  # The reference's CycleGAN uses no dropout.
    height, width = source.shape[1:3]
    multiple = self.size_multiple
    if height % multiple or width % multiple:  # translate: any size
      source = jnp.pad(source, ((0, 0), (0, -height % multiple), (0, -width % multiple), (0, 0)),
                       mode='reflect')
    bias = self.norm != 'batch'
    norm = lambda x: normalization(self.norm, train, self.batch_norm_axis)(x)
    conv = lambda features, size, **kw: Conv(features, (size, size), padding='VALID',
                                             use_bias=bias, kernel_init=_INIT, **kw)
    x = nn.relu(norm(conv(self.ch, 7)(_reflect(source, 3))))
    for i in range(self.downsamplings):
      x = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
      x = nn.relu(norm(conv(self.ch * 2 ** (i + 1), 3, strides=(2, 2))(x)))
    for _ in range(self.blocks):
      y = nn.relu(norm(conv(x.shape[-1], 3)(_reflect(x, 1))))
      x = x + norm(conv(x.shape[-1], 3)(_reflect(y, 1)))
    for i in reversed(range(self.downsamplings)):
      h, w = x.shape[1:3]
      # PyTorch's ConvTranspose2d(k=3, stride=2, padding=1, output_padding=1): the full (VALID)
      # output of size 2h + 1, less its first row and column.
      x = ConvTranspose(self.ch * 2 ** i, (3, 3), strides=(2, 2), padding='VALID', use_bias=bias,
                        kernel_init=_INIT)(x)[:, 1:1 + 2 * h, 1:1 + 2 * w]
      x = nn.relu(norm(x))
    x = Conv(self.out_shape[-1], (7, 7), padding='VALID', kernel_init=_INIT)(_reflect(x, 3))
    return jnp.tanh(x)[:, :height, :width]
