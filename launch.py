"""Trains a GAN: `python launch.py --config experiments/gan_grid.py:runlocal --workdir DIR`."""

import os
import sys

from absl import app, flags, logging
from ml_collections import config_flags

# New attributes are accepted so that `--config.evals.NAME=...` can add an evaluator; every field,
# new or not, is then checked against the schema by `validate` (a misspelt one is an error line).
_CONFIG = config_flags.DEFINE_config_file('config', None, 'Experiment config file, with `:arg`.',
                                          lock_config=False, accept_new_attributes=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Where checkpoints, logs and figures go.')
_DISTRIBUTED = flags.DEFINE_bool(
    'distributed', os.environ.get('GAN_JAX_DISTRIBUTED', '') == '1',
    'Call jax.distributed.initialize() (multi-host TPU/GPU slices); or GAN_JAX_DISTRIBUTED=1.')
_COORDINATOR = flags.DEFINE_string(
    'coordinator_address', None, 'With --distributed where the cluster is not detected (CPUs): '
    'host:port of process 0, with --num_processes and --process_id.')
_NUM_PROCESSES = flags.DEFINE_integer('num_processes', None, 'With --coordinator_address.')
_PROCESS_ID = flags.DEFINE_integer('process_id', None, 'With --coordinator_address.')


def initialize_distributed(coordinator_address: str | None = None,
                           num_processes: int | None = None,
                           process_id: int | None = None) -> None:
  """`jax.distributed.initialize`, once per process: on TPU and GPU slices it finds the cluster
  itself; elsewhere (several CPU processes) give the coordinator, the process count and this
  process's id. CPU processes exchange collectives through gloo."""
  import jax
  if jax.distributed.is_initialized():
    logging.warning('jax.distributed is already initialized; not initializing again.')
    return
  jax.config.update('jax_cpu_collectives_implementation', 'gloo')
  jax.distributed.initialize(coordinator_address=coordinator_address,
                             num_processes=num_processes, process_id=process_id)


def main(argv):
  del argv
  if _DISTRIBUTED.value:
    initialize_distributed(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
  sys.exit(train(_CONFIG.value, _WORKDIR.value))


def train(config, workdir: str) -> int:
  """Trains `config` in `workdir` and prints where its results are. Bad input (any gan_jax
  `UserError`) prints one `error:` line and returns 1, with no traceback."""
  import jax
  from gan_jax.errors import UserError
  from gan_jax.train import train_and_evaluate

  # Orbax reports every save at INFO; keep its warnings and errors only.
  logging.get_absl_handler().addFilter(
      lambda r: r.levelno >= 30 or '/orbax/' not in r.pathname)
  logging.info('Process %d of %d; devices: %s', jax.process_index(), jax.process_count(),
               jax.devices())
  config.lock()  # From here on, nothing adds a field by mistake.
  try:
    result = train_and_evaluate(config, workdir)
  except UserError as e:
    print(f'error: {e}', file=sys.stderr)
    return 1
  if jax.process_index() == 0 and result['preempted']:
    print(f'stopped by SIGTERM at step {result["step"]}; checkpoint saved in '
          f'{result["checkpoints"]}: the same command continues the run')
  elif jax.process_index() == 0:
    scores = ', '.join(f'{k.removeprefix("eval/")} {v:.3g}' for k, v in result.items()
                       if k.startswith('eval/'))
    print(f'final (step {result["step"]}, {result["seconds"]:.1f}s){": " + scores if scores else ""}')
    print(f'figure: {result["figure"]}')
    print(f'logs: {result["metrics"]} (TensorBoard: {workdir})')
    print(f'checkpoints: {result["checkpoints"]}')
  return 0


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
