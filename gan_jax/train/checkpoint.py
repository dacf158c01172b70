"""Orbax checkpoints of the whole `GANState`, keeping the latest K; restores what it saved."""

from __future__ import annotations

import os

import jax
import orbax.checkpoint as ocp

from gan_jax.train.state import GANState


class CheckpointError(RuntimeError):
  """A checkpoint exists but cannot be restored into this run's state."""


def _to_saved(state: GANState) -> GANState:
  # Typed PRNG keys are stored as their raw key data.
  return state.replace(key=jax.random.key_data(state.key))


class Checkpointer:
  """Saves and restores `GANState` in `directory` with an orbax `CheckpointManager`."""

  def __init__(self, directory: str, keep: int):
    self.directory = os.path.abspath(directory)
    self._manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True))

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def all_steps(self) -> list[int]:
    return list(self._manager.all_steps())

  def restore(self, state: GANState, step: int | None = None) -> GANState:
    """The checkpoint at `step` (default: latest) in the structure and sharding of `state`."""
    step = self.latest_step() if step is None else step
    target = jax.tree.map(ocp.utils.to_shape_dtype_struct, _to_saved(state))
    try:
      restored = self._manager.restore(step, args=ocp.args.StandardRestore(target))
    except Exception as e:  # orbax raises many kinds; all mean the same to the user.
      raise CheckpointError(
          f'checkpoint {self.directory}/{step} cannot be restored into this run ({type(e).__name__}: '
          f'{str(e).splitlines()[0] if str(e) else ""}); it was left untouched: move it away to '
          f'start afresh, or use the config it was written with') from None
    return restored.replace(key=jax.random.wrap_key_data(restored.key, impl=jax.random.key_impl(state.key)))

  def save(self, step: int, state: GANState) -> None:
    """Saves in the background; the next save or `close` waits for it."""
    self._manager.save(step, args=ocp.args.StandardSave(_to_saved(state)), force=True)

  def close(self) -> None:
    self._manager.wait_until_finished()
    self._manager.close()
