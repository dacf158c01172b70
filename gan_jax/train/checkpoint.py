"""Orbax checkpoints of the whole `GANState`, keeping the latest K; restores what it saved."""

from __future__ import annotations

import os
import sys
import warnings
import weakref

import jax
import numpy as np
import orbax.checkpoint as ocp

from gan_jax.errors import CheckpointError
from gan_jax.train.state import GANState


def _host_copy(x):
  """A replicated array as one host copy (this process's first shard): orbax writes NumPy arrays
  several times faster than device arrays replicated over many devices (bench/checkpoint_speed.py)."""
  if isinstance(x, jax.Array) and x.is_fully_replicated:
    return np.asarray(x.addressable_data(0))
  return x


def _to_saved(state: GANState) -> GANState:
  # Typed PRNG keys are stored as their raw key data.
  return state.replace(key=jax.random.key_data(state.key))


def _from_orbax(report) -> bool:
  """Whether an unraisable-exception report comes from orbax's reads: a coroutine of orbax's
  collected unfinished, or a read that failed in it."""
  code = getattr(report.object, 'cr_code', None)
  if code is not None and '/orbax/' in code.co_filename:
    return True
  tb = report.exc_traceback
  while tb is not None:
    if '/orbax/' in tb.tb_frame.f_code.co_filename:
      return True
    tb = tb.tb_next
  return False


def _drop_failed_read_reports() -> None:
  """After a failed restore, reads still in flight complete into orbax's event loop, already
  closed, and Python reports each ("Event loop is closed", TensorStore read errors of coroutines
  never awaited) after gan_jax's own error line, hundreds of lines. They say nothing about the
  checkpoint: drop those reports, and only those."""
  previous = sys.unraisablehook
  if getattr(previous, 'drops_failed_reads', False):
    return

  def closed(error: BaseException | None) -> bool:
    return isinstance(error, RuntimeError) and str(error) == 'Event loop is closed'

  def hook(report):
    if not (closed(report.exc_value) or _from_orbax(report)):
      previous(report)
  hook.drops_failed_reads = True
  sys.unraisablehook = hook
  # TensorStore's callbacks print the same error through sys.excepthook (PyErr_Print).
  previous_excepthook = sys.excepthook

  def excepthook(kind, error, traceback):
    if not closed(error):
      previous_excepthook(kind, error, traceback)
  sys.excepthook = excepthook
  # The same reads, collected at exit: "coroutine '_read_array_index_and_device_put' was never
  # awaited". Only a run whose restore failed gets here, and it ends with its error line.
  warnings.filterwarnings('ignore', message=r"coroutine '.*' was never awaited",
                          category=RuntimeWarning)


# Orbax writes this file into a step's folder when the checkpoint is finished (0.12.8 and later).
FINISHED_MARKER = '_CHECKPOINT_METADATA'


def _finished(step_path) -> bool:
  return os.path.exists(os.path.join(os.fspath(step_path), FINISHED_MARKER))


class _FinishedStepsOnly:
  """Orbax's standard step names, except that a step folder holding no finished checkpoint (an
  empty folder, an interrupted copy) is not a checkpoint: orbax then neither restores it as the
  latest nor counts it among the `keep` it keeps, and never deletes it."""

  def __init__(self):
    self._standard = ocp.step.standard_name_format()

  def __getattr__(self, name: str):
    return getattr(self._standard, name)

  def find_all(self, base_path):
    return (m for m in self._standard.find_all(base_path) if _finished(m.path))

  def find_step(self, base_path, step: int):
    metadata = self._standard.find_step(base_path, step)
    if not _finished(metadata.path):
      raise ValueError(f'{metadata.path}: no finished checkpoint')
    return metadata


def unfinished_steps(directory: str) -> list[str]:
  """Step folders of `directory` that hold no finished checkpoint."""
  if not os.path.isdir(directory):
    return []
  return sorted((n for n in os.listdir(directory)
                 if n.isdigit() and not _finished(os.path.join(directory, n))), key=int)


def _path(path: tuple) -> str:
  """'g_params/g/Dense_0/kernel': a tree path, alike for the state and a checkpoint's metadata."""
  return '/'.join(str(getattr(k, 'key', getattr(k, 'name', getattr(k, 'idx', k)))) for k in path)


class Checkpointer:
  """Saves and restores `GANState` in `directory` with an orbax `CheckpointManager`.

  A step folder holding no finished checkpoint is left alone, with a `warning:` line naming it.
  """

  # Several processes: orbax's managers finish a save through cross-process barriers named alike
  # in every manager, so two saves in flight at once (the latest and the best checkpoint, at an
  # evaluation step) collide ("Barrier ... is already ongoing") and the run hangs at its end. A
  # save there first waits for the other managers' saves.
  _open: 'weakref.WeakSet[Checkpointer]' = weakref.WeakSet()

  def __init__(self, directory: str, keep: int):
    self.directory = os.path.abspath(directory)
    for stray in unfinished_steps(self.directory) if jax.process_index() == 0 else ():
      print(f'warning: {os.path.join(self.directory, stray)}: holds no finished checkpoint; '
            'ignored, and left as it is', file=sys.stderr)
    self._manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                             step_name_format=_FinishedStepsOnly()))
    Checkpointer._open.add(self)

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def all_steps(self) -> list[int]:
    return list(self._manager.all_steps())

  def restore(self, state: GANState, step: int | None = None) -> GANState:
    """The checkpoint at `step` (default: latest) in the structure and sharding of `state`.

    Raises `CheckpointError` naming the step, and the newest older checkpoint that does restore
    (`intact_step`, None if there is none), when it cannot be read into `state`.
    """
    step = self.latest_step() if step is None else step
    # A checkpoint of other shapes is refused before any read starts: reads left in flight by a
    # failed restore report from orbax's threads after the error line.
    reason = self._mismatch(state, step)
    if reason is None:
      try:
        return self._restore(state, step)
      except Exception as e:  # orbax raises many kinds; all mean the same to the user.
        _drop_failed_read_reports()
        reason = f'{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""}'[:70]
    older = sorted((s for s in self.all_steps() if s < step), reverse=True)
    intact = next((s for s in older if self._restorable(state, s)), None)
    where = f'checkpoint {step} in {self.directory}'
    if intact is not None:
      message = f'{where} is damaged ({reason}); checkpoint {intact} is intact'
    else:
      message = (f'{where} cannot be restored into this run ({reason})'
                 f'{", nor can any older one" if older else ""}; nothing was changed: if the '
                 'config changed, use the one it was written with (config.json), else move the '
                 'folder away to start afresh')
    raise CheckpointError(message, intact_step=intact)

  def _restore(self, state: GANState, step: int) -> GANState:
    target = jax.tree.map(ocp.utils.to_shape_dtype_struct, _to_saved(state))
    restored = self._manager.restore(step, args=ocp.args.StandardRestore(target))
    return restored.replace(key=jax.random.wrap_key_data(restored.key,
                                                         impl=jax.random.key_impl(state.key)))

  def _restorable(self, state: GANState, step: int) -> bool:
    if self._mismatch(state, step) is not None:
      return False
    try:
      self._restore(state, step)
      return True
    except Exception:  # Any failure means "not intact".
      _drop_failed_read_reports()
      return False

  def _mismatch(self, state: GANState, step: int) -> str | None:
    """Why checkpoint `step` cannot hold `state`, from its metadata alone: the first array whose
    path or shape differs. None when they agree, or when the metadata cannot be read (the
    restore then says what is wrong)."""
    try:
      saved = ocp.StandardCheckpointHandler().metadata(  # The manager's directory: an epath.
          self._manager.directory / str(step) / 'default')
      saved = {_path(p): tuple(leaf.shape) for p, leaf in jax.tree_util.tree_leaves_with_path(
          getattr(saved, 'tree', saved))}
    except Exception:  # A damaged checkpoint: the restore reports it.
      return None
    wanted = {_path(p): tuple(np.shape(leaf)) for p, leaf in
              jax.tree_util.tree_leaves_with_path(_to_saved(state))}
    for path in sorted(set(saved) | set(wanted)):
      if saved.get(path) != wanted.get(path):
        here, there = (f'{d[path]}' if path in d else 'absent' for d in (wanted, saved))
        return f'{path}: shape {here} in this run, {there} in the checkpoint'[:150]
    return None

  def save(self, step: int, state: GANState) -> None:
    """Saves in the background; the next save or `close` waits for it."""
    saved = jax.tree.map(_host_copy, _to_saved(state))
    if jax.process_count() > 1:
      for other in Checkpointer._open:
        if other is not self:
          other._manager.wait_until_finished()
    self._manager.save(step, args=ocp.args.StandardSave(saved), force=True)

  def close(self) -> None:
    self._manager.wait_until_finished()
    self._manager.close()
    Checkpointer._open.discard(self)
