"""The fully connected generator and discriminator of the original GAN (Goodfellow et al. 2014).

Unconditional: class labels, when given, are ignored.
"""

from __future__ import annotations

import math
from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.models import layers


class MLPGenerator(nn.Module):
  """z -> hidden layers -> a sample of `out_shape` (no output activation: toy data is unbounded)."""
  out_shape: tuple[int, ...]
  hidden: tuple[int, ...] = (400, 400)
  activation: str = 'relu'
  leaky_slope: float = 0.2
  maxout_k: int = 5

  data_fields: ClassVar[tuple[str, ...]] = ('out_shape',)
  check_config = staticmethod(layers.check_activation)

  @nn.compact
  def __call__(self, z: jax.Array, labels: jax.Array | None = None,
               train: bool = True) -> jax.Array:
    x = z
    for width in self.hidden:
      x = layers.DenseActivation(width, self.activation, self.leaky_slope, self.maxout_k)(x)
    x = nn.Dense(math.prod(self.out_shape))(x)
    return x.reshape((z.shape[0],) + tuple(self.out_shape))


class MLPDiscriminator(nn.Module):
  """A sample (or a pack of samples, flattened) -> hidden layers -> one logit."""
  hidden: tuple[int, ...] = (200, 200)
  activation: str = 'maxout'
  leaky_slope: float = 0.2
  maxout_k: int = 5

  data_fields: ClassVar[tuple[str, ...]] = ()
  check_config = staticmethod(layers.check_activation)

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array | None = None,
               train: bool = True) -> jax.Array:
    x = x.reshape(x.shape[0], -1)
    for width in self.hidden:
      x = layers.DenseActivation(width, self.activation, self.leaky_slope, self.maxout_k)(x)
    return jnp.squeeze(nn.Dense(1)(x), axis=-1)
