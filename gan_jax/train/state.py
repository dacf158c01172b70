"""`GANState`: every network's parameters, optimizer states, batch statistics, the EMA generators
and running values."""

from __future__ import annotations

from typing import Any

import flax
import jax
import jax.numpy as jnp
import ml_collections
import optax

from gan_jax.models import Networks
from gan_jax.train import compiled, families
from gan_jax.train.seeds import run_seeds

PyTree = Any


@flax.struct.dataclass
class GANState:
  """Everything a training step reads and writes; one pytree, checkpointed whole.

  Networks are named per side (`g_params['g']`, or `['g_ab']` and `['g_ba']`), each side with
  one optimizer state over all its networks. `running` holds values the step carries besides
  networks (CycleGAN's image pools). `key` is fixed for the run: each step derives its
  randomness from `fold_in(key, step)`, so the state at step k fully determines the rest.
  """
  step: jax.Array
  key: jax.Array
  g_params: dict[str, PyTree]
  d_params: dict[str, PyTree]
  g_ema_params: dict[str, PyTree]
  g_batch_stats: dict[str, PyTree]   # non-parameter collections: BatchNorm, spectral norm
  d_batch_stats: dict[str, PyTree]
  g_opt_state: optax.OptState
  d_opt_state: optax.OptState
  running: dict[str, PyTree]
  g_tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)
  d_tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)


def make_optimizer(lr: float, b1: float, b2: float, schedule: str, num_updates: int,
                   decay_from: float = 0.0) -> optax.GradientTransformation:
  """Adam with a constant learning rate, or one decaying linearly to 0 at `num_updates`, from the
  start or after a `decay_from` fraction of them at the full rate (CycleGAN's schedule).

  Both are schedules, so the optimizer state (with its update count) has one structure whatever
  the schedule: a run can resume from a checkpoint with another schedule or rate."""
  if schedule == 'linear':
    constant = int(decay_from * num_updates)
    rate = optax.linear_schedule(lr, 0.0, num_updates - constant, transition_begin=constant)
  else:
    rate = optax.constant_schedule(lr)
  return optax.adam(rate, b1=b1, b2=b2)


def optimizers(config: ml_collections.ConfigDict) -> tuple[optax.GradientTransformation,
                                                            optax.GradientTransformation]:
  """(G's, D's) optimizer from `config.optim`, unless the family provides its own `optimizers`
  (the style family corrects Adam for its lazy regularization steps)."""
  o = config.optim
  return (make_optimizer(o.g_lr, o.g_b1, o.g_b2, o.schedule, config.num_steps, o.decay_from),
          make_optimizer(o.d_lr, o.d_b1, o.d_b2, o.schedule, config.num_steps * config.n_critic,
                         o.decay_from))


def create_state(config: ml_collections.ConfigDict, nets: Networks,
                 key: jax.Array | None = None) -> GANState:
  """Initial state from `key` (default: `jax.random.key(config.seed)`).

  Traceable, so `jax.vmap` over keys makes the states of many seeds at once.
  """
  key = jax.random.key(config.seed) if key is None else key
  g_key, d_key, run_key = jax.random.split(key, 3)
  family = families.get(config.family)
  g_vars, d_vars, running = family.init_variables(config, nets, g_key, d_key)
  g_params = {name: v['params'] for name, v in g_vars.items()}
  d_params = {name: v['params'] for name, v in d_vars.items()}
  g_tx, d_tx = getattr(family, 'optimizers', optimizers)(config)
  return GANState(
      step=jnp.zeros((), jnp.int32),
      key=run_key,
      g_params=g_params,
      d_params=d_params,
      g_ema_params=jax.tree.map(jnp.copy, g_params),  # Own buffers: the state is donated.
      g_batch_stats={name: v.get('batch_stats', {}) for name, v in g_vars.items()},
      d_batch_stats={name: v.get('batch_stats', {}) for name, v in d_vars.items()},
      g_opt_state=g_tx.init(g_params),
      d_opt_state=d_tx.init(d_params),
      running=running,
      g_tx=g_tx,
      d_tx=d_tx)


def initial_state(config: ml_collections.ConfigDict, nets: Networks) -> GANState:
  """`create_state` from `config.seed`, compiled as one program: initializing op by op compiles
  each of its hundreds of small operations on its own, seconds for a large model.

  With `config.num_seeds` = N > 1, the states of the N seeds stacked along a leading axis of
  every leaf but `step`, which they share (`seed_axes`).
  """
  def build(config):
    if config.num_seeds == 1:
      return jax.jit(lambda key: create_state(config, nets, key))

    def stacked(keys):
      state = jax.vmap(lambda key: create_state(config, nets, key))(keys)
      return state.replace(step=state.step[0])
    return jax.jit(stacked)
  init = compiled.reuse('initial_state', config, nets, None, build)
  if config.num_seeds == 1:
    return init(jax.random.key(config.seed))
  return init(jax.vmap(jax.random.key)(jnp.array(run_seeds(config))))


def seed_axes(state: GANState) -> GANState:
  """`jax.vmap`'s in/out axes of a stacked state: every leaf along axis 0, the step shared."""
  return jax.tree.map(lambda _: 0, state).replace(step=None)


def seed_state(state: GANState, index: int) -> GANState:
  """Seed number `index` (0-based) of a stacked state: the state its own run would have."""
  return jax.tree.map(lambda x: x[index], state.replace(step=None)).replace(step=state.step)


def param_count(params: PyTree) -> int:
  return sum(x.size for x in jax.tree.leaves(params))
