"""Generator and discriminator modules, registered by the name a config uses."""

from __future__ import annotations

import flax.linen as nn
import ml_collections

from gan_jax.models.mlp import MLPDiscriminator, MLPGenerator

GENERATORS: dict[str, type[nn.Module]] = {'mlp': MLPGenerator}
DISCRIMINATORS: dict[str, type[nn.Module]] = {'mlp': MLPDiscriminator}


def _kwargs(model: ml_collections.ConfigDict) -> dict:
  kwargs = {k: v for k, v in model.items() if k != 'name'}
  return {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}


def build(config: ml_collections.ConfigDict,
          data_shape: tuple[int, ...]) -> tuple[nn.Module, nn.Module]:
  """The (generator, discriminator) pair a config names, the generator sized for `data_shape`."""
  generator = GENERATORS[config.generator.name](out_shape=tuple(data_shape),
                                                **_kwargs(config.generator))
  discriminator = DISCRIMINATORS[config.discriminator.name](**_kwargs(config.discriminator))
  return generator, discriminator
