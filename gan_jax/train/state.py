"""`GANState`: both networks' parameters, optimizer states, batch statistics and the EMA generator."""

from __future__ import annotations

from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax

PyTree = Any


@flax.struct.dataclass
class GANState:
  """Everything a training step reads and writes; one pytree, checkpointed whole.

  `key` is fixed for the run: each step derives its randomness from `fold_in(key, step)`,
  so the state at step k fully determines the rest of the run.
  """
  step: jax.Array
  key: jax.Array
  g_params: PyTree
  d_params: PyTree
  g_ema_params: PyTree
  g_batch_stats: PyTree
  d_batch_stats: PyTree
  g_opt_state: optax.OptState
  d_opt_state: optax.OptState
  g_tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)
  d_tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)


def make_optimizer(lr: float, b1: float, b2: float, schedule: str,
                   num_updates: int) -> optax.GradientTransformation:
  """Adam with a constant learning rate, or one decaying linearly to 0 over `num_updates`."""
  if schedule == 'linear':
    lr = optax.linear_schedule(lr, 0.0, num_updates)
  return optax.adam(lr, b1=b1, b2=b2)


def create_state(config: ml_collections.ConfigDict, generator: nn.Module,
                 discriminator: nn.Module, data_shape: tuple[int, ...],
                 key: jax.Array | None = None) -> GANState:
  """Initial state from `key` (default: `jax.random.key(config.seed)`).

  Traceable, so `jax.vmap` over keys makes the states of many seeds at once.
  """
  key = jax.random.key(config.seed) if key is None else key
  g_key, d_key, run_key = jax.random.split(key, 3)
  z = jnp.zeros((1, config.latent_dim), jnp.float32)
  labels = jnp.zeros((1,), jnp.int32)
  g_vars = generator.init(g_key, z, labels, train=False)
  packed = jnp.zeros((1,) + tuple(data_shape[:-1]) + (data_shape[-1] * config.pack,), jnp.float32)
  d_vars = discriminator.init(d_key, packed, labels, train=False)
  o = config.optim
  g_tx = make_optimizer(o.g_lr, o.g_b1, o.g_b2, o.schedule, config.num_steps)
  d_tx = make_optimizer(o.d_lr, o.d_b1, o.d_b2, o.schedule, config.num_steps * config.n_critic)
  return GANState(
      step=jnp.zeros((), jnp.int32),
      key=run_key,
      g_params=g_vars['params'],
      d_params=d_vars['params'],
      g_ema_params=jax.tree.map(jnp.copy, g_vars['params']),  # Own buffers: the state is donated.
      g_batch_stats=g_vars.get('batch_stats', {}),
      d_batch_stats=d_vars.get('batch_stats', {}),
      g_opt_state=g_tx.init(g_vars['params']),
      d_opt_state=d_tx.init(d_vars['params']),
      g_tx=g_tx,
      d_tx=d_tx)


def apply_model(model: nn.Module, params: PyTree, batch_stats: PyTree, x: jax.Array,
                labels: jax.Array | None = None, train: bool = True) -> tuple[jax.Array, PyTree]:
  """Runs a model on `x` (and class `labels`); returns its output and its batch statistics,
  updated when training."""
  variables = {'params': params}
  if batch_stats:
    variables['batch_stats'] = batch_stats
    if train:
      out, updates = model.apply(variables, x, labels, train=True, mutable=['batch_stats'])
      return out, updates['batch_stats']
  return model.apply(variables, x, labels, train=train), batch_stats


def param_count(params: PyTree) -> int:
  return sum(x.size for x in jax.tree.leaves(params))
