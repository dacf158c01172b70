"""bench/step_speed.py: a table row for an experiment, and one error line for bad input."""

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT, subprocess_env


def step_speed(*args):
  return subprocess.run([sys.executable, 'bench/step_speed.py', *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize('experiment,n_critic', [('dcgan_mnist', 2)])
def test_prints_a_row_for_the_experiment(experiment, n_critic):
  result = step_speed('--config', f'experiments/{experiment}.py:runlocal',
                      f'--config.n_critic={n_critic}', '--iters', '1')
  assert result.returncode == 0, result.stderr[-2000:]
  row = [l for l in result.stdout.splitlines() if l.startswith(f'| experiments/{experiment}')]
  assert len(row) == 1
  cells = [c.strip() for c in row[0].strip('|').split('|')]
  assert cells[1:3] == ['8', str(n_critic)]  # batch and n_critic, as configured
  assert float(cells[4]) > 0 and float(cells[5]) > 0


@pytest.mark.parametrize('args,message', [
    (['--config', 'experiments/nope.py'], 'no such file: experiments/nope.py'),
    (['--config', 'experiments/dcgan_mnist.py:runlocal', '--config.bach_size=3'], 'bach_size'),
    (['--config', 'experiments/dcgan_mnist.py:runlocal', '--config.dataset.name=celeb_a'],
     "config.dataset.name: 'celeb_a'"),
])
def test_bad_input_is_one_error_line(args, message):
  result = step_speed(*args)
  assert result.returncode != 0
  assert 'Traceback' not in result.stderr, result.stderr
  error_lines = [l for l in result.stderr.splitlines() if l.startswith('error:')]
  assert len(error_lines) == 1 and message in error_lines[0], result.stderr[-2000:]


@pytest.mark.parametrize('args,message', [
    (['--seeds', '0,one'], "error: --seeds: expected comma-separated integers, got '0,one'"),
    (['--rows', 'demo,no_r2'], "error: --rows: unknown ['no_r2']"),
])
def test_demo_recipe_bad_input_is_one_error_line(args, message):
  result = subprocess.run([sys.executable, 'bench/demo_recipe.py', *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
  assert result.returncode != 0 and 'Traceback' not in result.stderr, result.stderr
  error_lines = [l for l in result.stderr.splitlines() if l.startswith('error:')]
  assert len(error_lines) == 1 and error_lines[0].startswith(message), result.stderr[-2000:]


@pytest.mark.parametrize('args,message', [
    (['--config', 'experiments/nope.py'], '--config: no such file: experiments/nope.py'),
    (['--config', 'experiments/pix2pix_edges2mnist.py:runlocal', '--run', 'x=/nowhere'],
     "--run 'x=/nowhere': expected LABEL=WORKDIR@STEP"),
    (['--config', 'experiments/pix2pix_edges2mnist.py:runlocal', '--run', 'x=/nowhere@4'],
     'no metrics.jsonl in /nowhere'),
])
def test_translation_table_bad_input_is_one_error_line(args, message):
  result = subprocess.run([sys.executable, 'bench/translation_table.py', *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
  assert result.returncode == 2 and 'Traceback' not in result.stderr, result.stderr[-2000:]
  error_lines = [l for l in result.stderr.splitlines() if l.startswith('error:')]
  assert len(error_lines) == 1 and message in error_lines[0], result.stderr[-2000:]


def test_input_speed_prints_both_readers(tfds_dir, tfds_tfrecord_dir):
  result = subprocess.run(
      [sys.executable, 'bench/input_speed.py', '--config', 'experiments/dcgan_mnist.py:runlocal',
       '--memory_dir', tfds_tfrecord_dir, '--stream_dir', tfds_dir, '--steps', '2',
       '--rounds', '1'], cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  rows = {l.split('|')[1].strip(): l for l in result.stdout.splitlines() if l.startswith('| ')}
  assert {'memory', 'stream'} <= set(rows)
  assert 'experiments/dcgan_mnist.py:runlocal' in rows['stream']


def test_decoded_cache_prints_decode_and_read_back(tfds_dir, capsys, monkeypatch):
  monkeypatch.syspath_prepend(os.path.join(ROOT, 'bench'))
  monkeypatch.setenv('GAN_JAX_CACHE', os.environ.get('GAN_JAX_CACHE', ''))  # restored after
  import decoded_cache
  assert decoded_cache.main(['--data_dir', tfds_dir, '--datasets', 'mnist:test[:300]',
                             '--rounds', '1']) == 0
  [row] = [l for l in capsys.readouterr().out.splitlines() if l.startswith('| mnist')]
  cells = [c.strip() for c in row.split('|')[1:-1]]
  assert cells[:2] == ['mnist:test[:300]', '300 x 28x28x1'] and float(cells[2]) > 0
  assert float(cells[3]) > 0 and float(cells[4]) >= 0
  assert decoded_cache.main(['--data_dir', tfds_dir, '--datasets', 'mnist:tset']) == 2
  captured = capsys.readouterr()
  assert captured.out == '' and captured.err.count('\n') == 1
  assert captured.err.startswith("error: --datasets mnist:tset: config.dataset.split: 'tset'")


@pytest.mark.parametrize('experiment', ['srgan_cifar', 'pix2pix_edges2mnist',
                                        'cyclegan_mnist_mnistm', 'stylegan2_cifar'])
def test_random_batches_fit_each_family(experiment):
  """The batches bench/step_speed.py times are what each family's step takes (traced, not run)."""
  import importlib
  import jax
  import numpy as np
  from jax.sharding import Mesh
  from gan_jax.train import families
  from gan_jax.train.state import create_state
  from gan_jax.train.step import make_train_step
  sys.path.insert(0, os.path.join(ROOT, 'bench'))
  from step_speed import ShapesOnly, random_batch
  config = importlib.import_module(f'experiments.{experiment}').get_config('runlocal')
  dataset = ShapesOnly(config)
  nets = families.get(config.family).networks(config, dataset)
  mesh = Mesh(np.array(jax.devices()[:1]), ('data',))
  state = jax.eval_shape(lambda: create_state(config, nets))
  batch = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype),
                       random_batch(config, dataset))
  _, metrics = make_train_step(config, nets, mesh).lower(state, batch).out_info
  assert metrics['g_loss'].shape == ()


def test_style_step_bad_input_is_one_error_line():
  result = subprocess.run([sys.executable, 'bench/style_step.py', '--config',
                           'experiments/dcgan_mnist.py:runlocal'], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
  assert result.returncode != 0
  assert result.stderr.strip() == (
      "error: config.family: this benchmark times the style family, got 'noise'")


def test_pacgan_modes_cell_is_a_num_seeds_run(tmp_path, monkeypatch):
  import importlib.util
  from gan_jax.reproduce import pacgan_table1
  from test_reproduce import batch_of_96
  spec = importlib.util.spec_from_file_location('pacgan_modes',
                                                os.path.join(ROOT, 'bench', 'pacgan_modes.py'))
  bench = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(bench)
  batch_of_96(monkeypatch, pacgan_table1, 'cell_config')
  workdir = str(tmp_path / 'grid')
  cell = bench.run_cell('grid', 2, num_seeds=2, epochs=0.004, workdir=workdir)
  assert cell['steps'] == 4  # 0.004 x 100,000 / 96
  from gan_jax.train.writers import read_jsonl
  final = read_jsonl(os.path.join(workdir, 'metrics.jsonl'))[-1]
  for key, values in cell['scores'].items():
    assert list(values) == [float(final[f'eval/{key}/seed_{s}']) for s in (0, 1)]
  again = bench.run_cell('grid', 2, num_seeds=2, epochs=0.004, workdir=workdir)  # read back
  for key, values in cell['scores'].items():
    assert list(again['scores'][key]) == list(values)


def test_checkpoint_speed_bad_config_is_one_error_line():
  result = subprocess.run([sys.executable, 'bench/checkpoint_speed.py', '--config',
                           'experiments/gan_grid.py:pakc=2'], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
  assert result.returncode != 0 and 'Traceback' not in result.stderr, result.stderr[-2000:]
  error_lines = [l for l in result.stderr.splitlines() if l.startswith('error:')]
  assert len(error_lines) == 1 and "'pakc'" in error_lines[0], result.stderr[-2000:]


def test_device_check_smoke_prints_one_table(tmp_path):
  """bench/device_check.py at --smoke sizes, on this CPU: every part of the GPU check runs."""
  env = subprocess_env(1)  # as on a machine with one GPU
  run = lambda *args: subprocess.run([sys.executable, 'bench/device_check.py', *args], cwd=ROOT,
                                     env=env, capture_output=True, text=True, timeout=600)
  result = run('--smoke', '--json', str(tmp_path / 'check.json'))
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.startswith('# gan_jax device check: 1 x cpu')
  with open(tmp_path / 'check.json') as f:
    rows = json.load(f)['rows']
  parts = [r['part'] for r in rows]
  assert parts == ['step = CPU step', 'train step', 'train step', 'FID features',
                   'PacGAN Table 1', 'PacGAN Table 1']
  assert rows[0]['ok'] and {r['precision'] for r in rows[1:3]} == {'f32', 'bf16'}
  assert all(r['s_per_step'] > 0 and 0 < r['mfu'] for r in rows[1:3])
  assert rows[3]['images_per_s'] > 0 and 'h of training' in rows[-1]['result']
  assert result.stdout.count('\n| ') == len(rows) + 1  # the header row and one row each
  result = run('--budget_s', '0')
  assert result.returncode == 2 and result.stderr.startswith('error: --budget_s: 0;')
