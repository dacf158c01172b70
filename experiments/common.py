"""What experiment files share: variant parsing, the evaluators of an image experiment, and the
`runlocal` shrinking. Experiments read their variants from `parse_arg`, never from substrings."""

from __future__ import annotations

from typing import Any

import ml_collections

from gan_jax.errors import ConfigError
from gan_jax.metrics.evaluators import metric_keys


def parse_arg(arg: str | None, **defaults: Any) -> ml_collections.ConfigDict:
  """Parses a config-file argument, `"runlocal,pack=2"`, typed by `defaults`.

  A bare name sets a boolean to True. A name not in `defaults` is an error.
  """
  out = ml_collections.ConfigDict(defaults)
  for item in filter(None, (arg or '').split(',')):
    key, _, value = item.partition('=')
    if key not in defaults:
      raise ConfigError(f"config argument '{key}': unknown; known: {sorted(defaults)}")
    default = defaults[key]
    if not _:
      if not isinstance(default, bool):
        raise ConfigError(f"config argument '{key}' needs a value: {key}=...")
      out[key] = True
    elif isinstance(default, bool):
      out[key] = value.lower() in ('1', 'true', 'yes')
    else:
      try:
        out[key] = type(default)(value)
      except ValueError:
        raise ConfigError(
            f"config argument '{key}={value}': expected {type(default).__name__}") from None
  return out


def set_evals(c: ml_collections.ConfigDict, extractor: str, num_samples: int = 10_000,
              is_samples: int = 50_000) -> None:
  """The evaluators of an image experiment: Fréchet distance and Inception(-like) score every
  `eval_every` steps against the whole training split, keeping the best checkpoint by the
  Fréchet distance. With `extractor='inception'`: FID and IS, the published protocol."""
  every = c.get_ref('eval_every')  # Follows later changes of eval_every, command line included.
  c.evals = ml_collections.ConfigDict()
  c.evals.fd = dict(metric='fd', every=every, num_samples=num_samples, extractor=extractor)
  # Not 'is', a Python keyword: the command line could not reach --config.evals.is.num_samples.
  c.evals.inception_score = dict(metric='is', every=every, num_samples=is_samples,
                                 extractor=extractor)
  c.eval.best_metric = metric_keys('fd', extractor)[0]


def shrink_for_runlocal(c: ml_collections.ConfigDict, num_steps: int = 4) -> None:
  """The `:runlocal` variant of an image experiment: a slice of the data, tiny models, a few
  steps, every output written. Runs in seconds on a CPU."""
  c.dataset.split = 'train[:256]'
  c.batch_size = 8
  c.n_critic = min(c.n_critic, 2)  # Still a loop of critic updates; each one adds compile time.
  c.num_steps = num_steps
  c.log_every = 2
  c.eval_every = c.checkpoint_every = num_steps
  for model in (c.generator, c.discriminator):
    if 'ch' in model:
      model.ch = 8
  if c.family in ('noise', 'style'):  # samples of the training distribution
    if 'fd' in c.evals:  # Offline: the dataset's classifier instead of the Inception.
      set_evals(c, f'{c.dataset.name}_cnn', num_samples=64, is_samples=64)
    return
  for entry in c.evals.values():  # Translation: the first 64 held-out pairs.
    entry['num_samples'] = min(entry['num_samples'], 64)
    if 'num_real' in entry:
      entry['num_real'] = min(entry['num_real'], 64)
