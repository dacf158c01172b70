"""Convolution layers: PyTorch's semantics, custom gradients equal to autodiff's, and the
CPU-only formulations kept off other backends."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.models.layers import (Conv, ConvTranspose, conv, conv_transpose,
                                   conv_transpose_reference, kernel_grad_by_taps)

_DIMS = ('NHWC', 'HWIO', 'NHWC')


@pytest.mark.parametrize('in_hw,kernel,strides,padding,out_hw', [
    ((5, 6), (4, 4), (2, 2), 'SAME', (10, 12)),     # DCGAN's up-sampling layers
    ((1, 1), (4, 4), (1, 1), 'VALID', (4, 4)),      # z -> 4x4
    ((1, 1), (7, 7), (1, 1), 'VALID', (7, 7)),      # z -> 7x7 (MNIST)
    ((3, 3), (3, 3), (2, 2), 'VALID', (7, 7)),
    ((4, 3), (3, 3), (2, 2), 'SAME', (8, 6)),       # odd kernel: uneven padding
    ((3, 3), (5, 5), (3, 3), 'SAME', (9, 9)),       # stride 3
])
def test_custom_gradients_equal_autodiff(in_hw, kernel, strides, padding, out_hw):
  x = jax.random.normal(jax.random.key(0), (2, *in_hw, 5))
  k = jax.random.normal(jax.random.key(1), (*kernel, 3, 5))
  target = jax.random.normal(jax.random.key(2), (2, *out_hw, 3))
  y = conv_transpose(x, k, strides, padding)
  assert y.shape == (2, *out_hw, 3)
  np.testing.assert_allclose(y, conv_transpose_reference(x, k, strides, padding), rtol=1e-5,
                             atol=1e-5)

  def loss(f):
    return lambda x, k: jnp.sum(jnp.sin(f(x, k, strides, padding)) * target)
  custom = jax.grad(loss(conv_transpose), argnums=(0, 1))(x, k)
  reference = jax.grad(loss(conv_transpose_reference), argnums=(0, 1))(x, k)
  for a, b in zip(custom, reference):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_is_the_adjoint_of_the_strided_convolution():
  # <conv_transpose(x), z> = <x, conv(z)>: PyTorch's ConvTranspose2d(k=4, s=2, p=1).
  x = jax.random.normal(jax.random.key(0), (1, 4, 4, 2))
  z = jax.random.normal(jax.random.key(1), (1, 8, 8, 3))
  k = jax.random.normal(jax.random.key(2), (4, 4, 3, 2))
  conv = jax.lax.conv_general_dilated(z, k, (2, 2), ((1, 1), (1, 1)),
                                      dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  np.testing.assert_allclose(jnp.vdot(conv_transpose(x, k, (2, 2), 'SAME'), z), jnp.vdot(x, conv),
                             rtol=1e-5)


def test_layer_parameters():
  layer = ConvTranspose(8, (4, 4), strides=(2, 2))
  params = layer.init(jax.random.key(0), jnp.zeros((1, 3, 3, 5)))['params']
  assert params['kernel'].shape == (4, 4, 8, 5) and params['bias'].shape == (8,)
  assert layer.apply({'params': params}, jnp.ones((2, 3, 3, 5))).shape == (2, 6, 6, 8)


@pytest.mark.parametrize('hw,kernel,stride,padding', [
    ((8, 6), (4, 4), 2, 'SAME'),     # DCGAN's down-sampling layers
    ((6, 6), (3, 3), 2, 'SAME'),
    ((9, 9), (5, 5), 3, 'SAME'),
    ((7, 7), (4, 4), 2, 'SAME'),     # size not divisible by the stride
    ((6, 5), (3, 3), 1, 'SAME'),     # the ResNets' 3x3 layers
    ((4, 4), (1, 1), 1, 'SAME'),     # their 1x1 shortcuts
    ((4, 4), (4, 4), 1, 'VALID'),    # DCGAN's last layer: 4x4 -> 1x1
    ((9, 8), (3, 3), 2, 'VALID'),
])
def test_conv_gradients_equal_autodiff(hw, kernel, stride, padding):
  z = jax.random.normal(jax.random.key(0), (2, *hw, 3))
  k = jax.random.normal(jax.random.key(1), (*kernel, 3, 4))
  plain = lambda z, k: jax.lax.conv_general_dilated(z, k, (stride, stride), padding,
                                                   dimension_numbers=_DIMS)
  fast = lambda z, k: conv(z, k, (stride, stride), padding)
  np.testing.assert_allclose(fast(z, k), plain(z, k), rtol=1e-5, atol=1e-5)
  target = jax.random.normal(jax.random.key(2), plain(z, k).shape)
  grads = [jax.grad(lambda z, k: jnp.sum(jnp.sin(f(z, k)) * target), argnums=(0, 1))(z, k)
           for f in (fast, plain)]
  for a, b in zip(*grads):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
  # The tap-by-tap kernel gradient on its own, against XLA's.
  g = jnp.cos(plain(z, k)) * target
  xla = jax.vjp(lambda k: plain(z, k), k)[1](g)[0]
  np.testing.assert_allclose(kernel_grad_by_taps(z, g, k, (stride, stride), padding), xla,
                             rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('platform,convolutions,matmuls', [('cpu', 2, 16), ('cuda', 3, 0),
                                                           ('tpu', 3, 0)])
def test_cpu_formulations_stay_on_the_cpu(platform, convolutions, matmuls):
  """Lowered for a GPU or TPU, the gradients of both layers are XLA's own three convolutions
  (forward, input and kernel gradient); on a CPU the kernel gradient is 16 tap products and
  the input gradient of the strided convolution a sub-pixel convolution."""
  z = jax.ShapeDtypeStruct((2, 8, 8, 3), jnp.float32)
  x = jax.ShapeDtypeStruct((2, 4, 4, 5), jnp.float32)
  k = jax.ShapeDtypeStruct((4, 4, 3, 5), jnp.float32)
  for layer, inputs in ((conv, z), (conv_transpose, x)):
    grad = jax.grad(lambda a, k: jnp.sum(layer(a, k, (2, 2), 'SAME') ** 2), argnums=(0, 1))
    text = jax.export.export(jax.jit(grad), platforms=[platform])(inputs, k).mlir_module()
    assert text.count('stablehlo.convolution') == convolutions, layer
    assert text.count('stablehlo.dot_general') == matmuls, layer


@pytest.mark.parametrize('kernel,strides,padding', [((4, 4), (2, 2), 'SAME'),
                                                    ((3, 3), (1, 1), 'SAME'),
                                                    ((4, 4), (1, 1), 'VALID')])
def test_conv_layer_matches_flax(kernel, strides, padding):
  import flax.linen as nn
  x = jax.random.normal(jax.random.key(0), (2, 8, 8, 3))
  ours = Conv(5, kernel, strides=strides, padding=padding)
  params = ours.init(jax.random.key(1), x)
  flax_conv = nn.Conv(5, kernel, strides=strides, padding=padding)
  assert jax.tree.map(jnp.shape, params) == jax.tree.map(jnp.shape, flax_conv.init(
      jax.random.key(1), x))
  np.testing.assert_allclose(ours.apply(params, x), flax_conv.apply(params, x), rtol=1e-5,
                             atol=1e-5)


@pytest.mark.parametrize('layer', ['conv', 'conv_transpose'])
@pytest.mark.parametrize('kernel,stride', [((4, 4), 2), ((3, 3), 1)])
def test_second_order_gradients_equal_autodiff(layer, kernel, stride):
  """Gradient penalties (WGAN-GP, R1) differentiate the layers' backward passes again."""
  strides = (stride, stride)
  if layer == 'conv':
    a = jax.random.normal(jax.random.key(0), (2, 8, 8, 3))
    k = jax.random.normal(jax.random.key(1), (*kernel, 3, 4))
    fast = lambda a, k: conv(a, k, strides, 'SAME')
    plain = lambda a, k: jax.lax.conv_general_dilated(a, k, strides, 'SAME',
                                                      dimension_numbers=_DIMS)
  else:
    a = jax.random.normal(jax.random.key(0), (2, 4, 4, 4))
    k = jax.random.normal(jax.random.key(1), (*kernel, 3, 4))
    fast = lambda a, k: conv_transpose(a, k, strides, 'SAME')
    plain = lambda a, k: conv_transpose_reference(a, k, strides, 'SAME')

  def penalty(f):  # ||d/da sum(tanh(f(a, k)))||^2, differentiated with respect to k and a.
    input_grad = jax.grad(lambda a, k: jnp.sum(jnp.tanh(f(a, k))))
    return jax.grad(lambda a, k: jnp.sum(input_grad(a, k) ** 2), argnums=(0, 1))
  for x, y in zip(penalty(fast)(a, k), penalty(plain)(a, k)):
    np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-4)
