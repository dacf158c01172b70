"""Training families, by the name `config.family` selects. A family is one module providing:

- `check(config)`: what the family needs of the config, raising `ConfigError` (before any build);
- `networks(config, dataset) -> Networks`: its generators and discriminators, by name, with the
  shapes of the data they see;
- `init_variables(config, networks, g_key, d_key) -> (g_vars, d_vars, running)`:
  each network's Flax variables by name, and the running values the step carries;
- `update(state, batch, *, config, nets, axis_name) -> (state, metrics)`: one training step on
  this device's share of the batch, averaging over `axis_name` with `parts.device_mean`.
"""

from __future__ import annotations

import types

from gan_jax.errors import ConfigError
from gan_jax.train.families import cycle, noise, paired

FAMILIES: dict[str, types.ModuleType] = {'noise': noise, 'paired': paired, 'cycle': cycle}


def get(name: str) -> types.ModuleType:
  if name not in FAMILIES:
    raise ConfigError(f'config.family: unknown family {name!r}; known: {sorted(FAMILIES)}')
  return FAMILIES[name]
