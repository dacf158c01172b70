"""Bad input ends in one `error:` line naming the file or field and what to do, and whatever was
already written stays as it was."""

import hashlib
import json
import os
import re
import subprocess
import sys

import jax
import numpy as np
import pytest
from PIL import Image

import launch
from conftest import ROOT, subprocess_env
from experiments import gan_grid
from gan_jax import evaluate
from gan_jax.train.checks import check
from gan_jax.data.images import ImageDataset
from gan_jax.errors import ConfigError, DataError, WorkdirError
from gan_jax.metrics import evaluators
from gan_jax.train import train_and_evaluate
from test_train import read_state, resume_config


def snapshot(folder) -> dict[str, str]:
  """Every file under `folder`, relative path -> sha256 of its content (but the lock's, which
  names the process of the latest run)."""
  out = {}
  for root, _, files in os.walk(folder):
    for name in files:
      path = os.path.join(root, name)
      if os.path.relpath(path, folder) == '.lock':
        out['.lock'] = 'present'
        continue
      with open(path, 'rb') as f:
        out[os.path.relpath(path, folder)] = hashlib.sha256(f.read()).hexdigest()
  return out


def one_error_line(text: str) -> str:
  """The single `error:` line of `text`, checked to be the last line and at most ~300 characters."""
  lines = [l for l in text.splitlines() if l.strip()]
  errors = [l for l in lines if l.startswith('error:')]
  assert len(errors) == 1, text[-3000:]
  assert lines[-1] == errors[0], f'output after the error line: {lines[-1]!r}'
  assert 'Traceback' not in text
  # At most ~300 characters, not counting the length of pytest's temporary paths.
  assert len(re.sub(r'\S*/pytest-\d+/[^\s`\'"]+', 'W', errors[0])) <= 300, errors[0]
  return errors[0]


def run_launch(capsys, config, workdir) -> str:
  """launch.py's handling of a run, in this process: returns its one error line."""
  assert launch.train(config, str(workdir)) == 1
  return one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize('content', [b'\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00', b'just text'])
def test_undecodable_image_in_a_folder_names_the_file(tmp_path, capsys, content):
  os.makedirs(tmp_path / 'data' / 'cats')
  Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / 'data' / 'cats' / '0.png')
  bad = tmp_path / 'data' / 'cats' / '1.png'
  bad.write_bytes(content)  # A truncated PNG, or text with an image suffix.
  before = snapshot(tmp_path / 'data')
  with pytest.raises(DataError) as error:
    ImageDataset(name=f'folder:{tmp_path / "data"}', split='train', data_dir=None, image_size=0,
                 download=False, seed=0, batch_size=2).images
  assert str(error.value).startswith(f'{bad}: cannot be decoded as an image')
  assert '\n' not in str(error.value)
  from experiments import dcgan_mnist  # Through launch.py's handling.
  config = dcgan_mnist.get_config('runlocal')
  config.dataset.name = f'folder:{tmp_path / "data"}'
  line = run_launch(capsys, config, tmp_path / 'w')
  assert f'{bad}: cannot be decoded as an image' in line and 'replace or remove it' in line
  assert snapshot(tmp_path / 'data') == before


def test_damaged_checkpoint_names_the_intact_one_and_resume_step_resumes_from_it(tmp_path,
                                                                                 capsys):
  config = resume_config()  # Checkpoints at steps 3 and 6.
  full, damaged = tmp_path / 'full', tmp_path / 'damaged'
  train_and_evaluate(config, str(full))
  config.num_steps = 6
  # The damaged workdir: checkpoint 6 truncated, as by a disk filling up mid-save.
  import shutil
  shutil.copytree(full, damaged)
  for root, _, files in os.walk(damaged / 'checkpoints' / '6'):
    for name in files:
      if os.path.basename(root) == 'd':
        with open(os.path.join(root, name), 'r+b') as f:
          f.truncate(8)
  before = snapshot(damaged)
  line = run_launch(capsys, config, damaged)
  assert f'checkpoint 6 in {damaged / "checkpoints"} is damaged' in line
  assert 'checkpoint 3 is intact' in line and '--config.resume_step=3' in line
  assert snapshot(damaged) == before  # Nothing was changed.

  # Resuming from checkpoint 3 moves 6 aside, deleting nothing, and ends in the uninterrupted state.
  config.resume_step = 3
  assert launch.train(config, str(damaged)) == 0
  aside = damaged / 'set_aside' / 'after_3'
  assert snapshot(aside / 'checkpoints' / '6') == {
      k.removeprefix('checkpoints/6/'): v for k, v in before.items() if k.startswith('checkpoints/6/')}
  assert snapshot(aside)['metrics.jsonl'] == before['metrics.jsonl']
  a, b = read_state(str(full), config, 6), read_state(str(damaged), config, 6)
  jax.tree.map(np.testing.assert_array_equal, a.g_params, b.g_params)
  jax.tree.map(np.testing.assert_array_equal, a.d_opt_state, b.d_opt_state)
  # The same command again continues from the latest checkpoint (6): nothing more is moved.
  assert launch.train(config, str(damaged)) == 0
  assert sorted(os.listdir(aside / 'checkpoints')) == ['6']


def test_resume_step_that_does_not_exist_or_cannot_restore_is_one_line(tmp_path, capsys):
  config = resume_config()
  train_and_evaluate(config, str(tmp_path))
  before = snapshot(tmp_path)
  config.resume_step = 4
  line = run_launch(capsys, config, tmp_path)
  assert 'config.resume_step: no checkpoint 4' in line and 'saved steps: [3, 6]' in line
  assert snapshot(tmp_path) == before
  # Checkpoint 3 cannot restore into a run with another generator (a third hidden layer): the
  # later checkpoints stay where they are.
  config.resume_step = 3
  config.generator.hidden = (64, 64, 64)
  line = run_launch(capsys, config, tmp_path)
  assert f'checkpoint 3 in {tmp_path / "checkpoints"} cannot be restored into this run' in line
  assert 'nothing was changed' in line and 'config.json' in line
  assert snapshot(tmp_path) == before
  assert not os.path.exists(tmp_path / 'set_aside')


def test_damaged_checkpoint_through_launch_ends_with_the_error_line(tmp_path):
  """In a process of its own: orbax's threads must not print after the error at exit."""
  config = resume_config()
  train_and_evaluate(config, str(tmp_path))
  for root, _, files in os.walk(tmp_path / 'checkpoints' / '6'):
    for name in files:
      if name == '_METADATA':
        os.remove(os.path.join(root, name))
  before = snapshot(tmp_path)
  env = subprocess_env(1)
  result = subprocess.run(
      [sys.executable, 'launch.py', '--config', 'experiments/gan_grid.py:runlocal',
       '--workdir', str(tmp_path), '--config.batch_size=16', '--config.n_critic=2',
       '--config.num_steps=6', '--config.checkpoint_every=3', '--config.eval_every=3',
       '--config.ema_decay=0.5'],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  assert result.returncode == 1
  line = one_error_line(result.stderr)
  assert 'checkpoint 6' in line and '--config.resume_step=3' in line
  assert snapshot(tmp_path) == before


# launch.py's flags for the run `resume_config()` describes.
RESUME_FLAGS = ('--config', 'experiments/gan_grid.py:runlocal', '--config.batch_size=16',
                '--config.n_critic=2', '--config.num_steps=6', '--config.checkpoint_every=3',
                '--config.eval_every=3', '--config.ema_decay=0.5', '--config.log_every=1')


def _launch(workdir, *flags) -> subprocess.CompletedProcess:
  return subprocess.run([sys.executable, 'launch.py', *RESUME_FLAGS, '--workdir', str(workdir),
                         *flags], cwd=ROOT, env=subprocess_env(1), capture_output=True, text=True,
                        timeout=300)


def test_a_step_folder_without_a_finished_checkpoint_is_ignored_with_a_warning(tmp_path):
  """`mkdir checkpoints/999` in a workdir holding checkpoints 3 and 6: the run resumes from 6,
  saying in one warning line that 999 is ignored, and leaves 999 as it was (orbax neither
  restores it nor counts it among the checkpoints it keeps)."""
  train_and_evaluate(resume_config(), str(tmp_path))
  os.makedirs(tmp_path / 'checkpoints' / '999')
  result = _launch(tmp_path, '--config.num_steps=9', '--config.keep_checkpoints=2')
  assert result.returncode == 0, result.stderr[-3000:]
  warnings = [l for l in result.stderr.splitlines() if l.startswith('warning:')]
  assert warnings == [f'warning: {tmp_path / "checkpoints" / "999"}: holds no finished checkpoint; '
                      'ignored, and left as it is']
  assert 'Traceback' not in result.stderr and 'error' not in result.stderr.lower()
  rows = [json.loads(l) for l in (tmp_path / 'metrics.jsonl').read_text().splitlines()]
  assert [r['step'] for r in rows] == list(range(1, 10))  # Resumed after 6, not from scratch.
  assert sorted(os.listdir(tmp_path / 'checkpoints')) == ['6', '9', '999']  # Two kept, and 999.
  assert os.listdir(tmp_path / 'checkpoints' / '999') == []


def test_a_resume_into_another_network_is_the_error_line_alone(tmp_path):
  """The whole output is the error line: no log lines, and none of the reports of orbax's reads
  still in flight (hundreds of lines of "Event loop is closed" and TensorStore tracebacks)."""
  train_and_evaluate(resume_config(), str(tmp_path))
  before = snapshot(tmp_path)
  for _ in range(3):  # The reports come from reads racing the error: three times, to see any.
    result = _launch(tmp_path, '--config.generator.hidden=(32,32)')
    assert result.returncode == 1
    assert result.stdout == ''
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr[-3000:]
    line = lines[0]
    assert line == (f'error: checkpoint 6 in {tmp_path / "checkpoints"} cannot be restored into '
                    'this run (g_ema_params/g/DenseActivation_0/Dense_0/bias: shape (32,) in this '
                    'run, (64,) in the checkpoint), nor can any older one; nothing was changed: if '
                    'the config changed, use the one it was written with (config.json), else move '
                    'the folder away to start afresh')
    assert snapshot(tmp_path) == before


def test_workdir_that_is_a_file(tmp_path, capsys):
  path = tmp_path / 'notes.txt'
  path.write_text('my notes')
  line = run_launch(capsys, resume_config(), path)
  assert line == (f'error: --workdir {path}: is a file, not a folder; give a new folder, or the '
                  'folder of a run to resume')
  assert path.read_text() == 'my notes'
  with pytest.raises(WorkdirError):
    train_and_evaluate(resume_config(), str(path))


@pytest.mark.parametrize('content', ['{"seed": 0, "num_steps": ', '[1, 2]', '{"loss": "hinge"}'])
def test_evaluate_with_a_damaged_config_json(tmp_path, capsys, content):
  (tmp_path / 'config.json').write_text(content)
  os.makedirs(tmp_path / 'checkpoints')
  before = snapshot(tmp_path)
  assert evaluate.main(['--workdir', str(tmp_path), '--metrics', 'fd']) == 2
  line = one_error_line(capsys.readouterr().err)
  assert line.startswith(f'error: {tmp_path / "config.json"}: damaged or not a gan_jax config')
  assert snapshot(tmp_path) == before


@pytest.mark.parametrize('path,value', [
    ('optim.g_lr', float('nan')), ('optim.d_lr', float('inf')), ('gp_weight', float('nan')),
    ('r1_weight', float('-inf')), ('ema_decay', float('nan')), ('optim.d_b1', float('nan')),
    ('aux_weight', float('nan')), ('discriminator.leaky_slope', float('nan'))])
def test_non_finite_float_hyperparameters(path, value):
  config = gan_grid.get_config('runlocal')
  group, _, field = path.rpartition('.')
  (config[group] if group else config)[field] = value
  with pytest.raises(ConfigError, match=rf'^config\.{path}: must be a finite number, got '):
    check(config)


def test_evals_entry_given_as_a_metric_name_takes_the_runs_defaults():
  from experiments import dcgan_mnist
  config = dcgan_mnist.get_config('runlocal,conditional')
  config.evals.cas = 'cas'  # What `--config.evals.cas=cas` sets.
  config.evals.pr = {'metric': 'pr', 'num_samples': 64}
  got = evaluators.entries(config)
  assert got['cas'].metric == 'cas' and got['cas'].every == config.eval_every
  assert got['cas'].extractor == got['pr'].extractor == 'mnist_cnn'
  assert got['pr'].num_samples == 64
  check(config)
  config.evals.bad = 'fid'
  with pytest.raises(ConfigError, match="config.evals.bad.metric: unknown metric 'fid'"):
    check(config)
