"""Trains a GAN: `python launch.py --config experiments/gan_grid.py:runlocal --workdir DIR`."""

import os
import sys

from absl import app, flags, logging
from ml_collections import config_flags

# New attributes are accepted so that `--config.evals.NAME=...` can add an evaluator; every field,
# new or not, is then checked by `gan_jax.train.checks.check` (a misspelt one is an error line).
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
_SWEEP = flags.DEFINE_bool('sweep', False, "Run the config file's get_sweep(arg) on Ray Tune, "
                           'each trial in WORKDIR/trials/; the same command resumes it.')
_TRIAL_WORKERS = flags.DEFINE_integer('trial_workers', 1, '--sweep: processes (hosts) per trial.')
_TRIAL_RESOURCES = flags.DEFINE_string(
    'trial_resources', 'CPU=1', '--sweep: Ray resources of each trial process, e.g. TPU=4 or GPU=1.')
_TRIAL_TOPOLOGY = flags.DEFINE_string('trial_tpu_topology', '',
                                      '--sweep on TPU: the slice of each trial, e.g. 4x4.')
_TRIAL_ACCELERATOR = flags.DEFINE_string('trial_accelerator_type', '',
                                         '--sweep on TPU: e.g. TPU-V6E.')
_RAY_ADDRESS = flags.DEFINE_string('ray_address', None,
                                   "--sweep: a Ray cluster to join ('auto' on its head node); "
                                   'default: start Ray on this machine.')
_MAX_CONCURRENT = flags.DEFINE_integer('max_concurrent_trials', 0,
                                       '--sweep: at most this many trials at once (0: as resources allow).')


def main(argv):
  del argv
  if _DISTRIBUTED.value:
    from gan_jax.parallel import initialize_distributed
    initialize_distributed(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
  if _SWEEP.value:
    sys.exit(sweep(_CONFIG.value, flags.FLAGS['config'].config_filename, _WORKDIR.value,
                   trial_workers=_TRIAL_WORKERS.value, trial_resources=_TRIAL_RESOURCES.value,
                   trial_tpu_topology=_TRIAL_TOPOLOGY.value,
                   trial_accelerator_type=_TRIAL_ACCELERATOR.value, ray_address=_RAY_ADDRESS.value,
                   max_concurrent_trials=_MAX_CONCURRENT.value))
  sys.exit(train(_CONFIG.value, _WORKDIR.value))


def sweep(config, config_file: str, workdir: str, *, trial_workers: int = 1,
          trial_resources: str = 'CPU=1', trial_tpu_topology: str = '',
          trial_accelerator_type: str = '', ray_address: str | None = None,
          max_concurrent_trials: int = 0) -> int:
  """Runs the sweep of `config_file` (`path:arg`) over `config` (with its command-line
  overrides) on Ray Tune. Bad input (a sweep key that is no config field, a metric no evaluator
  logs, Ray not installed) is one `error:` line, before Ray starts."""
  import importlib.util
  from gan_jax import sweep as sweeps
  from gan_jax.errors import UserError

  path, _, arg = config_file.partition(':')
  spec = importlib.util.spec_from_file_location('experiment_config', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config.lock()
  try:
    scale = sweeps.trial_scale(trial_workers, trial_resources, trial_tpu_topology,
                               trial_accelerator_type)
    table = sweeps.run(config, sweeps.load_sweep(module, arg or None, config), workdir, scale,
                       ray_address, max_concurrent_trials)
  except UserError as e:
    print(f'error: {e}', file=sys.stderr)
    return 1
  print(table)
  print(f'table: {os.path.join(workdir, "sweep.md")} and sweep.csv; trials: '
        f'{os.path.join(workdir, "trials")}')
  return 0


def train(config, workdir: str) -> int:
  """Trains `config` in `workdir` and prints where its results are. Bad input (any gan_jax
  `UserError`) prints one `error:` line and returns 1, with no traceback."""
  import jax
  from gan_jax.errors import UserError
  from gan_jax.train import train_and_evaluate

  # Orbax reports every save at INFO, and jax every accelerator runtime it does not find (libtpu
  # on every GPU and CPU machine): keep their warnings and errors only.
  logging.get_absl_handler().addFilter(
      lambda r: r.levelno >= 30 or not ('/orbax/' in r.pathname or r.name.startswith('jax._src')))
  from gan_jax.parallel import accelerator_notice
  if jax.process_index() == 0 and (notice := accelerator_notice()):
    print(f'warning: {notice}', file=sys.stderr)
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
  config_file = None
  for i, arg in enumerate(argv):  # A missing config file: say so before anything else.
    path = arg.split('=', 1)[1] if arg.startswith('--config=') else (
        argv[i + 1] if arg == '--config' and i + 1 < len(argv) else None)
    if path is not None:
      config_file = path.split(':', 1)[0]
      if not os.path.isfile(config_file):
        sys.exit(f'error: --config: no such file: {config_file}')
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    sys.exit(f'error: {_one_line(e)}')
  except AttributeError as e:
    if "attribute 'get_config'" in str(e):  # ml_collections' loader calls module.get_config.
      sys.exit(f'error: --config: {config_file} defines no get_config(arg); a config file '
               'returns its ConfigDict from get_config(arg), as experiments/*.py do')
    sys.exit(f'error: --config override: AttributeError: {_one_line(e)}')
  except (KeyError, TypeError, ValueError) as e:  # A --config.FIELD override.
    sys.exit(f'error: --config override: {type(e).__name__}: {_one_line(e)}')


def _run():
  flags.mark_flags_as_required(['config', 'workdir'])
  app.run(main, flags_parser=parse_flags)


if __name__ == '__main__':
  _run()
