"""`build_run(config)`: the one assembly of a run, data -> networks -> state, restored from a
checkpoint where asked. Training, `evaluate`, `translate`'s neighbours, `reproduce`, the bench
scripts and the tests build their runs through it."""

from __future__ import annotations

import dataclasses
import os
import types

import ml_collections

from gan_jax import data
from gan_jax.models import Networks
from gan_jax.train import families
from gan_jax.train.checkpoint import Checkpointer
from gan_jax.train.checks import check
from gan_jax.train.state import GANState, initial_state


@dataclasses.dataclass
class Run:
  """What a run is built from: its resolved config, family, dataset, networks and state."""
  config: ml_collections.ConfigDict
  family: types.ModuleType
  dataset: object
  nets: Networks
  state: GANState


def build_run(config: ml_collections.ConfigDict, *, dataset=None, checkpoints: str = '',
              step: int | None = None, checked: bool = False) -> Run:
  """The run `config` describes, checked first unless `checked` says `checks.check` already
  returned it (the returned config is the resolved one): its dataset (`dataset` if given: one already read, or one that only has the
  shapes), the family's networks and the initial state; with `checkpoints`, a folder of them,
  the state restored from checkpoint `step` (default: the latest). Raises `UserError`s naming
  what is wrong."""
  config = config if checked else check(config)
  dataset = data.build(config) if dataset is None else dataset
  family = families.get(config.family)
  nets = family.networks(config, dataset)
  state = initial_state(config, nets)
  if checkpoints:
    checkpointer = Checkpointer(checkpoints, config.keep_checkpoints)
    try:
      state = checkpointer.restore(state, step)
    finally:
      checkpointer.close()
  return Run(config, family, dataset, nets, state)


def read_state(workdir: str, config: ml_collections.ConfigDict, step: int | None = None
               ) -> GANState:
  """The state of `config`'s run at checkpoint `step` (default: the latest) of `workdir`."""
  return build_run(config, checkpoints=os.path.join(workdir, 'checkpoints'), step=step).state
