"""Training: the state pytree, the compiled step, and the loop.

The names below load on first use, so that the step and its parts (`gan_jax.train.step`,
`.state`, `.families`) import without the loop's logging, checkpoint and data libraries, as
bench/device_check.py needs on a machine that has only jax, flax and a few small wheels.
"""

import importlib

_NAMES = {'train_and_evaluate': 'loop', 'GANState': 'state', 'create_state': 'state',
          'make_train_step': 'step'}


def __getattr__(name: str):
  if name in _NAMES:
    return getattr(importlib.import_module(f'gan_jax.train.{_NAMES[name]}'), name)
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
