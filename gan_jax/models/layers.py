"""Building blocks shared by the model files: activations by name, maxout."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

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
  from gan_jax.config import ConfigError
  activation = config.get('activation', 'relu')
  if activation not in ACTIVATIONS:
    raise ConfigError(f'config.{role}.activation: unknown {activation!r}; known: {ACTIVATIONS}')
  if config.get('maxout_k', 1) < 1:
    raise ConfigError(f'config.{role}.maxout_k: must be positive')
