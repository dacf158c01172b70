"""The transposed convolution: PyTorch's semantics, and its custom gradients equal autodiff's."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.models.layers import (Conv, ConvTranspose, conv_transpose, conv_transpose_reference,
                                   strided_conv)


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


@pytest.mark.parametrize('hw,kernel,stride', [((8, 6), (4, 4), 2), ((6, 6), (3, 3), 2),
                                              ((9, 9), (5, 5), 3)])
def test_strided_conv_gradients_equal_autodiff(hw, kernel, stride):
  z = jax.random.normal(jax.random.key(0), (2, *hw, 3))
  k = jax.random.normal(jax.random.key(1), (*kernel, 3, 4))
  plain = lambda z, k: jax.lax.conv_general_dilated(z, k, (stride, stride), 'SAME',
                                                   dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  fast = lambda z, k: strided_conv(z, k, (stride, stride), 'SAME')
  np.testing.assert_allclose(fast(z, k), plain(z, k), rtol=1e-5, atol=1e-5)
  target = jax.random.normal(jax.random.key(2), plain(z, k).shape)
  grads = [jax.grad(lambda z, k: jnp.sum(jnp.sin(f(z, k)) * target), argnums=(0, 1))(z, k)
           for f in (fast, plain)]
  for a, b in zip(*grads):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_conv_layer_matches_flax():
  import flax.linen as nn
  x = jax.random.normal(jax.random.key(0), (2, 8, 8, 3))
  ours = Conv(5, (4, 4), strides=(2, 2), use_bias=False)
  params = ours.init(jax.random.key(1), x)
  flax_conv = nn.Conv(5, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1)), use_bias=False)
  np.testing.assert_allclose(ours.apply(params, x), flax_conv.apply(params, x), rtol=1e-5,
                             atol=1e-5)
