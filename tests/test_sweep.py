"""Sweeps: `get_sweep` checked against its config before Ray starts, and a local sweep on Ray Tune
whose trials are 2-process runs, interrupted and resumed with the same command."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

import launch
from conftest import ROOT, subprocess_env
from experiments import cgan_cifar, gan_grid
from gan_jax import sweep
from gan_jax.errors import SweepError
from test_bad_input import one_error_line, snapshot


def _experiment_file(tmp_path, spec: str) -> str:
  """An experiment file: gan_grid's config, with `spec` as its sweep."""
  path = tmp_path / 'experiment.py'
  path.write_text('from experiments.gan_grid import get_config\n\n\n'
                  f'def get_sweep(arg=None):\n  return {spec}\n')
  return str(path)


GOOD = ("dict(params={'optim.g_lr': {'loguniform': (1e-4, 1e-3)}, 'pack': [1, 2]}, "
        "metric='modes_covered', num_trials=4, scheduler='asha')")


@pytest.mark.parametrize('spec,message', [
    (GOOD.replace("'optim.g_lr'", "'optim.g_rl'"),
     "sweep param 'optim.g_rl': not a config field"),
    (GOOD.replace("'pack'", "'pak'"), "sweep param 'pak': not a config field"),
    (GOOD.replace("'optim.g_lr'", "'optimizer.g_lr'"),
     "sweep param 'optimizer.g_lr': 'optimizer' is not a group of config fields"),
    (GOOD.replace("'modes_covered'", "'fid'"), "metric 'fid' is not logged by this config"),
    (GOOD.replace('[1, 2]', '[1, 0]'), "sweep param 'pack' = 0: config.pack: must be positive"),
    (GOOD.replace('[1, 2]', "['two']"), "sweep param 'pack': value 'two' does not fit the field"),
    (GOOD.replace('num_trials=4', 'num_trials=3'), 'num_trials 3 must be a positive multiple of '
                                                    'the grid size 2'),
    (GOOD.replace('loguniform', 'lognormal'), "unknown distribution 'lognormal'"),
    (GOOD.replace('(1e-4, 1e-3)', '(0, 1e-3)'), 'loguniform needs (low, high) with 0 < low < high'),
    (GOOD.replace("'asha'", "'hyperband'"), "scheduler 'hyperband'"),
])
def test_bad_sweep_is_one_error_line_before_ray_starts(tmp_path, capsys, spec, message):
  workdir = tmp_path / 'sweep'
  config = gan_grid.get_config('runlocal')
  code = launch.sweep(config, _experiment_file(tmp_path, spec), str(workdir))
  assert code == 1
  assert message in one_error_line(capsys.readouterr().err)
  assert not workdir.exists()  # Nothing was started.


def test_sweep_without_ray_says_how_to_install_it(tmp_path, capsys, monkeypatch):
  monkeypatch.setitem(sys.modules, 'ray', None)  # `import ray` raises ImportError
  code = launch.sweep(gan_grid.get_config('runlocal'), _experiment_file(tmp_path, GOOD),
                      str(tmp_path / 'sweep'))
  assert code == 1
  assert "--sweep needs Ray, an optional extra: pip install -e '.[sweep]'" in one_error_line(
      capsys.readouterr().err)


def test_shipped_sweeps_fit_their_configs():
  for module, arg in ((gan_grid, 'runlocal'), (gan_grid, None), (cgan_cifar, None),
                      (cgan_cifar, 'runlocal')):
    config = module.get_config(arg)
    config.lock()
    checked = sweep.load_sweep(module, arg, config)
    assert checked.num_trials % checked.grid_size == 0
  grid = sweep.load_sweep(gan_grid, 'runlocal', gan_grid.get_config('runlocal'))
  assert grid.grid_size == grid.num_trials == 2 and grid.mode == 'max'
  cifar = sweep.load_sweep(cgan_cifar, None, cgan_cifar.get_config())
  assert cifar.metric == 'fid' and cifar.mode == 'min'
  assert {'optim.g_lr', 'optim.d_lr', 'n_critic', 'optim.g_b1', 'optim.d_b1'} <= set(cifar.params)


def test_apply_values_sets_dotted_fields_on_a_copy():
  config = gan_grid.get_config('runlocal')
  config.lock()
  swept = sweep.apply_values(config, {'optim.g_lr': 3e-4, 'pack': 2})
  assert (swept.optim.g_lr, swept.pack) == (3e-4, 2)
  assert (config.optim.g_lr, config.pack) == (1e-4, 1)
  with pytest.raises(SweepError, match="'latent_dimm': not a config field"):
    sweep.apply_values(config, {'latent_dimm': 3})


def test_table_ranks_trials_by_their_best_metric(tmp_path):
  config = gan_grid.get_config('runlocal')
  config.lock()
  checked = sweep.load_sweep(gan_grid, 'runlocal', config)
  for name, pack, values in (('a', 1, [3, 5]), ('b', 2, [7, 6]), ('c', 1, [])):
    os.makedirs(tmp_path / 'trials' / name)
    (tmp_path / 'trials' / name / sweep.TRIAL_FILE).write_text(json.dumps(
        {'values': {'optim.g_lr': 1e-4, 'optim.d_lr': 2e-4, 'pack': pack}}))
    (tmp_path / 'trials' / name / 'metrics.jsonl').write_text(''.join(
        json.dumps({'step': 10 * (i + 1), 'eval/modes_covered': v}) + '\n'
        for i, v in enumerate(values)))
  table = sweep.write_table(str(tmp_path), checked)
  rows = [line for line in table.splitlines() if line.startswith('| ') and 'trial' not in line]
  assert [r.split(' | ')[0] for r in rows] == ['| b', '| a', '| c']  # higher is better; c has none
  assert '| 7 | 10 |' in rows[0] and '| 5 | 20 |' in rows[1]
  with open(tmp_path / 'sweep.csv') as f:
    assert f.readline().strip() == 'trial,optim.g_lr,optim.d_lr,pack,steps,modes_covered,at step'


def test_tpu_cluster_file_is_a_valid_ray_cluster_config():
  yaml = pytest.importorskip('yaml')
  from ray.autoscaler._private.util import prepare_config, validate_config
  with open(os.path.join(ROOT, 'cluster', 'tpu_sweep.yaml')) as f:
    cluster = yaml.safe_load(f)
  validate_config(prepare_config(cluster))  # Ray's own schema of `ray up` files, defaults filled.
  assert cluster['available_node_types']['tpu_slice']['node_config']['acceleratorType']


def _trial_folders(workdir) -> dict[str, dict]:
  trials = os.path.join(workdir, 'trials')
  out = {}
  for name in sorted(os.listdir(trials)) if os.path.isdir(trials) else []:
    log = os.path.join(trials, name, 'metrics.jsonl')
    steps = []
    if os.path.exists(log):
      with open(log) as f:
        steps = [json.loads(line)['step'] for line in f if line.strip()]
    out[name] = {'steps': steps, 'log': log}
  return out


def test_local_sweep_of_two_process_trials_resumes_after_a_kill(tmp_path):
  """The toy grid's runlocal sweep (packs 1 and 2), both trials at once, each 2 processes
  (half a CPU each). Killed once one trial has finished, the same command finishes the sweep:
  the finished trial is not rerun, the other continues from its checkpoint."""
  workdir = str(tmp_path / 'sweep')
  command = [sys.executable, 'launch.py', '--config', 'experiments/gan_grid.py:runlocal',
             '--workdir', workdir, '--sweep', '--trial_workers', '2', '--trial_resources',
             'CPU=0.5']
  env = subprocess_env(1)  # one device per process
  first = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, start_new_session=True)
  deadline = time.time() + 240
  finished = []
  while time.time() < deadline and first.poll() is None and not finished:
    finished = [n for n in _trial_folders(workdir) if os.path.exists(
        os.path.join(workdir, 'trials', n, 'checkpoints', '20', 'commit_success.txt'))]
    time.sleep(0.2)
  os.killpg(first.pid, signal.SIGKILL)  # The driver and the Ray processes it started.
  out = first.communicate()[0]
  assert finished, out[-3000:]
  kept = snapshot(os.path.join(workdir, 'trials', finished[0]))
  # The other trial's checkpoint at step 10, if it had written one: resumed from, not rewritten.
  checkpoint_10 = {n: os.path.join(workdir, 'trials', n, 'checkpoints', '10')
                   for n in _trial_folders(workdir) if n not in finished}
  checkpoint_10 = {n: (path, snapshot(path)) for n, path in checkpoint_10.items()
                   if os.path.exists(os.path.join(path, 'commit_success.txt'))}

  second = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                          start_new_session=True)
  assert second.returncode == 0, (second.stdout + second.stderr)[-3000:]
  trials = _trial_folders(workdir)
  assert len(trials) == 2 and all(t['steps'][-1] == 20 for t in trials.values())
  assert snapshot(os.path.join(workdir, 'trials', finished[0])) == kept  # not run again
  for path, files in checkpoint_10.values():
    assert snapshot(path) == files
  for name in trials:
    with open(os.path.join(workdir, 'trials', name, sweep.TRIAL_FILE)) as f:
      info = json.load(f)
    assert info['processes'] == 2 and info['devices'] == 2
    assert os.listdir(os.path.join(workdir, 'trials', name, 'checkpoints'))
  with open(os.path.join(workdir, 'sweep.md')) as f:
    table = f.read()
  assert table in second.stdout
  assert sorted(line.split(' | ')[3] for line in table.splitlines()
                if line.startswith('| ') and 'trial' not in line) == ['1', '2']  # the packs
  assert os.path.exists(os.path.join(workdir, 'sweep.csv'))


@pytest.mark.parametrize('options,message', [
    ({'trial_workers': 0}, '--trial_workers: must be at least 1, got 0'),
    ({'trial_resources': 'CPU'}, "--trial_resources: 'CPU'; give NAME=AMOUNT"),
    ({'trial_tpu_topology': '2x2x2'},
     "--trial_tpu_topology: give the slice's --trial_accelerator_type too"),
])
def test_bad_trial_flags_are_one_error_line(tmp_path, capsys, options, message):
  code = launch.sweep(gan_grid.get_config('runlocal'), _experiment_file(tmp_path, GOOD),
                      str(tmp_path / 'sweep'), **options)
  assert code == 1
  assert message in one_error_line(capsys.readouterr().err)
  assert not (tmp_path / 'sweep').exists()
