"""Compiled programs kept for the rest of the process: a run resumed, repeated or evaluated in
the same process (a notebook, the tests, a sweep trial restarted in its worker) reuses its
jitted step instead of tracing and compiling it again."""

from __future__ import annotations

import collections
import hashlib
from typing import Callable, TypeVar

import jax
import ml_collections
import numpy as np
from jax.sharding import Mesh

from gan_jax.models import Networks

T = TypeVar('T')
_KEPT = 8  # programs; the oldest goes first
_programs: collections.OrderedDict[str, object] = collections.OrderedDict()


def _key(kind: str, config: ml_collections.ConfigDict, nets: Networks, mesh: Mesh | None) -> str:
  """Everything a program is built from: the config, the networks (their modules' fields and
  the fixed weights' bytes) and the devices."""
  h = hashlib.sha256(kind.encode())
  h.update(config.to_json_best_effort(sort_keys=True).encode())
  h.update(repr((nets.generators, nets.discriminators, sorted(nets.shapes.items()))).encode())
  for leaf in jax.tree.leaves(nets.fixed):
    h.update(np.ascontiguousarray(leaf).tobytes())
  if mesh is not None:
    h.update(repr((mesh.axis_names, [d.id for d in mesh.devices.flat])).encode())
  return h.hexdigest()


def reuse(kind: str, config: ml_collections.ConfigDict, nets: Networks, mesh: Mesh | None,
          build: Callable[[ml_collections.ConfigDict], T]) -> T:
  """`build(config)`'s jitted function for (kind, config, networks, mesh), built once per process
  from a copy of `config` (a program is traced at its first call: later changes to the caller's
  config must not reach it)."""
  key = _key(kind, config, nets, mesh)
  if key not in _programs:
    _programs[key] = build(config.copy_and_resolve_references())
    while len(_programs) > _KEPT:
      _programs.popitem(last=False)
  _programs.move_to_end(key)
  return _programs[key]
