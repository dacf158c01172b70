"""Shapes and parameter counts of the models."""

import jax
import jax.numpy as jnp
import pytest

from experiments import gan_grid
from gan_jax import models
from gan_jax.train.state import param_count


def init(module, x):
  return module.init(jax.random.key(0), x)['params']


def test_pacgan_generator():
  config = gan_grid.get_config()
  generator, _ = models.build(config, (2,))
  z = jnp.zeros((7, 2))
  params = init(generator, z)
  assert generator.apply({'params': params}, z).shape == (7, 2)
  # 2 -> 400 -> 400 -> 2, with biases.
  assert param_count(params) == (2 * 400 + 400) + (400 * 400 + 400) + (400 * 2 + 2) == 162_402


@pytest.mark.parametrize('pack', [1, 4])
def test_pacgan_maxout_discriminator(pack):
  config = gan_grid.get_config(f'pack={pack}')
  _, discriminator = models.build(config, (2,))
  x = jnp.zeros((5, 2 * pack))
  params = init(discriminator, x)
  assert discriminator.apply({'params': params}, x).shape == (5,)
  # maxout-5 layers of 200 units hold 5 x 200 linear pieces each.
  assert param_count(params) == (2 * pack * 1000 + 1000) + (200 * 1000 + 1000) + (200 + 1)


def test_maxout_is_max_of_pieces():
  from gan_jax.models.layers import DenseActivation
  layer = DenseActivation(3, 'maxout', maxout_k=4)
  x = jax.random.normal(jax.random.key(1), (2, 5))
  params = layer.init(jax.random.key(0), x)
  pieces = x @ params['params']['Dense_0']['kernel'] + params['params']['Dense_0']['bias']
  expected = pieces.reshape(2, 3, 4).max(-1)
  assert jnp.allclose(layer.apply(params, x), expected)


@pytest.mark.parametrize('activation', ['relu', 'leaky_relu'])
def test_activations(activation):
  from gan_jax.models.layers import DenseActivation
  layer = DenseActivation(4, activation, leaky_slope=0.1)
  x = jax.random.normal(jax.random.key(1), (3, 2))
  params = layer.init(jax.random.key(0), x)
  y = layer.apply(params, x)
  pre = x @ params['params']['Dense_0']['kernel'] + params['params']['Dense_0']['bias']
  expected = jnp.maximum(pre, 0) if activation == 'relu' else jnp.where(pre > 0, pre, 0.1 * pre)
  assert jnp.allclose(y, expected)
