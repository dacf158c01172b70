"""`check(config)`: the one check of a run's config, before anything is read, built or compiled.

It runs, in order, the checks every family shares (`gan_jax.config.check`), the family's own, the
data's and the evaluators', and returns the config resolved once: the family's fields that the
config leaves out take the family's defaults, and `evals` entries have their defaults filled in.
Each failure is a `ConfigError` naming the field.
"""

from __future__ import annotations

import ml_collections

from gan_jax import config as config_lib
from gan_jax import data
from gan_jax.errors import ConfigError
from gan_jax.metrics import evaluators
from gan_jax.train import families


def resolve(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """A copy of `config` with the family's fields it leaves out at their defaults."""
  family = families.get(config.get('family', 'noise'))
  resolved = config.copy_and_resolve_references()
  with resolved.unlocked():
    for field, default in family.FIELDS.items():
      if field not in resolved:
        resolved[field] = default
  return resolved


def logged_metrics(config: ml_collections.ConfigDict) -> set[str]:
  """The evaluation metrics a run of `config` logs (as `eval/<name>`): its `evals` entries', and
  what its family's preview logs (the mode metrics on toy data)."""
  family = families.get(config.get('family', 'noise'))
  known = {k for e in evaluators.entries(config).values() for k in evaluators.entry_keys(e)}
  return known | family.preview_metrics(config)


def check(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The config, checked and resolved (see the module's docstring); raises `ConfigError`."""
  resolved = resolve(config)
  family = families.get(resolved.family)
  others = families.fields_of_others(resolved.family)
  schema = families.base_config(resolved.family)
  with schema.unlocked():  # Known, so that a field of another family gets its own message below.
    for field, owner in others.items():
      schema[field] = families.get(owner).FIELDS[field]
  config_lib.check(resolved, schema)
  family.check(resolved)
  for field, owner in others.items():  # Its default, as in configs written by earlier versions.
    if field in resolved and resolved[field] != families.get(owner).FIELDS[field]:
      raise ConfigError(f'config.{field}: a field of the {owner} family, which '
                        f'{resolved.family} training does not use; leave it out')
  data.check(resolved)
  entries = evaluators.entries(resolved)
  known = logged_metrics(resolved)
  best = resolved.eval.best_metric
  if best and best.removeprefix('eval/') not in known:
    raise ConfigError(f'config.eval.best_metric: {best!r} is not logged by this config; '
                      f'its metrics: {sorted(known)}')
  with resolved.unlocked():
    resolved.evals = ml_collections.ConfigDict({name: e.to_dict() for name, e in entries.items()})
  return resolved
