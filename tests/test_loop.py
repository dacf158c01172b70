"""The training loop's bookkeeping: which batch each step reads, and which checkpoint is the best."""

import json
import os

import numpy as np
import pytest

from gan_jax import data
from gan_jax.train.checks import check
from gan_jax.metrics import evaluators, modes
from gan_jax.train import loop, train_and_evaluate
from gan_jax.train.loop import BestCheckpoint
from gan_jax.train.run import build_run
from test_train import resume_config


def test_step_k_reads_batch_k_minus_1_also_after_resuming(tmp_path, monkeypatch):
  config = resume_config()  # 6 steps of 2 critic updates; checkpoint at 3.
  fed = []
  real_shard_batch = loop.parallel.shard_batch
  monkeypatch.setattr(loop.parallel, 'shard_batch',
                      lambda local, mesh, **kw: fed.append(local) or real_shard_batch(local, mesh, **kw))
  train_and_evaluate(config, str(tmp_path / 'full'))
  dataset = data.build(config)
  assert len(fed) == 6
  for step, batch in enumerate(fed, start=1):
    np.testing.assert_array_equal(batch['x'], dataset.batch(step - 1)['x'], err_msg=f'step {step}')
  assert not np.array_equal(fed[0]['x'][0], fed[0]['x'][1])  # Each critic update its own rows.
  # Resumed after step 3: steps 4-6 read batches 3-5, the same as the uninterrupted run.
  import shutil
  shutil.copytree(tmp_path / 'full', tmp_path / 'resumed')
  shutil.rmtree(tmp_path / 'resumed' / 'checkpoints' / '6')
  fed.clear()
  train_and_evaluate(config, str(tmp_path / 'resumed'))
  assert len(fed) == 3
  for step, batch in zip((4, 5, 6), fed):
    np.testing.assert_array_equal(batch['x'], dataset.batch(step - 1)['x'], err_msg=f'step {step}')


# Every key a run can keep its best checkpoint by (Inception and one classifier extractor), and
# whether lower is better: the one table of directions.
DIRECTIONS = {
    'fid': True, 'fd_mnist_cnn': True, 'kid': True, 'kd_mnist_cnn': True, 'intra_fid': True,
    'intra_fd_mnist_cnn': True, 'stacked_kl': True, 'reverse_kl': True,
    'is': False, 'is_mnist_cnn': False, 'precision': False, 'precision_mnist_cnn': False,
    'recall': False, 'recall_mnist_cnn': False, 'density': False, 'density_mnist_cnn': False,
    'coverage': False, 'coverage_mnist_cnn': False, 'cas': False, 'stacked_modes': False,
    'modes_covered': False, 'high_quality_fraction': False,
    'psnr': False, 'lr_psnr': False, 'psnr_y': False, 'ssim': False, 'ssim_y': False, 'accuracy': False,
    'accuracy_mnist_cnn': False, 'colorfulness': False,
}


def test_every_metric_key_has_its_direction():
  keys = set(modes.MODE_METRICS)
  for metric in evaluators.METRICS:
    for extractor in ('inception', 'mnist_cnn'):
      keys |= {k for k in evaluators.metric_keys(metric, extractor) if not k.endswith('_std')}
  assert keys == set(DIRECTIONS)
  for key, lower in DIRECTIONS.items():
    assert evaluators.lower_is_better(key) is lower, key
    assert evaluators.lower_is_better('eval/' + key) is lower, key


@pytest.mark.parametrize('metric,values,best_step', [
    ('fd_mnist_cnn', [5.0, 3.0, 4.0, 2.5, float('nan'), 2.6], 4),
    ('is_mnist_cnn', [1.0, 3.0, 2.0, 3.5, float('inf'), 3.4], 4),
    ('modes_covered', [3.0, 8.0, 8.0, 7.0], 2),  # Ties keep the earlier checkpoint.
])
def test_best_checkpoint_keeps_the_best_step(tmp_path, metric, values, best_step):
  config = resume_config()
  state = build_run(config).state
  best = BestCheckpoint(str(tmp_path), metric)
  for step, value in enumerate(values, start=1):
    best.update(step, state.replace(step=np.int32(step)), {f'eval/{metric}': value, 'other': 0.0})
    best.update(step, state, {'other': 1.0})  # Steps without the metric change nothing.
  best.close()
  with open(tmp_path / 'best.json') as f:
    assert json.load(f) == {'metric': f'eval/{metric}', 'value': values[best_step - 1],
                            'step': best_step}
  assert os.listdir(tmp_path / 'best') == [str(best_step)]
  # A resumed run starts from the recorded best: a worse value does not replace it.
  again = BestCheckpoint(str(tmp_path), metric)
  worse = values[best_step - 1] + (1.0 if evaluators.lower_is_better(metric) else -1.0)
  again.update(len(values) + 1, state, {f'eval/{metric}': worse})
  again.close()
  with open(tmp_path / 'best.json') as f:
    assert json.load(f)['step'] == best_step


def test_best_metric_must_be_logged_by_the_config():
  config = resume_config()
  config.eval.best_metric = 'fid'
  with pytest.raises(Exception, match="config.eval.best_metric: 'fid' is not logged"):
    check(config)


def test_a_short_run_learns_the_ring(tmp_path):
  """The cheapest end-to-end check of the losses' signs and the data order: 1,200 steps of the
  demo recipe on the 8-Gaussian ring (about 15 s of training) cover the modes with sharp samples,
  and the discriminator's margin between real and fake falls as the generator catches up.
  Measured with the tests' XLA flags on a 2-core AMD EPYC (AVX2): 8/8 modes, 79 % and 68 % high
  quality (seeds 0 and 1), a logit gap falling from 0.39 to 0.04; untrained, 0.5 %. 600 steps were
  too few to hold on every CPU: their trajectories differ in float rounding, and gave 9-33 %
  there. Through launch.py on one device: 1,200 tiny steps on the tests' 8 virtual devices cost
  several times more."""
  from gan_jax.train.writers import read_jsonl
  from test_config import launch
  result = launch('--config', 'experiments/gan_ring.py:demo', '--workdir', str(tmp_path),
                  '--config.num_steps=1200', '--config.log_every=50', '--config.eval_every=1200',
                  '--config.checkpoint_every=1200')
  assert result.returncode == 0, result.stderr[-3000:]
  last = read_jsonl(tmp_path / 'metrics.jsonl')[-1]
  assert last['step'] == 1200
  assert last['eval/modes_covered'] >= 7
  assert last['eval/high_quality_fraction'] >= 0.4
  gaps = [row['d_real'] - row['d_fake'] for row in read_jsonl(tmp_path / 'metrics.jsonl')]
  assert max(gaps) > 0.15 and gaps[-1] < 0.5 * max(gaps), gaps
