"""The compiled step, the same for every family: the family's update run per device under
`jax.shard_map` over the mesh's `data` axis, jitted once with the state donated."""

from __future__ import annotations

import functools
from typing import Callable

import jax
import ml_collections
from jax.sharding import Mesh, PartitionSpec as P

from gan_jax import parallel
from gan_jax.models import Networks
from gan_jax.train import compiled, families
from gan_jax.train.state import GANState, seed_axes

Metrics = dict[str, jax.Array]
Batch = dict[str, jax.Array]


REPEATED_STEPS = 200  # runs of at least this many steps compile their step as `repeated`


def make_train_step(config: ml_collections.ConfigDict, nets: Networks,
                    mesh: Mesh) -> Callable[[GANState, Batch], tuple[GANState, Metrics]]:
  """`train_step(state, batch) -> (state, metrics)`, compiled once for all devices of `mesh`.

  The state is replicated and donated; every array of the batch is sharded along its sample
  axis (axis 1) over the mesh's `data` axis. With `config.num_seeds` > 1 the state is stacked
  (`initial_state`), the batch has a leading seed axis (samples on axis 2), and each metric is
  one value per seed: the update is `vmap`ped over the seeds inside each device's program.

  A family whose steps differ by their number (`step_kind(config, step)`: the style family's
  lazy regularization) gets one program per kind of step, chosen on the host (`StepsByKind`).
  """
  family = families.get(config.family)
  if hasattr(family, 'step_kind'):
    return StepsByKind(config, nets, mesh, family.step_kind)
  return compiled.reuse('train_step', config, nets, mesh,
                        lambda config: _make_train_step(config, nets, mesh))


class StepsByKind:
  """The train step of a family whose update depends on the step number through
  `step_kind(config, step) -> kind` (a tuple): each kind's program, compiled at its first use,
  runs the steps of that kind.

  The kind is read from the state's step on the host, which waits for the previous step to
  finish; the next batch is already made by then. On XLA:CPU, convolutions inside `lax.cond`
  ran 2-6x slower than straight-line ones (RESULTS.md, "The style family's lazy
  regularization"), which a branch inside one program would cost every regularization step.
  """

  def __init__(self, config: ml_collections.ConfigDict, nets: Networks, mesh: Mesh,
               step_kind: Callable[[ml_collections.ConfigDict, int], tuple]):
    self.config, self.nets, self.mesh, self.step_kind = config, nets, mesh, step_kind

  def program(self, kind: tuple) -> Callable[[GANState, Batch], tuple[GANState, Metrics]]:
    return compiled.reuse(f'train_step {kind}', self.config, self.nets, self.mesh,
                          lambda config: _make_train_step(config, self.nets, self.mesh, kind))

  def kind_of(self, state: GANState) -> tuple:
    step = state.step
    if isinstance(step, jax.core.Tracer) or not isinstance(step, jax.Array):
      return self.step_kind(self.config, 0)  # traced (eval_shape): the first step's program
    return self.step_kind(self.config, int(step.addressable_data(0)))

  def __call__(self, state: GANState, batch: Batch) -> tuple[GANState, Metrics]:
    return self.program(self.kind_of(state))(state, batch)

  def lower(self, state: GANState, batch: Batch):
    """The lowered program of the state's step's kind (`bench/step_speed.py`)."""
    return self.program(self.kind_of(state)).lower(state, batch)


def _make_train_step(config: ml_collections.ConfigDict, nets: Networks, mesh: Mesh,
                     kind: tuple | None = None
                     ) -> Callable[[GANState, Batch], tuple[GANState, Metrics]]:
  per_device = functools.partial(families.get(config.family).update, config=config, nets=nets,
                                 axis_name='data', **({} if kind is None else {'kind': kind}))
  batch_spec = P(None, 'data')
  if config.num_seeds > 1:
    per_device = _over_seeds(per_device)
    batch_spec = P(None, None, 'data')
  # check_vma=False gives pmap's semantics: gradients inside are per-device, and the explicit
  # pmean averages them (with check_vma=True, grad would already sum replicated params' grads).
  step = jax.shard_map(per_device, mesh=mesh, in_specs=(P(), batch_spec),
                       out_specs=(P(), P()), check_vma=False)
  # A run's step runs num_steps times: a long one is a `repeated` program.
  options = parallel.compiler_options(mesh, repeated=config.num_steps >= REPEATED_STEPS)
  return jax.jit(step, donate_argnums=0, compiler_options=options)


def _over_seeds(update: Callable[[GANState, Batch], tuple[GANState, Metrics]]
                ) -> Callable[[GANState, Batch], tuple[GANState, Metrics]]:
  """`update` on a stacked state and batch, each seed on its own slice: seeds never mix, and
  the collectives inside still average over devices, seed by seed."""
  def over_seeds(state: GANState, batch: Batch) -> tuple[GANState, Metrics]:
    axes = seed_axes(state)
    return jax.vmap(update, in_axes=(axes, 0), out_axes=(axes, 0))(state, batch)
  return over_seeds
