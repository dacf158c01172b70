"""Building blocks shared by the model files: activations, maxout, BatchNorm, convolutions."""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from gan_jax.errors import ConfigError

ACTIVATIONS = ('relu', 'leaky_relu', 'maxout')


def batch_norm(train: bool, axis_name: str | None = None, **kwargs) -> nn.BatchNorm:
  """BatchNorm with PyTorch's defaults (its momentum 0.1 is flax's 0.9).

  With `axis_name`, batch statistics are computed over the whole global batch (synchronized
  across devices); without, over each device's share.
  """
  return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                      axis_name=axis_name if train else None, **kwargs)


class DenseActivation(nn.Module):
  """A dense layer and its activation; maxout-k takes the max over k linear pieces per unit."""
  features: int
  activation: str = 'relu'
  leaky_slope: float = 0.2
  maxout_k: int = 5

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    if self.activation == 'maxout':
      pieces = nn.Dense(self.features * self.maxout_k)(x)
      return jnp.max(pieces.reshape(x.shape[:-1] + (self.features, self.maxout_k)), axis=-1)
    x = nn.Dense(self.features)(x)
    if self.activation == 'relu':
      return nn.relu(x)
    if self.activation == 'leaky_relu':
      return nn.leaky_relu(x, self.leaky_slope)
    raise ValueError(f'unknown activation {self.activation!r}; known: {ACTIVATIONS}')


def check_activation(role: str, config) -> None:
  """Config check shared by models that take an `activation` field."""
  activation = config.get('activation', 'relu')
  if activation not in ACTIVATIONS:
    raise ConfigError(f'config.{role}.activation: unknown {activation!r}; known: {ACTIVATIONS}')
  if config.get('maxout_k', 1) < 1:
    raise ConfigError(f'config.{role}.maxout_k: must be positive')


_DIMS = ('NHWC', 'HWIO', 'NHWC')


def _conv(z: jax.Array, kernel: jax.Array, strides: tuple[int, int], padding: str) -> jax.Array:
  return lax.conv_general_dilated(z, kernel, strides, padding, dimension_numbers=_DIMS)


def _transposed_shape(x: jax.Array, kernel: jax.Array, strides, padding) -> tuple[int, ...]:
  """The input shape of the strided convolution whose output has x's shape."""
  kh, kw, out_ch, _ = kernel.shape
  if padding == 'SAME':
    return (x.shape[0], x.shape[1] * strides[0], x.shape[2] * strides[1], out_ch)
  return (x.shape[0], (x.shape[1] - 1) * strides[0] + kh, (x.shape[2] - 1) * strides[1] + kw,
          out_ch)


def conv_transpose_reference(x: jax.Array, kernel: jax.Array, strides: tuple[int, int],
                             padding: str) -> jax.Array:
  """The transposed convolution as the adjoint of `_conv`, differentiated by plain autodiff."""
  zeros = jnp.zeros(_transposed_shape(x, kernel, strides, padding), x.dtype)
  return jax.linear_transpose(lambda z: _conv(z, kernel, strides, padding), zeros)(x)[0]


def _phase_taps(k: int, stride: int) -> tuple[list[tuple[int, int, int]], list[int], int]:
  """Per axis of a 'SAME' transposed convolution: output pixel s*m + r sums kernel taps
  a = s*o' + r + p (p the convolution's leading pad) times input pixel m + o. Returns the
  (phase r, tap a, offset o) triples, each phase's lowest offset, and the longest window."""
  pad = (k - stride) // 2
  taps = [(r, a, (r + pad - a) // stride) for r in range(stride) for a in range(k)
          if (a - r - pad) % stride == 0]
  lows = [min(o for q, _, o in taps if q == r) for r in range(stride)]
  window = max(max(o for q, _, o in taps if q == r) - lows[r] + 1 for r in range(stride))
  return taps, lows, window


def _subpixel_conv_transpose(x: jax.Array, kernel: jax.Array, stride: int) -> jax.Array:
  """conv_transpose for 'SAME' padding and equal strides, as one stride-1 convolution.

  Each of the s*s output phases is an ordinary convolution of x with a window of k/s taps per
  axis, at a phase-dependent shift. All phases run as one convolution with s*s*C output
  channels whose outputs are then cut at each phase's shift and interleaved (depth to space):
  no multiplication by the zeros that the dilated formulation inserts.
  """
  k_h, k_w, out_ch, in_ch = kernel.shape
  (taps_h, lows_h, win_h), (taps_w, lows_w, win_w) = (_phase_taps(k_h, stride),
                                                      _phase_taps(k_w, stride))
  combined = jnp.zeros((win_h, win_w, in_ch, stride, stride, out_ch), kernel.dtype)
  for r_h, a_h, o_h in taps_h:
    for r_w, a_w, o_w in taps_w:
      combined = combined.at[o_h - lows_h[r_h], o_w - lows_w[r_w], :, r_h, r_w].set(
          kernel[a_h, a_w].T)
  combined = combined.reshape(win_h, win_w, in_ch, stride * stride * out_ch)
  lo, shift = (min(lows_h), min(lows_w)), (max(lows_h) - min(lows_h), max(lows_w) - min(lows_w))
  # Window q starts at input pixel q + lo; phase r of output m reads window m + lows[r] - lo.
  padding = ((-lo[0], shift[0] + win_h - 1 + lo[0]), (-lo[1], shift[1] + win_w - 1 + lo[1]))
  out = lax.conv_general_dilated(x, combined, (1, 1), padding, dimension_numbers=_DIMS)
  n, h, w = x.shape[:3]
  out = out.reshape(*out.shape[:3], stride, stride, out_ch)
  rows = []
  for r_h in range(stride):
    cols = []
    for r_w in range(stride):
      d_h, d_w = lows_h[r_h] - lo[0], lows_w[r_w] - lo[1]
      cols.append(out[:, d_h:d_h + h, d_w:d_w + w, r_h, r_w])
    rows.append(jnp.stack(cols, axis=3))           # [n, h, w, s (r_w), C]
  phases = jnp.stack(rows, axis=2)                   # [n, h, s (r_h), w, s (r_w), C]
  return phases.reshape(n, h * stride, w * stride, out_ch)


def _xla_kernel_grad(z: jax.Array, g: jax.Array, kernel: jax.Array, strides: tuple[int, int],
                     padding: str) -> jax.Array:
  return jax.vjp(lambda k: _conv(z, k, strides, padding), kernel)[1](g)[0]


def kernel_grad_by_taps(z: jax.Array, g: jax.Array, kernel: jax.Array,
                        strides: tuple[int, int], padding: str) -> jax.Array:
  """The gradient of `_conv(z, kernel)` with respect to the kernel, at cotangent g, as one
  matrix product per kernel tap: tap (a, b) meets the input pixels of one strided slice of z,
  and contracts them with g over batch and positions.

  XLA:CPU computes this gradient as a generic convolution whose window is g's whole image,
  which slows down with the image: 2.5 s against 0.35 s here for a 3x3, 128-channel layer at
  32x32, batch 64 (bench/conv_grads.py).
  """
  kh, kw, in_ch, out_ch = kernel.shape
  (sh, sw), (ho, wo) = strides, g.shape[1:3]
  pad_h, pad_w = lax.padtype_to_pads(z.shape[1:3], (kh, kw), strides, padding)
  z = jnp.pad(z, ((0, 0), pad_h, pad_w, (0, 0)))
  g = g.reshape(-1, out_ch)
  taps = [lax.dot_general(z[:, a:a + sh * (ho - 1) + 1:sh, b:b + sw * (wo - 1) + 1:sw]
                          .reshape(-1, in_ch), g, (((0,), (0,)), ((), ())))
          for a in range(kh) for b in range(kw)]
  return jnp.stack(taps).reshape(kernel.shape).astype(kernel.dtype)


def _kernel_grad(z, g, kernel, strides, padding):
  """By taps on CPUs; elsewhere (GPU, TPU) XLA's own kernel gradient, which is fast there."""
  by = lambda f: functools.partial(f, strides=strides, padding=padding)
  return lax.platform_dependent(z, g, kernel, cpu=by(kernel_grad_by_taps),
                                default=by(_xla_kernel_grad))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def conv_transpose(x: jax.Array, kernel: jax.Array, strides: tuple[int, int],
                   padding: str) -> jax.Array:
  """y = A^T x, A the strided convolution z -> conv(z, kernel): PyTorch's ConvTranspose2d.

  `kernel` is [kh, kw, out channels, in channels], the kernel of A. Its derivatives come from A
  itself: for a cotangent g, dx = A g = conv(g, kernel), and dkernel is the kernel gradient of
  conv(g, .) at cotangent x. On CPUs, where autodiff of the plain (dilated) formulation is
  slow (RESULTS.md), the forward pass with 'SAME' padding and equal strides is a sub-pixel
  convolution and the kernel gradient goes by taps; on other backends both are XLA's own.
  """
  if padding == 'SAME' and strides[0] == strides[1] > 1:
    return lax.platform_dependent(
        x, kernel, cpu=lambda x, k: _subpixel_conv_transpose(x, k, strides[0]),
        default=lambda x, k: conv_transpose_reference(x, k, strides, padding))
  return conv_transpose_reference(x, kernel, strides, padding)


def _conv_transpose_fwd(x, kernel, strides, padding):
  return conv_transpose(x, kernel, strides, padding), (x, kernel)


def _conv_transpose_bwd(strides, padding, residuals, g):
  x, kernel = residuals
  return _conv(g, kernel, strides, padding), _kernel_grad(g, x, kernel, strides, padding)


conv_transpose.defvjp(_conv_transpose_fwd, _conv_transpose_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def conv(z: jax.Array, kernel: jax.Array, strides: tuple[int, int], padding: str) -> jax.Array:
  """A convolution (NHWC, HWIO) whose gradients XLA runs well on every backend.

  The input gradient of a strided convolution is `conv_transpose` (on CPUs a sub-pixel
  convolution rather than the dilated convolution autodiff produces, which XLA:CPU runs
  slowly); the kernel gradient is `_kernel_grad`.
  """
  return _conv(z, kernel, strides, padding)


def _conv_fwd(z, kernel, strides, padding):
  return _conv(z, kernel, strides, padding), (z, kernel)


def _conv_bwd(strides, padding, residuals, g):
  z, kernel = residuals
  if max(strides) > 1 and _transposed_shape(g, kernel, strides, padding) == z.shape:
    dz = conv_transpose(g, kernel, strides, padding)
  else:  # Stride 1 (a plain convolution already), or sizes not divisible by the stride.
    dz = jax.vjp(lambda z: _conv(z, kernel, strides, padding), z)[1](g)[0]
  return dz, _kernel_grad(z, g, kernel, strides, padding)


conv.defvjp(_conv_fwd, _conv_bwd)


class Conv(nn.Module):
  """nn.Conv's parameters and results ('SAME' or 'VALID' padding), with fast gradients."""
  features: int
  kernel_size: tuple[int, int]
  strides: tuple[int, int] = (1, 1)
  padding: str = 'SAME'
  use_bias: bool = True
  kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.param('kernel', self.kernel_init,
                        (*self.kernel_size, x.shape[-1], self.features), jnp.float32)
    y = conv(x, kernel.astype(x.dtype), tuple(self.strides), self.padding)
    if self.use_bias:
      y = y + self.param('bias', nn.initializers.zeros, (self.features,), jnp.float32)
    return y


class ConvTranspose(nn.Module):
  """A transposed convolution layer (PyTorch semantics) with fast gradients on every backend."""
  features: int
  kernel_size: tuple[int, int]
  strides: tuple[int, int] = (1, 1)
  padding: str = 'SAME'             # 'SAME': output = input * stride; 'VALID': no padding
  use_bias: bool = True
  kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.param('kernel', self.kernel_init,
                        (*self.kernel_size, self.features, x.shape[-1]), jnp.float32)
    y = conv_transpose(x, kernel.astype(x.dtype), tuple(self.strides), self.padding)
    if self.use_bias:
      y = y + self.param('bias', nn.initializers.zeros, (self.features,), jnp.float32)
    return y


NORMS = ('batch', 'instance', 'none')


def normalization(kind: str, train: bool, axis_name: str | None = None):
  """The normalization layer translation models name: BatchNorm (PyTorch's defaults), instance
  norm without affine parameters (PyTorch's InstanceNorm2d default), or none."""
  if kind == 'batch':
    return batch_norm(train, axis_name)
  if kind == 'instance':
    return nn.InstanceNorm(epsilon=1e-5, use_scale=False, use_bias=False)
  return lambda x: x


def check_norm(role: str, config) -> None:
  if config.get('norm', 'batch') not in NORMS:
    raise ConfigError(f'config.{role}.norm: unknown {config.norm!r}; known: {NORMS}')


def example_dropout(x: jax.Array, keys: jax.Array | None, rate: float, layer: int) -> jax.Array:
  """Dropout whose mask for each example comes from that example's key (`inputs.per_example_keys`),
  so that a run does not depend on how the batch is split over devices. No keys: no dropout."""
  if keys is None or rate == 0:
    return x
  keep = jax.vmap(lambda k: jax.random.bernoulli(jax.random.fold_in(k, layer), 1 - rate,
                                                 x.shape[1:]))(keys)
  return jnp.where(keep, x / (1 - rate), 0).astype(x.dtype)
