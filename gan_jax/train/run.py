"""`build_run(config)`: the one assembly of a run, data -> networks -> state, restored from a
checkpoint where asked. Training, `evaluate`, `translate`, `reproduce`, the bench scripts and the
tests build their runs through it."""

from __future__ import annotations

import dataclasses
import os
import types

import ml_collections

from gan_jax import data
from gan_jax.errors import CheckpointError, EvaluateError
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
  dataset: data.Dataset | None  # None where the networks were built from saved shapes
  nets: Networks
  state: GANState


def build_run(config: ml_collections.ConfigDict, *, dataset: data.Dataset | None = None,
              nets: Networks | None = None, checkpoints: str = '', step: int | None = None,
              checked: bool = False, command: str = '', best: bool = False) -> Run:
  """The run `config` describes: its dataset, the family's networks and the initial state.

  `config` is checked first, unless `checked` says it is what `checks.check` returned. `dataset`:
  one already read, or a stand-in with the shapes (default: `data.build(config)`). `nets`:
  networks built otherwise (`translate` builds them from a workdir's saved shapes), and then no
  data is read. With `checkpoints` (a folder of them), the state is restored from checkpoint
  `step` (default: the latest), as `restore` does. Raises `UserError`s naming what is wrong.
  """
  config = config if checked else check(config)
  family = families.get(config.family)
  if nets is None:
    dataset = data.build(config) if dataset is None else dataset
    nets = family.networks(config, dataset)
  state = initial_state(config, nets)
  if checkpoints:
    state = restore(checkpoints, config, state, step, command, best)
  return Run(config, family, dataset, nets, state)


def restore(directory: str, config: ml_collections.ConfigDict, state: GANState,
            step: int | None = None, command: str = '', best: bool = False) -> GANState:
  """`state` restored from checkpoint `step` (default: the latest) of `directory` (`best`: a
  workdir's `best/`, which holds one). One clear error when it holds none, not that step, or a
  damaged one, naming the intact one for `command --step`."""
  checkpointer = Checkpointer(directory, 1 if best else config.keep_checkpoints)
  try:
    steps = checkpointer.all_steps()
    if not steps and best:
      raise EvaluateError(f'{directory}: no checkpoint; a run keeps its best one when '
                          'config.eval.best_metric names a metric it logs')
    if not steps:
      raise EvaluateError(f'{checkpointer.directory}: no checkpoints')
    if step is not None and step not in steps:
      raise EvaluateError(f'--step {step}: no such checkpoint; saved steps: {steps}')
    try:
      return checkpointer.restore(state, step)
    except CheckpointError as e:
      if e.intact_step is None or not command:
        raise
      raise CheckpointError(f'{e}: {command} it with --step {e.intact_step}') from None
  finally:
    checkpointer.close()


def read_state(workdir: str, config: ml_collections.ConfigDict, step: int | None = None
               ) -> GANState:
  """The state of `config`'s run at checkpoint `step` (default: the latest) of `workdir`."""
  return build_run(config, checkpoints=os.path.join(workdir, 'checkpoints'), step=step).state
