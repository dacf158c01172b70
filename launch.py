"""Trains a GAN: `python launch.py --config experiments/gan_grid.py:runlocal --workdir DIR`."""

import os
import sys

from absl import app, flags, logging
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Experiment config file, with `:arg`.',
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Where checkpoints, logs and figures go.')
_DISTRIBUTED = flags.DEFINE_bool(
    'distributed', os.environ.get('GAN_JAX_DISTRIBUTED', '') == '1',
    'Call jax.distributed.initialize() (multi-host TPU/GPU slices); or GAN_JAX_DISTRIBUTED=1.')


def main(argv):
  del argv
  import jax
  from gan_jax.config import ConfigError
  from gan_jax.data import DataError
  from gan_jax.metrics.inception import InceptionWeightsError
  from gan_jax.metrics.scores import MetricInputError
  from gan_jax.train import train_and_evaluate
  from gan_jax.train.checkpoint import CheckpointError
  from gan_jax.train.loop import NonFiniteLossError

  # Orbax reports every save at INFO; keep its warnings and errors only.
  logging.get_absl_handler().addFilter(
      lambda r: r.levelno >= 30 or '/orbax/' not in r.pathname)
  if _DISTRIBUTED.value:
    jax.distributed.initialize()
  logging.info('Process %d of %d; devices: %s', jax.process_index(), jax.process_count(),
               jax.devices())
  try:
    result = train_and_evaluate(_CONFIG.value, _WORKDIR.value)
  except (ConfigError, DataError, CheckpointError, NonFiniteLossError, InceptionWeightsError,
          MetricInputError) as e:
    sys.exit(f'error: {e}')
  if jax.process_index() == 0:
    scores = ', '.join(f'{k.removeprefix("eval/")} {v:.3g}' for k, v in result.items()
                       if k.startswith('eval/'))
    print(f'final (step {result["step"]}, {result["seconds"]:.1f}s){": " + scores if scores else ""}')
    print(f'figure: {result["figure"]}')
    print(f'logs: {result["metrics"]} (TensorBoard: {_WORKDIR.value})')
    print(f'checkpoints: {result["checkpoints"]}')


def _one_line(e: BaseException) -> str:
  """The gist of an error from parsing the config, on one line, without a traceback."""
  text = str(e)
  if 'Traceback' in text:  # The loader's message ends with the exception that stopped it.
    text = text.strip().splitlines()[-1]
  text = text.strip('\'"').replace("\\'", "'").replace('\\n', ' ').replace('\n', ' ')
  return text.replace('Pass --helpshort or --helpfull to see help on flags.', '').strip()


def parse_flags(argv: list[str]) -> list[str]:
  """absl flag parsing where a missing config file or a bad override is one error line."""
  for i, arg in enumerate(argv):  # A missing config file: say so before anything else.
    path = arg.split('=', 1)[1] if arg.startswith('--config=') else (
        argv[i + 1] if arg == '--config' and i + 1 < len(argv) else None)
    if path is not None and not os.path.isfile(path.split(':', 1)[0]):
      sys.exit(f'error: --config: no such file: {path.split(":", 1)[0]}')
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    sys.exit(f'error: {_one_line(e)}')
  except (AttributeError, KeyError, TypeError, ValueError) as e:  # A --config.FIELD override.
    sys.exit(f'error: --config override: {type(e).__name__}: {_one_line(e)}')


def _run():
  flags.mark_flags_as_required(['config', 'workdir'])
  app.run(main, flags_parser=parse_flags)


if __name__ == '__main__':
  _run()
