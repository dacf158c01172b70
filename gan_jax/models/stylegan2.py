"""StyleGAN2 (Karras et al. 2020, config-e) in Flax, with the layer shapes of stylegan2-ada-pytorch's
`training/networks.py`, so that its parameter counts are the reference's.

- Generator: a mapping network (`map_layers` equalized dense layers with learning-rate multiplier
  0.01; a class label's embedding, normalized, concatenated with the normalized z), then a
  synthesis network from a learned constant at the base resolution, each block doubling it with
  modulated and demodulated 3x3 convolutions, per-pixel noise scaled by a learned strength, and
  skip-connection RGB outputs summed over the resolutions (architecture 'skip').
- Discriminator: `orig` or `resnet` blocks halving the resolution, then the epilogue at the base
  resolution: minibatch standard deviation over groups of `mbstd_group` consecutive examples,
  a 3x3 convolution, a dense layer and the output; with classes, the output is projected on a
  mapped label embedding (`cmap`), as the reference's conditional D.
- Equalized learning rate everywhere: weights drawn from N(0, 1) (divided by the learning-rate
  multiplier) and scaled at run time by multiplier / sqrt(fan-in); leaky ReLU 0.2 with gain
  sqrt(2).
- Rectangular images: `base` is the (height, width) of the first block, e.g. (4, 8) for 32x64
  outputs; every block doubles both.

Resampling uses the reference's [1, 3, 3, 1] low-pass filter: upsampling inserts zeros and
filters (gain 4), downsampling filters and keeps every second pixel. A modulated convolution is
computed as the reference's non-fused path (styles scale the input channels, the demodulation
coefficients the output channels), which is one ordinary convolution for the whole batch.
"""

from __future__ import annotations

import math
from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.errors import ConfigError

SQRT2 = math.sqrt(2.0)
_FILTER = np.outer([1, 3, 3, 1], [1, 3, 3, 1]).astype(np.float32) / 64.0


def lrelu(x: jax.Array) -> jax.Array:
  """Leaky ReLU 0.2 with the reference's gain sqrt(2)."""
  return jax.nn.leaky_relu(x, 0.2) * SQRT2


def normalize_2nd_moment(x: jax.Array, eps: float = 1e-8) -> jax.Array:
  return x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True) + eps)


def _blur(x: jax.Array, pad: tuple[int, int], gain: float = 1.0) -> jax.Array:
  """x [N, H, W, C] filtered channel by channel with the [1, 3, 3, 1] filter, padded by `pad`."""
  c = x.shape[-1]
  kernel = jnp.asarray(np.tile((_FILTER * gain)[:, :, None, None], (1, 1, 1, c)), x.dtype)
  return jax.lax.conv_general_dilated(x, kernel, (1, 1), (pad, pad),
                                      dimension_numbers=('NHWC', 'HWIO', 'NHWC'),
                                      feature_group_count=c)


def upsample2d(x: jax.Array) -> jax.Array:
  """x at twice the resolution: zeros inserted, then filtered with gain 4."""
  n, h, w, c = x.shape
  up = jnp.zeros((n, h, 2, w, 2, c), x.dtype).at[:, :, 0, :, 0, :].set(x).reshape(n, 2 * h, 2 * w, c)
  return _blur(up, (2, 1), gain=4.0)


def downsample2d(x: jax.Array) -> jax.Array:
  """x at half the resolution: filtered, then every second pixel."""
  return _blur(x, (1, 1))[:, ::2, ::2, :]


def _conv(x: jax.Array, kernel: jax.Array, stride: int = 1) -> jax.Array:
  k = kernel.shape[0]
  pad = (k // 2, k // 2)
  return jax.lax.conv_general_dilated(x, kernel.astype(x.dtype), (stride, stride), (pad, pad),
                                      dimension_numbers=('NHWC', 'HWIO', 'NHWC'))


class EqualDense(nn.Module):
  """The reference's FullyConnectedLayer: equalized learning rate, optional leaky ReLU."""
  features: int
  lr_multiplier: float = 1.0
  bias_init: float = 0.0
  activation: str = 'linear'

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    fan_in = x.shape[-1]
    kernel = self.param('kernel', lambda key, shape: jax.random.normal(key, shape) /
                        self.lr_multiplier, (fan_in, self.features))
    bias = self.param('bias', lambda key, shape: jnp.full(shape, self.bias_init, jnp.float32),
                      (self.features,))
    y = x @ (kernel * (self.lr_multiplier / math.sqrt(fan_in))).astype(x.dtype)
    y = y + (bias * self.lr_multiplier).astype(x.dtype)
    return lrelu(y) if self.activation == 'lrelu' else y


class EqualConv(nn.Module):
  """The reference's Conv2dLayer: equalized learning rate; `down` filters before a stride 2."""
  features: int
  kernel_size: int = 3
  use_bias: bool = True
  activation: str = 'linear'
  down: bool = False

  @nn.compact
  def __call__(self, x: jax.Array, gain: float = 1.0) -> jax.Array:
    k, fan_in = self.kernel_size, x.shape[-1] * self.kernel_size ** 2
    kernel = self.param('kernel', nn.initializers.normal(1.0), (k, k, x.shape[-1], self.features))
    kernel = kernel / math.sqrt(fan_in)
    if self.down and k > 1:  # filtered at full size, then a strided convolution
      x = _conv(_blur(x, (2, 1)), kernel, stride=2)
    elif self.down:  # a 1x1 convolution of the filtered, halved image
      x = _conv(downsample2d(x), kernel)
    else:
      x = _conv(x, kernel)
    if self.use_bias:
      x = x + self.param('bias', nn.initializers.zeros, (self.features,)).astype(x.dtype)
    if self.activation == 'lrelu':
      x = lrelu(x)
    return x * gain


class ModulatedConv(nn.Module):
  """A style-modulated convolution: SynthesisLayer (3x3, demodulated, noise, bias, leaky ReLU)
  or, with `to_rgb`, ToRGBLayer (1x1, styles scaled by 1 / sqrt(fan-in), not demodulated)."""
  features: int
  kernel_size: int = 3
  up: bool = False
  to_rgb: bool = False

  @nn.compact
  def __call__(self, x: jax.Array, w: jax.Array, noise: jax.Array | None) -> jax.Array:
    """`noise` [N or 1, H, W, 1] at the output's resolution (None: none), scaled by the layer's
    learned strength."""
    k, in_ch = self.kernel_size, x.shape[-1]
    styles = EqualDense(in_ch, bias_init=1.0, name='affine')(w)  # [N, in]
    kernel = self.param('kernel', nn.initializers.normal(1.0), (k, k, in_ch, self.features))
    if self.to_rgb:
      styles = styles / math.sqrt(in_ch * k * k)
    x = x * styles[:, None, None, :].astype(x.dtype)
    if self.up:
      x = upsample2d(x)
    x = _conv(x, kernel)
    if not self.to_rgb:  # demodulation: unit variance of each output channel
      modulated = kernel[None] * styles[:, None, None, :, None]  # [N, k, k, in, out]
      coefficients = jax.lax.rsqrt(jnp.sum(jnp.square(modulated), axis=(1, 2, 3)) + 1e-8)
      x = x * coefficients[:, None, None, :].astype(x.dtype)
      strength = self.param('noise_strength', nn.initializers.zeros, ())
      if noise is not None:
        x = x + noise.astype(x.dtype) * strength.astype(x.dtype)
    x = x + self.param('bias', nn.initializers.zeros, (self.features,)).astype(x.dtype)
    return x if self.to_rgb else lrelu(x)


def _channels(index: int, channel_base: int, channel_max: int) -> int:
  """Channels of block `index` (0 = the base resolution), as the reference's
  min(channel_base // resolution, channel_max) for square images from 4x4."""
  return min(channel_base // (4 << index), channel_max)


def _check_config(role: str, model) -> None:
  """The fields a config gives (`config.generator` / `config.discriminator`), before any build."""
  get = lambda field, default: model.get(field, default)
  if get('conditioning', 'none') not in ('none', 'class'):
    raise ConfigError(f"config.{role}.conditioning: {get('conditioning', 'none')!r}; use 'none' "
                      "or 'class' (a label embedding; the dataset's classes)")
  if not 0.0 <= get('truncation_psi', 1.0) <= 1.0:
    raise ConfigError(f"config.{role}.truncation_psi: must be in [0, 1] (1: no truncation, 0: "
                      f"the average W), got {get('truncation_psi', 1.0)}")
  if not 0.0 <= get('w_avg_beta', 0.995) < 1.0:
    raise ConfigError(f"config.{role}.w_avg_beta: must be in [0, 1), got {get('w_avg_beta', 0)}")
  if get('architecture', 'resnet') not in ('orig', 'resnet'):
    raise ConfigError(f"config.{role}.architecture: {get('architecture', 'resnet')!r}; use "
                      "'orig' or 'resnet'")
  base = tuple(get('base', (4, 4)))
  if len(base) != 2 or min(base) < 1:
    raise ConfigError(f'config.{role}.base: the (height, width) of the first block, e.g. (4, 4) '
                      f'or (4, 8); got {base}')
  for field in ('w_dim', 'map_layers', 'channel_base', 'channel_max', 'mbstd_group'):
    if field in model and model[field] < 1:
      raise ConfigError(f'config.{role}.{field}: must be positive, got {model[field]}')


def _classes(module) -> int:
  """The classes the module is conditioned on: the dataset's with conditioning 'class', else 0."""
  return module.num_classes if module.conditioning == 'class' else 0


def _check_shape(module, shape: tuple[int, ...]) -> None:
  """The base resolution against the images' shape."""
  role = 'generator' if isinstance(module, StyleGAN2Generator) else 'discriminator'
  h, w, _ = shape
  bh, bw = module.base
  blocks = int(round(math.log2(h / bh))) if h >= bh else -1
  if blocks < 0 or bh << blocks != h or bw << blocks != w:
    raise ConfigError(f'config.{role}.base: {tuple(module.base)} doubled a whole number of times '
                      f'must give the images\' {h}x{w}')


class StyleGAN2Generator(nn.Module):
  """z (and a class label) -> image [N, H, W, C].

  The family runs `mapping` and `synthesis` apart (style mixing, path length); `__call__` with
  `train=False` is the sampler's: W truncated towards the running W average by
  `truncation_psi`, the constant noise, the image clipped to [-1, 1].
  The W average (the reference's `w_avg` buffer, decay `w_avg_beta` per training batch) is the
  variable `batch_stats/w_avg`, updated where `mapping` runs with `update_w_avg` and the
  collection mutable."""
  out_shape: tuple[int, ...]
  num_classes: int = 0
  conditioning: str = 'none'         # or 'class': a normalized label embedding beside z
  w_dim: int = 512
  map_layers: int = 8
  map_lr_multiplier: float = 0.01
  channel_base: int = 32768
  channel_max: int = 512
  base: tuple[int, int] = (4, 4)
  w_avg_beta: float = 0.995
  truncation_psi: float = 1.0        # samples: 1 = no truncation, 0 = the average W

  data_fields: ClassVar[tuple[str, ...]] = ('out_shape', 'num_classes')
  check_shape = _check_shape
  check_config = staticmethod(_check_config)

  classes = property(_classes)

  @property
  def num_blocks(self) -> int:
    return int(round(math.log2(self.out_shape[0] / self.base[0]))) + 1

  @property
  def num_ws(self) -> int:
    """The W vectors synthesis takes: one per modulated convolution, and the last RGB output's."""
    return 2 * self.num_blocks

  def setup(self):
    if self.classes:
      self.embed = EqualDense(self.w_dim, name='embed')
    self.mapping_layers = [EqualDense(self.w_dim, self.map_lr_multiplier, activation='lrelu',
                                      name=f'fc{i}') for i in range(self.map_layers)]
    self.w_avg = self.variable('batch_stats', 'w_avg', jnp.zeros, (self.w_dim,), jnp.float32)
    self.const = self.param('const', nn.initializers.normal(1.0),
                            tuple(self.base) + (_channels(0, self.channel_base, self.channel_max),))
    convs, to_rgbs = [], []
    for i in range(self.num_blocks):
      ch = _channels(i, self.channel_base, self.channel_max)
      if i > 0:
        convs.append(ModulatedConv(ch, up=True, name=f'b{i}_conv0'))
      convs.append(ModulatedConv(ch, name=f'b{i}_conv1'))
      to_rgbs.append(ModulatedConv(self.out_shape[-1], 1, to_rgb=True, name=f'b{i}_torgb'))
    self.convs, self.to_rgbs = convs, to_rgbs

  def mapping(self, z: jax.Array, labels: jax.Array | None = None,
              update_w_avg: bool = False) -> jax.Array:
    """W [N, w_dim] of latents z [N, z_dim] (and classes [N])."""
    x = normalize_2nd_moment(z.astype(jnp.float32))
    if self.classes:
      y = self.embed(jax.nn.one_hot(labels, self.classes, dtype=jnp.float32))
      x = jnp.concatenate([x, normalize_2nd_moment(y)], axis=-1)
    for layer in self.mapping_layers:
      x = layer(x)
    if update_w_avg and self.is_mutable_collection('batch_stats'):
      mean = jnp.mean(x.astype(jnp.float32), axis=0)
      self.w_avg.value = mean + self.w_avg_beta * (self.w_avg.value - mean)
    return x

  def noise_shapes(self) -> list[tuple[int, int]]:
    """(H, W) of each modulated convolution's output, in order."""
    bh, bw = self.base
    return [(bh << i, bw << i) for i in range(self.num_blocks) for _ in range(1 if i == 0 else 2)]

  def noise(self, keys: jax.Array | None) -> list[jax.Array]:
    """Each convolution's noise: from one key per example (training: the family draws them from
    the examples' places in the global batch), or, with None, the constant noise (the same for
    every sample, as the reference's noise_mode='const')."""
    out = []
    for layer, (h, w) in enumerate(self.noise_shapes()):
      if keys is None:
        out.append(jax.random.normal(jax.random.fold_in(jax.random.key(0x5717), layer),
                                     (1, h, w, 1)))
      else:
        out.append(jax.vmap(lambda k: jax.random.normal(jax.random.fold_in(k, layer),
                                                        (h, w, 1)))(keys))
    return out

  def synthesis(self, ws: jax.Array, noise_keys: jax.Array | None = None) -> jax.Array:
    """The image of W vectors ws [N, num_ws, w_dim] (block i's convolutions take ws[2i-1], ws[2i];
    its RGB output ws[2i + 1], which the next block's first convolution also takes); the noise
    of `noise(noise_keys)`."""
    noise = self.noise(noise_keys)
    x = jnp.broadcast_to(self.const[None], (ws.shape[0],) + self.const.shape)
    image, conv = None, 0
    for i in range(self.num_blocks):
      for _ in range(1 if i == 0 else 2):
        x = self.convs[conv](x, ws[:, conv], noise[conv])
        conv += 1
      if image is not None:
        image = upsample2d(image)
      rgb = self.to_rgbs[i](x, ws[:, conv], None)
      image = rgb if image is None else image + rgb
    return image

  def __call__(self, z: jax.Array, labels: jax.Array | None = None, train: bool = True,
               noise_keys: jax.Array | None = None) -> jax.Array:
    w = self.mapping(z, labels)
    if train:
      return self.synthesis(jnp.repeat(w[:, None], self.num_ws, axis=1), noise_keys)
    if self.truncation_psi != 1.0:
      w = self.w_avg.value + self.truncation_psi * (w - self.w_avg.value)
    # Samples are images: clipped to [-1, 1], as the reference's conversion to 8 bits clamps.
    return jnp.clip(self.synthesis(jnp.repeat(w[:, None], self.num_ws, axis=1), noise_keys),
                    -1.0, 1.0)


def minibatch_std(x: jax.Array, group: int, channels: int = 1) -> jax.Array:
  """x [N, H, W, C] with `channels` more channels: the standard deviation over each group of
  `group` consecutive examples, averaged over pixels and each of `channels` channel groups. A
  group never straddles devices when it divides each device's batch (the family checks it)."""
  n, h, w, c = x.shape
  if n % group:
    raise ValueError(f'minibatch std: a group of {group} does not divide a batch of {n}')
  y = x.reshape(n // group, group, h, w, channels, c // channels).astype(jnp.float32)
  y = jnp.sqrt(jnp.var(y, axis=1) + 1e-8)           # [n/G, H, W, F, c]
  y = jnp.mean(y, axis=(1, 2, 4))                    # [n/G, F]
  y = jnp.broadcast_to(y[:, None, None, None, :], (n // group, group, h, w, channels))
  return jnp.concatenate([x, y.reshape(n, h, w, channels).astype(x.dtype)], axis=-1)


class StyleGAN2Discriminator(nn.Module):
  """image [N, H, W, C] (and class labels) -> logits [N]."""
  image_shape: tuple[int, ...]
  num_classes: int = 0
  conditioning: str = 'none'         # or 'class': a projection on the label's mapped embedding
  architecture: str = 'resnet'       # or 'orig'
  channel_base: int = 32768
  channel_max: int = 512
  base: tuple[int, int] = (4, 4)
  mbstd_group: int = 4
  mbstd_channels: int = 1
  cmap_layers: int = 8               # the label mapping network of a conditional D

  data_fields: ClassVar[tuple[str, ...]] = ('image_shape', 'num_classes')
  check_shape = _check_shape
  check_config = staticmethod(_check_config)

  classes = property(_classes)

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array | None = None,
               train: bool = True) -> jax.Array:
    blocks = int(round(math.log2(x.shape[1] / self.base[0])))
    channels = lambda i: _channels(i, self.channel_base, self.channel_max)
    h = EqualConv(channels(blocks), 1, activation='lrelu', name=f'b{blocks}_fromrgb')(x)
    for i in range(blocks, 0, -1):
      if self.architecture == 'resnet':
        skip = EqualConv(channels(i - 1), 1, use_bias=False, down=True, name=f'b{i}_skip')(
            h, gain=math.sqrt(0.5))
      y = EqualConv(channels(i), activation='lrelu', name=f'b{i}_conv0')(h)
      y = EqualConv(channels(i - 1), activation='lrelu', down=True, name=f'b{i}_conv1')(
          y, gain=math.sqrt(0.5) if self.architecture == 'resnet' else 1.0)
      h = skip + y if self.architecture == 'resnet' else y
    ch = channels(0)
    if self.mbstd_channels:
      h = minibatch_std(h, min(self.mbstd_group, h.shape[0]), self.mbstd_channels)
    h = EqualConv(ch, activation='lrelu', name='b0_conv')(h)
    h = EqualDense(ch, activation='lrelu', name='b0_fc')(h.reshape(h.shape[0], -1))
    out = EqualDense(ch if self.classes else 1, name='b0_out')(h)
    if not self.classes:
      return out[:, 0]
    # The projection head: the output's dot product with the label's mapped embedding.
    cmap = EqualDense(ch, name='cmap_embed')(jax.nn.one_hot(labels, self.classes))
    cmap = normalize_2nd_moment(cmap)
    for i in range(self.cmap_layers):
      cmap = EqualDense(ch, 0.01, activation='lrelu', name=f'cmap_fc{i}')(cmap)
    return jnp.sum(out * cmap, axis=-1) / math.sqrt(ch)
