"""End to end: launch.py on each runlocal config, resume equality, NaN handling, bad checkpoints."""

import json
import os
import re
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest

from conftest import ROOT, subprocess_env
from experiments import gan_grid
from gan_jax.train import train_and_evaluate
from gan_jax.train.checkpoint import CheckpointError
from gan_jax.train.loop import NonFiniteLossError
from gan_jax.train.writers import read_jsonl


@pytest.mark.parametrize('experiment', ['gan_grid', 'gan_ring'])
def test_launch_runlocal(tmp_path, experiment):
  workdir = tmp_path / 'w'
  # 4 virtual devices: runlocal's global batch of 100 splits into 4 shards of 25.
  env = subprocess_env(4)
  result = subprocess.run(
      [sys.executable, 'launch.py', '--config', f'experiments/{experiment}.py:runlocal',
       '--workdir', str(workdir)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  rows = read_jsonl(workdir / 'metrics.jsonl')
  assert [r['step'] for r in rows] == [5, 10, 15, 20]
  for key in ('d_loss', 'g_loss', 'd_real', 'd_fake', 'd_grad_norm', 'g_grad_norm'):
    assert all(np.isfinite(r[key]) for r in rows), key
  assert {'eval/modes_covered', 'eval/high_quality_fraction', 'eval/reverse_kl'} <= rows[-1].keys()
  assert 'steps_per_sec' in rows[-1]
  assert sorted(os.listdir(workdir / 'checkpoints')) == ['10', '20']
  assert (workdir / 'samples_0000020.png').stat().st_size > 10_000
  assert any(name.startswith('events.out.tfevents') for name in os.listdir(workdir))
  assert 'final (step 20' in result.stdout and 'samples_0000020.png' in result.stdout


def resume_config():
  config = gan_grid.get_config('runlocal')
  config.batch_size = 16
  config.n_critic = 2
  config.num_steps = 6
  config.log_every = 1
  config.checkpoint_every = config.eval_every = 3
  config.ema_decay = 0.5
  return config


def read_state(workdir, config, step):
  from gan_jax.train.run import read_state
  return read_state(str(workdir), config, step)


@pytest.mark.quick
def test_resume_gives_the_same_run(tmp_path):
  config = resume_config()
  full, resumed = str(tmp_path / 'full'), str(tmp_path / 'resumed')
  train_and_evaluate(config, full)
  # Interrupted after step 3: what an uninterrupted run had written by then.
  shutil.copytree(full, resumed)
  shutil.rmtree(os.path.join(resumed, 'checkpoints', '6'))
  result = train_and_evaluate(config, resumed)
  assert result['step'] == 6
  a, b = read_state(full, config, 6), read_state(resumed, config, 6)
  jax.tree.map(np.testing.assert_array_equal, jax.random.key_data(a.key),
               jax.random.key_data(b.key))
  for name in ('step', 'g_params', 'd_params', 'g_ema_params', 'g_opt_state', 'd_opt_state'):
    jax.tree.map(np.testing.assert_array_equal, getattr(a, name), getattr(b, name))
  # The log has each step once, and the resumed steps' losses equal the uninterrupted ones.
  drop = lambda rows: [{k: v for k, v in r.items() if k not in ('steps_per_sec', 'uptime')}
                       for r in rows]
  rows_full = drop(read_jsonl(os.path.join(full, 'metrics.jsonl')))
  rows_resumed = drop(read_jsonl(os.path.join(resumed, 'metrics.jsonl')))
  assert [r['step'] for r in rows_resumed] == [1, 2, 3, 4, 5, 6]
  assert rows_full == rows_resumed


def logged_every_step(config, tfds_dir: str, num_steps: int):
  """An image experiment's runlocal for resume tests: `num_steps` steps, each logged;
  checkpoints every 2, evaluators twice (at the middle and the last step)."""
  config.dataset.data_dir = tfds_dir
  config.num_steps = num_steps
  config.log_every = 1
  config.checkpoint_every = 2
  config.eval_every = num_steps // 2
  for entry in config.evals.values():
    entry.every = num_steps // 2
  return config


def run_four_logged_steps(config, tfds_dir: str, workdir: str, finite_keys: tuple[str, ...]):
  """An experiment's runlocal for four logged steps (`logged_every_step`) in `workdir`:
  (the config, the run's result, its last metrics row), every one of `finite_keys` finite."""
  config = logged_every_step(config, tfds_dir, num_steps=4)
  result = train_and_evaluate(config, workdir)
  rows = read_jsonl(os.path.join(workdir, 'metrics.jsonl'))
  assert [r['step'] for r in rows] == [1, 2, 3, 4]
  for key in finite_keys:
    assert np.isfinite(rows[-1][key]), key
  return config, result, rows[-1]


def interrupt_and_resume(config, workdir: str, monkeypatch, stop_at: int) -> None:
  """Runs `config` in `workdir`, stopped (as by a preemption) when step `stop_at` starts, then
  runs the same command again, which resumes from the latest checkpoint."""
  from gan_jax.train import loop
  real_make_train_step = loop.make_train_step

  def stopping(*args):
    train_step = real_make_train_step(*args)
    def step(state, batch):
      if int(state.step) == stop_at - 1:
        raise KeyboardInterrupt
      return train_step(state, batch)
    return step
  monkeypatch.setattr(loop, 'make_train_step', stopping)
  with pytest.raises(KeyboardInterrupt):
    train_and_evaluate(config, workdir)
  assert [r['step'] for r in read_jsonl(os.path.join(workdir, 'metrics.jsonl'))] == list(
      range(1, stop_at)), 'log_every must be 1'
  monkeypatch.setattr(loop, 'make_train_step', real_make_train_step)
  train_and_evaluate(config, workdir)


def assert_same_run(config, full: str, resumed: str, step: int):
  """Every leaf of the final state, every logged row and the best-checkpoint record are equal."""
  a, b = read_state(full, config, step), read_state(resumed, config, step)
  paths = lambda tree: [jax.tree_util.keystr(p) for p, _ in jax.tree.leaves_with_path(tree)]
  assert paths(a) == paths(b)
  for path, x, y in zip(paths(a), jax.tree.leaves(a), jax.tree.leaves(b)):
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
      x, y = jax.random.key_data(x), jax.random.key_data(y)
    np.testing.assert_array_equal(x, y, err_msg=path)
  drop = lambda rows: [{k: v for k, v in r.items() if k not in ('steps_per_sec', 'uptime')}
                       for r in rows]
  rows_full = drop(read_jsonl(os.path.join(full, 'metrics.jsonl')))
  assert drop(read_jsonl(os.path.join(resumed, 'metrics.jsonl'))) == rows_full
  assert [r['step'] for r in rows_full] == list(range(1, step + 1))
  with open(os.path.join(full, 'best.json')) as f, open(os.path.join(resumed, 'best.json')) as g:
    best = json.load(f)
    assert json.load(g) == best
  assert os.listdir(os.path.join(resumed, 'best')) == [str(best['step'])]
  return a, rows_full


def test_interrupted_image_run_resumes_exactly(tmp_path, tfds_dir, monkeypatch):
  """cgan_cifar:runlocal carries every kind of state: conditional BatchNorm statistics, spectral
  norm's vectors, the linear schedule's count, the EMA generator, evaluators and the best
  checkpoint. Stopped while step 6 runs, and resumed from checkpoint 4, it ends as one run does."""
  from experiments import cgan_cifar
  config = logged_every_step(cgan_cifar.get_config('runlocal'), tfds_dir, num_steps=8)
  full, resumed = str(tmp_path / 'full'), str(tmp_path / 'resumed')
  train_and_evaluate(config, full)
  interrupt_and_resume(config, resumed, monkeypatch, stop_at=6)
  state, rows = assert_same_run(config, full, resumed, 8)
  paths = [jax.tree_util.keystr(p) for p, _ in jax.tree.leaves_with_path(state.d_batch_stats)]
  assert any(p.endswith("/u']") for p in paths)  # Spectral norm's vectors,
  assert any(jax.tree_util.keystr(p).endswith("['mean']")  # BatchNorm's statistics.
             for p, _ in jax.tree.leaves_with_path(state.g_batch_stats))
  assert {'eval/fd_cifar10_cnn', 'eval/is_cifar10_cnn'} <= rows[-1].keys()


def test_completed_run_is_not_repeated(tmp_path):
  config = resume_config()
  train_and_evaluate(config, str(tmp_path))
  result = train_and_evaluate(config, str(tmp_path))
  assert result['step'] == 6 and len(read_jsonl(tmp_path / 'metrics.jsonl')) == 6


def test_non_finite_loss_stops_keeping_the_last_good_checkpoint(tmp_path):
  config = resume_config()
  config.num_steps = 60
  config.checkpoint_every = 1
  config.loss = 'wasserstein'  # Unbounded critic: with a huge learning rate it diverges.
  config.n_critic = 1
  config.optim.g_lr = 1e6  # The critic's gradients overflow at step 2.
  with pytest.raises(NonFiniteLossError, match=r'step \d+: .*not finite') as error:
    train_and_evaluate(config, str(tmp_path))
  failed_at = int(str(error.value).split()[1].rstrip(':'))
  kept = sorted(map(int, os.listdir(tmp_path / 'checkpoints')))
  assert kept and kept[-1] < failed_at, (kept, failed_at)
  assert f'(step {kept[-1]})' in str(error.value)
  state = read_state(str(tmp_path), config, kept[-1])
  assert all(np.isfinite(x).all() for x in jax.tree.leaves(state.d_params))


def test_corrupt_or_mismatched_checkpoint_is_a_clear_error(tmp_path):
  config = resume_config()
  train_and_evaluate(config, str(tmp_path))
  other = resume_config()
  other.discriminator.hidden = (8,)  # A different model than the checkpoint's.
  with pytest.raises(CheckpointError, match='cannot be restored into this run .*, nor can any '
                     'older one; nothing was changed: if the config changed, use the one it was '
                     r'written with \(config.json\)'):
    train_and_evaluate(other, str(tmp_path))
  for root, _, files in os.walk(tmp_path / 'checkpoints' / '6'):
    for name in files:
      if name != '_CHECKPOINT_METADATA':
        with open(os.path.join(root, name), 'wb') as f:
          f.write(b'not a checkpoint')
  with pytest.raises(CheckpointError, match='checkpoint 6 in .*checkpoints is damaged .*; '
                     'checkpoint 3 is intact'):
    train_and_evaluate(config, str(tmp_path))
  assert os.path.isdir(tmp_path / 'checkpoints' / '6')  # Left untouched.


@pytest.mark.parametrize('experiment,arg,conditional', [
    # Label concatenation is covered by tests/test_models.py and tests/test_step.py; cgan_cifar
    # (the headline command, with CAS) by tests/test_plain_install.py.
    pytest.param('dcgan_mnist', 'runlocal', False, marks=pytest.mark.quick),
    ('dcgan_mnist', 'runlocal,acgan', True), ('dcgan_cifar', 'runlocal', False),
    ('wgan_gp_cifar', 'runlocal', False), ('sngan_cifar', 'runlocal', False),
    ('dcgan_stacked_mnist', 'runlocal,pack=2', False), ('dcgan_mnist', 'runlocal,ada', False)])
def test_image_experiment_runlocal(tmp_path, tfds_dir, capsys, experiment, arg, conditional):
  import importlib
  config = importlib.import_module(f'experiments.{experiment}').get_config(arg)
  config.dataset.data_dir = tfds_dir
  train_and_evaluate(config, str(tmp_path))
  assert_image_run(tmp_path, experiment, arg, conditional, capsys)


def assert_image_run(tmp_path, experiment, arg, conditional, capsys=None):
  """What a runlocal run of an image experiment must have written to its workdir."""
  rows = read_jsonl(tmp_path / 'metrics.jsonl')
  assert [r['step'] for r in rows] == [2, 4]
  if 'ada' in arg.split(','):  # ADA's p, logged every step it is: in [0, 1]
    assert all(0 <= r['augment_p'] <= 1 for r in rows)
  for key in ('d_loss', 'g_loss', 'd_real', 'd_fake', 'd_grad_norm', 'g_grad_norm'):
    assert all(np.isfinite(r[key]) for r in rows), key
  if 'acgan' in arg:
    assert all(np.isfinite(r['d_class_loss']) for r in rows)
    assert all(0 <= r['d_real_class_accuracy'] <= 1 for r in rows)
  assert os.listdir(tmp_path / 'checkpoints') == ['4']
  from PIL import Image
  grid = np.asarray(Image.open(tmp_path / 'samples_0000004.png'))
  size = 28 if 'mnist' in experiment else 32
  rows_of_images = 10 if conditional else 8  # One row per class when conditional.
  assert grid.shape[0] == rows_of_images * (size + 2) + 2
  # Its evaluators (offline: the dataset's classifier) logged how they computed each number.
  dataset = 'mnist' if 'mnist' in experiment else 'cifar10'
  last = rows[-1]
  if experiment == 'dcgan_stacked_mnist':  # PacDCGAN2 on 1000 modes, counted by mnist_cnn.
    assert 1 <= last['eval/stacked_modes'] <= 64 and last['eval/stacked_modes_num_samples'] == 64
    assert 0 <= last['eval/stacked_kl'] <= np.log(1000) + 1e-9
    assert 'gan_jax mnist classifier' in last['eval/stacked_modes_protocol']
    assert os.listdir(tmp_path / 'best') == ['4']
    return
  assert np.isfinite(last[f'eval/fd_{dataset}_cnn']) and last[f'eval/is_{dataset}_cnn'] >= 1
  if 'eval/cas' in last:
    assert 0 <= last['eval/cas'] <= 1 and last['eval/cas_num_samples'] == 64
  assert last[f'eval/fd_{dataset}_cnn_num_samples'] == 64
  assert re.search(r'64 samples of the EMA generator \(decay 0\.99+\) at step 4; reference: 256 '
                   rf'images of {dataset}:train\[:256\]', last[f'eval/fd_{dataset}_cnn_protocol'])
  assert f'gan_jax {dataset} classifier' in last[f'eval/fd_{dataset}_cnn_protocol']
  with open(tmp_path / 'best.json') as f:
    assert json.load(f) == {'metric': f'eval/fd_{dataset}_cnn', 'step': 4,
                            'value': last[f'eval/fd_{dataset}_cnn']}
  assert os.listdir(tmp_path / 'best') == ['4']
  if (experiment, arg) == ('dcgan_mnist', 'runlocal'):  # The evaluate command on this workdir.
    from gan_jax import evaluate
    assert evaluate.main(['--workdir', str(tmp_path), '--metrics', 'fd,is,kid,pr',
                          '--num_samples', '50']) == 0
    out = capsys.readouterr().out
    assert f'{tmp_path} (step 4):' in out
    for key in ('fd_mnist_cnn', 'is_mnist_cnn', 'kd_mnist_cnn', 'precision_mnist_cnn',
                'recall_mnist_cnn'):
      assert f'  {key} ' in out, key
    with open(tmp_path / 'evaluate_4.json') as f:
      saved = json.load(f)
    assert saved['step'] == 4 and saved['eval/fd_mnist_cnn_num_samples'] == 50


def test_sigterm_saves_a_checkpoint_exits_0_and_resumes_exactly(tmp_path, monkeypatch, capsys):
  """What a TPU VM or Kubernetes sends before taking the machine: the run checkpoints the step
  in flight and returns 0; the same command then continues, bitwise as if never stopped."""
  import signal
  import launch
  from gan_jax.train import loop
  config = resume_config()
  config.eval.best_metric = 'modes_covered'
  full, stopped = str(tmp_path / 'full'), str(tmp_path / 'stopped')
  train_and_evaluate(config, full)
  real_make_train_step = loop.make_train_step

  def signalled_at_step_2(*args):
    train_step = real_make_train_step(*args)
    def step(state, batch):
      if int(state.step) == 1:  # While step 2 runs.
        os.kill(os.getpid(), signal.SIGTERM)
      return train_step(state, batch)
    return step
  monkeypatch.setattr(loop, 'make_train_step', signalled_at_step_2)
  assert launch.train(config.copy_and_resolve_references(), stopped) == 0
  assert 'stopped by SIGTERM at step 2' in capsys.readouterr().out
  assert sorted(os.listdir(os.path.join(stopped, 'checkpoints'))) == ['2']  # checkpoint_every 3
  assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # The handler is put back.
  monkeypatch.setattr(loop, 'make_train_step', real_make_train_step)
  assert launch.train(config.copy_and_resolve_references(), stopped) == 0
  assert_same_run(config, full, stopped, config.num_steps)


def test_a_workdir_in_use_is_one_error_line(tmp_path, capsys):
  import fcntl
  import launch
  from test_bad_input import one_error_line
  workdir = tmp_path / 'run'
  os.makedirs(workdir)
  with open(workdir / '.lock', 'a+') as held:  # As a run still going holds it.
    fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    held.write('pid 12345 on tpu-vm-0')
    held.flush()
    assert launch.train(resume_config(), str(workdir)) == 1
    assert f'--workdir {workdir}: in use by a run still going (pid 12345 on tpu-vm-0)' in (
        one_error_line(capsys.readouterr().err))
  assert not os.path.exists(workdir / 'checkpoints')
  assert launch.train(resume_config(), str(workdir)) == 0  # Free again.
