"""`config.num_seeds`: N seeds as one vmapped program, each seed the run of its own seed."""

import json
import os

import jax
import numpy as np
import pytest

from experiments import dcgan_mnist, gan_grid, srgan_cifar
from gan_jax import parallel
from gan_jax.train import seeds
from gan_jax.train.loop import train_and_evaluate
from gan_jax.train.run import build_run
from gan_jax.train.state import seed_state
from gan_jax.train.step import make_train_step
from gan_jax.train.writers import read_jsonl


def run_steps(config, steps):
  """(state, metrics of the last step) after `steps` steps on all 8 devices."""
  mesh = parallel.make_mesh()
  run = build_run(config)
  dataset, nets, state = run.dataset, run.nets, parallel.replicate(run.state, mesh)
  train_step = make_train_step(config, nets, mesh)
  many = config.num_seeds > 1
  batches = seeds.SeedBatches(dataset, seeds.run_seeds(config)) if many else dataset
  for step in range(steps):
    batch = parallel.shard_batch(batches.batch(step), mesh, sample_axis=2 if many else 1)
    state, metrics = train_step(state, batch)
  return jax.device_get(state), jax.device_get(metrics)


def assert_states_close(a, b, rtol, atol):
  assert int(a.step) == int(b.step)
  np.testing.assert_array_equal(jax.random.key_data(a.key), jax.random.key_data(b.key))
  # Biases of convolutions followed by batch norm (SRResNet's blocks) get a gradient of exactly 0:
  # float32 leaves ~1e-7 whose sign depends on the summation order, which Adam turns into
  # updates of either sign (up to lr per step). Only those may differ, and they cannot change
  # any output; the batch norms' running means include them.
  for name in ('g_opt_state', 'd_opt_state', 'running'):
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=rtol, atol=atol, err_msg=name),
                 getattr(a, name), getattr(b, name))
  for name in ('g_batch_stats', 'd_batch_stats'):
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=rtol, atol=1e-4, err_msg=name),
                 getattr(a, name), getattr(b, name))
  for side in ('g', 'd'):
    first_moments = jax.tree.leaves(getattr(b, f'{side}_opt_state')[0].mu)
    for name in (f'{side}_params',) + (('g_ema_params',) if side == 'g' else ()):
      leaves = [jax.tree.leaves_with_path(getattr(run, name)) for run in (a, b)]
      for (path, x), (_, y), mu in zip(*leaves, first_moments):
        if not np.allclose(x, y, rtol=rtol, atol=atol):
          assert jax.tree_util.keystr(path).endswith("['bias']"), (name, path)
          assert np.max(np.abs(mu)) < 1e-5, (name, path)


@pytest.mark.parametrize('experiment,arg,overrides', [
    (gan_grid, 'runlocal', dict(batch_size=16, n_critic=2, pack=2)),  # the toy grid, PacGAN2
    (dcgan_mnist, 'runlocal', {}),                                      # MNIST DCGAN
    (srgan_cifar, 'runlocal,srresnet', {}),                             # SRResNet
])
def test_each_seed_is_its_own_run(tfds_dir, experiment, arg, overrides):
  config = experiment.get_config(arg)
  config.dataset.data_dir = tfds_dir
  config.update(overrides)
  config.seed, config.num_seeds = 5, 2
  stacked, metrics = run_steps(config, 3)
  # The second seed (the first is the test below's): the run of seed 6.
  single, single_metrics = run_steps(seeds.seed_config(config, 6), 3)
  # Batched matrix products sum in another order than single ones: float32 round-off, which
  # Adam's division by sqrt(v) can enlarge for a gradient near 0 (up to a fraction of lr).
  assert_states_close(seed_state(stacked, 1), single, rtol=1e-4, atol=1e-5)
  for key, value in single_metrics.items():
    np.testing.assert_allclose(metrics[key][1], value, rtol=1e-4, atol=1e-5, err_msg=key)
  # The seeds did train differently.
  assert not np.allclose(*jax.tree.leaves(stacked.g_params)[0])


def test_many_seeds_run_logs_checkpoints_and_resumes(tmp_path):
  config = gan_grid.get_config('runlocal')
  config.seed, config.num_seeds = 3, 2
  config.batch_size = 16
  result = train_and_evaluate(config, str(tmp_path / 'many'))
  single = [train_and_evaluate(seeds.seed_config(config, s), str(tmp_path / f'seed{s}'))
            for s in (3, 4)]

  # Per seed, as the run of that seed logs it; then mean and standard error.
  rows = read_jsonl(tmp_path / 'many' / 'metrics.jsonl')
  last = rows[-1]
  for key in ('eval/modes_covered', 'eval/high_quality_fraction', 'eval/reverse_kl'):
    values = [last[f'{key}/seed_{s}'] for s in (3, 4)]
    np.testing.assert_allclose(values, [r[key] for r in single], rtol=1e-5, atol=1e-6)
    assert last[key] == pytest.approx(np.mean(values))
    assert last[f'{key}_se'] == pytest.approx(np.std(values, ddof=1) / np.sqrt(2))
    assert result[key] == last[key]
  d_losses = [last[f'd_loss/seed_{s}'] for s in (3, 4)]
  single_rows = [read_jsonl(tmp_path / f'seed{s}' / 'metrics.jsonl')[-1] for s in (3, 4)]
  np.testing.assert_allclose(d_losses, [r['d_loss'] for r in single_rows], rtol=1e-4)
  assert last['d_loss'] == pytest.approx(np.mean(d_losses))
  for s in (3, 4):  # Each seed's figure.
    assert (tmp_path / 'many' / f'samples_{config.num_steps:07d}_seed{s}.png').exists()

  # The checkpoint holds every seed.
  saved = build_run(config, checkpoints=str(tmp_path / 'many' / 'checkpoints')).state
  assert jax.tree.leaves(saved.g_params)[0].shape[0] == 2
  assert int(saved.step) == config.num_steps

  # Stopped halfway and resumed: the same as the uninterrupted run, bit for bit.
  resumed_dir = str(tmp_path / 'resumed')
  half = config.copy_and_resolve_references()
  half.num_steps = config.num_steps // 2
  train_and_evaluate(half, resumed_dir)
  train_and_evaluate(config, resumed_dir)
  resumed = build_run(config, checkpoints=resumed_dir + '/checkpoints').state
  jax.tree.map(np.testing.assert_array_equal, jax.tree.leaves(resumed.g_params),
               jax.tree.leaves(saved.g_params))
  with open(tmp_path / 'many' / 'config.json') as f:
    assert json.load(f)['num_seeds'] == 2


def test_many_seeds_image_evaluators_and_evaluate(tfds_dir, tmp_path):
  from gan_jax.evaluate import evaluate
  config = dcgan_mnist.get_config('runlocal')
  config.dataset.data_dir = tfds_dir
  config.seed, config.num_seeds = 0, 2
  workdir = str(tmp_path / 'many')
  result = train_and_evaluate(config, workdir)
  single = train_and_evaluate(seeds.seed_config(config, 1), str(tmp_path / 'seed1'))
  key = 'eval/fd_mnist_cnn'
  assert result[f'{key}/seed_1'] == pytest.approx(single[key], rel=1e-3)
  assert result[key] == pytest.approx((result[f'{key}/seed_0'] + result[f'{key}/seed_1']) / 2)
  rows = read_jsonl(f'{workdir}/metrics.jsonl')
  assert 'mean over the 2 seeds' in rows[-1][f'{key}_protocol']
  # The saved checkpoint scored afterwards: every seed, as during training.
  step, scores, texts = evaluate(workdir, ['fd'], num_samples=64)
  assert step == config.num_steps
  for k in (f'{key}/seed_0', f'{key}/seed_1', key, f'{key}_se'):
    assert scores[k] == pytest.approx(result[k], rel=1e-4), k


def test_translate_picks_a_seed_of_a_many_seeds_run(tfds_dir, tmp_path, capsys):
  from PIL import Image
  from gan_jax import translate
  config = srgan_cifar.get_config('runlocal,srresnet')
  config.dataset.data_dir = tfds_dir
  config.num_steps, config.evals = 2, {}
  config.eval.best_metric = ''
  config.seed, config.num_seeds = 0, 2
  workdir = str(tmp_path / 'many')
  train_and_evaluate(config, workdir)
  (tmp_path / 'in').mkdir()
  low = np.random.default_rng(0).integers(0, 256, (8, 8, 3), np.uint8)
  Image.fromarray(low).save(tmp_path / 'in' / 'x.png')
  outputs = []
  for seed in (0, 1):
    assert translate.main(['--workdir', workdir, '--input', str(tmp_path / 'in'), '--output',
                           str(tmp_path / f'out{seed}'), '--seed', str(seed)]) == 0
    outputs.append(np.asarray(Image.open(tmp_path / f'out{seed}' / 'x.png')))
  # Seed 1's output is the generator at index 1 of the saved stack.
  run = build_run(config, checkpoints=os.path.join(workdir, 'checkpoints'))
  nets, saved = run.nets, seed_state(run.state, 1)
  expected = nets.generators['g'].apply(
      {'params': saved.g_ema_params['g'], 'batch_stats': saved.g_batch_stats['g']},
      low[None].astype(np.float32) / 127.5 - 1, train=False)
  np.testing.assert_allclose(outputs[1], np.round((np.clip(np.asarray(expected)[0], -1, 1) + 1)
                                                  * 127.5), atol=1)
  assert not np.array_equal(outputs[0], outputs[1])
  assert translate.main(['--workdir', workdir, '--input', str(tmp_path / 'in'), '--output',
                         str(tmp_path / 'o'), '--seed', '7']) == 2
  assert 'error: --seed 7: ' in capsys.readouterr().err
