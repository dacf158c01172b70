"""Training families, by the name `config.family` selects. A family is one module providing:

- `FIELDS`: its own config fields and their defaults, beside `gan_jax.config.base_config`'s (as
  each model of the reference CycleGAN code declares its options);
- `check(config)`: what the family needs of the config, raising `ConfigError` (before any build);
- `networks(config, dataset) -> Networks`: its generators and discriminators, by name, with the
  shapes of the data they see;
- `init_variables(config, networks, g_key, d_key) -> (g_vars, d_vars, running)`:
  each network's Flax variables by name, and the running values the step carries;
- `update(state, batch, *, config, nets, axis_name) -> (state, metrics)`: one training step on
  this device's share of the batch, averaging over `axis_name` with `parts.device_mean`;
- and, where it needs them, `optimizers(config) -> (g_tx, d_tx)` (default: Adam from
  `config.optim`) and `check_devices(config, num_devices)` (what it needs of each device's batch).
"""

from __future__ import annotations

import types

import ml_collections

from gan_jax import config as config_lib
from gan_jax.errors import ConfigError
from gan_jax.train.families import cycle, noise, paired, style

FAMILIES: dict[str, types.ModuleType] = {'noise': noise, 'paired': paired, 'cycle': cycle,
                                          'style': style}


def get(name: str) -> types.ModuleType:
  if name not in FAMILIES:
    raise ConfigError(f'config.family: unknown family {name!r}; known: {sorted(FAMILIES)}')
  return FAMILIES[name]


def base_config(name: str = 'noise') -> ml_collections.ConfigDict:
  """The config an experiment of family `name` starts from: `gan_jax.config.base_config()`'s
  fields and the family's own, with their defaults."""
  c = config_lib.base_config()
  c.family = name
  c.update(get(name).FIELDS)
  return c


def fields_of_others(name: str) -> dict[str, str]:
  """Each field another family declares and `name` does not: field -> that family."""
  own = get(name).FIELDS
  return {field: other for other, family in FAMILIES.items() if other != name
          for field in family.FIELDS if field not in own}


def check_devices(config: ml_collections.ConfigDict, num_devices: int) -> None:
  """The batch split over `num_devices` devices: the shared check, then the family's."""
  config_lib.check_devices(config, num_devices)
  family = get(config.family)
  if hasattr(family, 'check_devices'):
    family.check_devices(config, num_devices)
