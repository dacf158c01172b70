"""Compiled programs kept for the rest of the process: a run resumed, repeated or evaluated in
the same process (a notebook, the tests, a sweep trial restarted in its worker) reuses its
jitted step instead of tracing and compiling it again."""

from __future__ import annotations

import collections
import hashlib
import importlib
import os
import sys
from typing import Callable, TypeVar

import jax
import ml_collections
import numpy as np
from jax.sharding import Mesh

from gan_jax.models import Networks
from gan_jax.train import families

T = TypeVar('T')
_KEPT = 16  # programs; the oldest goes first
_programs: collections.OrderedDict[str, object] = collections.OrderedDict()


# The code a program is traced from, besides the family's module: an edited and reloaded module
# (a notebook) must not be served the program of its earlier code.
_CODE = ('gan_jax.losses', 'gan_jax.train.parts', 'gan_jax.train.inputs', 'gan_jax.train.step',
         'gan_jax.train.state', 'gan_jax.models')


def _code_fingerprint(config: ml_collections.ConfigDict) -> bytes:
  """The source files of the family's module and of `_CODE` (a package: all its files), as they
  are now."""
  files = [families.get(config.family).__file__]
  for name in _CODE:
    module = sys.modules.get(name) or importlib.import_module(name)
    if hasattr(module, '__path__'):
      folder = os.path.dirname(module.__file__)
      files += sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith('.py'))
    else:
      files.append(module.__file__)
  h = hashlib.sha256()
  for path in files:
    with open(path, 'rb') as f:
      h.update(f.read())
  return h.digest()


# Fields that only the loop reads (data, evaluation, logging, checkpoints): a program is the same
# whatever their values, so a resumed, evaluated or translated run reuses the program of the run
# it comes from. Programs are traced from a config without them (`_traced`), so that a traced
# function that reads one fails at once instead of being served to the wrong run.
LOOP_ONLY = ('dataset', 'eval', 'evals', 'log_every', 'eval_every', 'checkpoint_every',
             'keep_checkpoints', 'resume_step', 'init_generator_from')


def _traced(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """A copy of `config` without the `LOOP_ONLY` fields."""
  fields = {k: v for k, v in config.to_dict().items() if k not in LOOP_ONLY}
  return ml_collections.ConfigDict(fields)


def _key(kind: str, config: ml_collections.ConfigDict, nets: Networks, mesh: Mesh | None) -> str:
  """Everything a program is built from: the config's traced fields, the networks (their
  modules' fields and the fixed weights' bytes), the devices and the code
  (`_code_fingerprint`)."""
  h = hashlib.sha256(kind.encode())
  h.update(_code_fingerprint(config))
  h.update(_traced(config).to_json_best_effort(sort_keys=True).encode())
  h.update(repr((nets.generators, nets.discriminators, sorted(nets.shapes.items()))).encode())
  for leaf in jax.tree.leaves(nets.fixed):
    h.update(np.ascontiguousarray(leaf).tobytes())
  if mesh is not None:
    h.update(repr((mesh.axis_names, [d.id for d in mesh.devices.flat])).encode())
  return h.hexdigest()


def reuse(kind: str, config: ml_collections.ConfigDict, nets: Networks, mesh: Mesh | None,
          build: Callable[[ml_collections.ConfigDict], T]) -> T:
  """`build(config)`'s jitted function for (kind, config, networks, mesh), built once per process
  from a copy of `config` without its `LOOP_ONLY` fields (a program is traced at its first call:
  later changes to the caller's config must not reach it)."""
  key = _key(kind, config, nets, mesh)
  if key not in _programs:
    _programs[key] = build(_traced(config.copy_and_resolve_references()))
    while len(_programs) > _KEPT:
      _programs.popitem(last=False)
  _programs.move_to_end(key)
  return _programs[key]
