"""Evaluators: extractors, sharding, cached real statistics, Stacked-MNIST, CAS, and bad input."""

import os

import jax
import ml_collections
import numpy as np
import pytest

from experiments import dcgan_mnist
from gan_jax import data, parallel
from gan_jax.config import ConfigError
from gan_jax.train.checks import check
from gan_jax.metrics import classifier, evaluators, extractors, inception, records
from gan_jax.metrics.scores import MetricInputError

SHIPPED_ACCURACY = {'mnist': 0.98, 'fashion_mnist': 0.90, 'cifar10': 0.64, 'mnistm': 0.96}


def _config(tfds_dir, **evals):
  c = dcgan_mnist.get_config('runlocal,conditional')
  c.dataset.data_dir = tfds_dir
  c.evals = evals
  c.eval.best_metric = ''
  check(c)
  return c


@pytest.mark.parametrize('dataset', sorted(SHIPPED_ACCURACY))
def test_shipped_classifiers_state_their_accuracy(dataset):
  params, info = classifier.load_weights(classifier.weights_path(dataset))
  assert info['dataset'] == dataset and info['test_accuracy'] >= SHIPPED_ACCURACY[dataset]
  assert os.path.getsize(classifier.weights_path(dataset)) < 1_000_000  # Small enough to ship.


@pytest.mark.parametrize('dataset', ['mnist', 'cifar10', 'mnistm'])
def test_shipped_classifier_accuracy_is_reproduced_on_the_test_split(tfds_dir, dataset):
  from gan_jax.data.images import load_tfds
  from gan_jax.data.unpaired import mnistm
  params, info = classifier.load_weights(classifier.weights_path(dataset))
  images, labels = (mnistm('test', tfds_dir, False) if dataset == 'mnistm' else
                    load_tfds(dataset, 'test', tfds_dir, 0, False, 0, 1)[:2])
  assert abs(classifier.accuracy(params, images, labels) - info['test_accuracy']) < 2e-3


def test_extraction_sharded_over_8_devices_equals_one_device():
  ext = extractors.get_extractor('mnist_cnn')
  images = np.random.default_rng(0).uniform(-1, 1, (13, 28, 28, 1)).astype(np.float32)
  mesh = parallel.make_mesh()
  # Compiled functions are shared by the process's tests: count the compilations of this one.
  compiled = lambda m: extractors._sharded_apply(ext.apply, m)._cache_size()
  before = compiled(None), compiled(mesh)
  one = ext(images, batch_size=5)
  eight = ext(images, mesh, batch_size=5)  # Batches of 8: 8 + 5 rows and 3 of padding.
  assert one['features'].shape == (13, 128) and one['logits'].shape == (13, 10)
  # The padded last batch has the shape of the others: at most one compilation per mesh.
  assert compiled(None) - before[0] <= 1 and compiled(mesh) - before[1] <= 1
  # XLA's convolutions sum in an order that depends on the rows per device (5 here, 1 there):
  # equal to float32 rounding, relative to the largest value.
  for k in one:
    np.testing.assert_allclose(eight[k], one[k], rtol=1e-5, atol=1e-6 * np.abs(one[k]).max())


def test_images_of_wrong_range_or_shape_are_one_clear_error():
  ext = extractors.get_extractor('cifar10_cnn')
  with pytest.raises(MetricInputError, match=r'must lie in \[-1, 1\].*\[0, 255\]'):
    ext.check_images(np.concatenate([np.zeros((1, 32, 32, 3)), np.full((1, 32, 32, 3), 255.0)]))
  with pytest.raises(MetricInputError, match=r'takes \(32, 32, 3\) images.*\(28, 28, 1\)'):
    ext.check_images(np.zeros((2, 28, 28, 1)))
  with pytest.raises(MetricInputError, match=r'\[N, H, W, 1 or 3\]'):
    ext.check_images(np.zeros((2, 32, 32)))


def test_missing_inception_weights_say_where_to_put_them(tmp_path):
  # The cache and the download: tests/test_fid_weights.py.
  with pytest.raises(inception.InceptionWeightsError, match='no file /nowhere/w.npz'):
    inception.resolve_weights('/nowhere/w.npz')
  bad = tmp_path / 'bad.npz'
  np.savez(bad, x=np.zeros(3))
  with pytest.raises(inception.InceptionWeightsError, match='not FID Inception weights'):
    inception.load_params(str(bad))


def test_missing_weights_stop_a_run_before_it_compiles_or_writes(tfds_dir, tmp_path, monkeypatch):
  from gan_jax.train import train_and_evaluate
  monkeypatch.setenv('GAN_JAX_CACHE', str(tmp_path / 'cache'))
  monkeypatch.setenv(inception.URL_ENV, 'http://127.0.0.1:9/pt_inception-2015-12-05-6726825d.pth')
  c = _config(tfds_dir, fid=dict(metric='fd', every=2, num_samples=16))  # The Inception.
  with pytest.raises(inception.InceptionWeightsError, match='pt_inception-2015-12-05'):
    train_and_evaluate(c, str(tmp_path / 'run'))
  assert not os.path.exists(tmp_path / 'run' / 'checkpoints')


def test_bad_evals_entries_fail_validation_naming_the_field(tfds_dir):
  cases = [
      (dict(a=dict(metric='fud')), "evals.a.metric: unknown metric 'fud'"),
      (dict(a=dict(metric='fd', evry=3)), 'evals.a.evry: unknown field'),
      (dict(a=dict(metric='fd', num_samples='many')), 'evals.a.num_samples: expected int'),
      (dict(a=dict(metric='pr', num_samples=3)), 'evals.a.num_samples: pr needs at least 4'),
      (dict(a=dict(metric='fd', extractor='vgg')), "unknown extractor 'vgg'"),
      (dict(a=dict(metric='fd', tag='Val 2')), r"evals.a.tag: 'Val 2'; use lowercase letters"),
      # The same metric on another split, under the same name, would overwrite the first.
      (dict(a=dict(metric='fd', extractor='mnist_cnn'),
            b=dict(metric='fd', extractor='mnist_cnn', real_split='test')),
       r"evals.b: logs 'fd_mnist_cnn' like config.evals.a; give one of them a tag"),
  ]
  for evals, message in cases:
    with pytest.raises(ConfigError, match=message):
      _config(tfds_dir, **evals)
  c = _config(tfds_dir, a=dict(metric='fd', extractor='mnist_cnn'))
  c.eval.best_metric = 'fid'
  with pytest.raises(ConfigError, match=r"best_metric: 'fid' is not logged.*fd_mnist_cnn"):
    check(c)
  c = _config(tfds_dir, a=dict(metric='intra_fd', extractor='mnist_cnn'))
  with pytest.raises(evaluators.EvalConfigError, match='needs a class-conditional generator'):
    evaluators.check(c, evaluators.SampleKind(True, False, 10))


def test_a_tag_names_an_entrys_results_apart():
  assert evaluators.metric_keys('accuracy', 'mnistm_cnn', 'ab', 'val') == [
      'accuracy_mnistm_cnn_ab_val']
  assert evaluators.metric_keys('is', 'inception', tag='val') == ['is_val', 'is_val_std']
  assert evaluators.metric_keys('kid', 'mnist_cnn', 'ba') == ['kd_mnist_cnn_ba', 'kd_mnist_cnn_ba_std']
  assert evaluators.metric_keys('fd', 'inception') == ['fid']
  c = ml_collections.ConfigDict({'evals': {
      'fd': dict(metric='fd', extractor='mnist_cnn'),
      'fd_val': dict(metric='fd', extractor='mnist_cnn', real_split='train[:500]', tag='val')}})
  assert [evaluators.entry_keys(e) for e in evaluators.entries(c).values()] == [
      ['fd_mnist_cnn'], ['fd_mnist_cnn_val']]
  assert evaluators.lower_is_better('eval/fd_mnist_cnn_val')
  assert not evaluators.lower_is_better('eval/accuracy_mnistm_cnn_ab_val')


def test_real_split_against_itself_is_zero_and_statistics_are_cached(tfds_dir, tmp_path,
                                                                      monkeypatch):
  c = _config(tfds_dir, fd=dict(metric='fd', extractor='mnist_cnn'),
              pr=dict(metric='pr', extractor='mnist_cnn'))
  c.eval.cache_dir = str(tmp_path)
  kind = evaluators.SampleKind(True, False, 10, reference_split=c.dataset.split)
  quality = evaluators.Evaluators(c, kind, parallel.make_mesh())
  images, labels, source = data.real_images(c, 'train[:256]', 0)
  real = evaluators.Samples(images, labels)
  scalars, texts = quality.score('fd', real, f'real images of {source}')
  assert abs(scalars['eval/fd_mnist_cnn']) < 1e-6
  assert len(os.listdir(tmp_path)) == 1
  # The second metric reads the cached features; the dataset is not touched again.
  monkeypatch.setattr(data, 'real_images', lambda *a: pytest.fail('statistics not cached'))
  scalars, _ = quality.score('pr', real, 'real images')
  assert scalars['eval/precision_mnist_cnn'] == scalars['eval/recall_mnist_cnn'] == 1.0


def test_stacked_mnist_modes_count_digit_triples():
  # A stand-in classifier reading the digit written into each channel's first pixel.
  def apply(params, x):
    digit = jax.numpy.round((x[:, 0, 0, 0] + 1) * 4.5).astype(int)
    return {'features': x[:, 0, 0], 'logits': jax.nn.one_hot(digit, 10)}
  fake_mnist = extractors.Extractor('mnist_cnn', 'test', '0', apply, {}, (28, 28, 1))
  triples = np.array([[d // 100, d // 10 % 10, d % 10] for d in range(1000)])
  images = np.zeros((1000, 28, 28, 3), np.float32)
  images[:, 0, 0, :] = triples / 4.5 - 1
  uniform = records.stacked_mnist_modes(images, fake_mnist)
  assert uniform == {'stacked_modes': 1000.0, 'stacked_kl': pytest.approx(0.0, abs=1e-12)}
  collapsed = records.stacked_mnist_modes(images[:10].repeat(100, axis=0), fake_mnist)
  assert collapsed['stacked_modes'] == 10
  np.testing.assert_allclose(collapsed['stacked_kl'], np.log(100))


def test_classification_accuracy_score_trains_on_samples_and_tests_on_real(tfds_dir):
  c = _config(tfds_dir, cas=dict(metric='cas', num_samples=512, extractor='mnist_cnn',
                                 real_split='test[:500]'))
  quality = evaluators.Evaluators(c, evaluators.SampleKind(True, True, 10), None)
  images, labels, _ = data.real_images(c, 'train[:512]', 0)
  scalars, texts = quality.score('cas', evaluators.Samples(images, labels),
                                 'real images standing in for samples')
  assert scalars['eval/cas'] > 0.35  # 40 steps on real data: well above chance (0.1).
  assert 'tested on 500 images of mnist:test[:500]' in texts['eval/cas_protocol']
  shuffled, _ = quality.score('cas', evaluators.Samples(
      images, np.random.default_rng(0).permutation(labels)), 'x')
  assert shuffled['eval/cas'] < 0.2  # Samples whose labels mean nothing: chance.


def test_evaluate_command_bad_arguments_are_one_error_line(tmp_path, capsys, tfds_dir):
  from gan_jax import evaluate
  unkept = tmp_path / 'unkept'  # A run that kept no best checkpoint (no eval.best_metric).
  os.makedirs(unkept)
  c = dcgan_mnist.get_config('runlocal')
  c.dataset.data_dir, c.eval.best_metric = tfds_dir, ''
  (unkept / 'config.json').write_text(c.to_json_best_effort())
  cases = [(['--workdir', str(tmp_path), '--metrics', 'fid'], "--metrics: unknown metric 'fid'"),
           (['--workdir', str(tmp_path / 'nope'), '--step', '4', '--best'],
            '--step and --best: give one of them'),
           (['--workdir', str(unkept), '--metrics', 'fd', '--best'],
            'unkept/best: no checkpoint; a run keeps its best one when config.eval.best_metric'),
           (['--workdir', str(tmp_path), '--metrics', 'pr', '--num_samples', '3'],
            '--num_samples: pr needs at least 4, got 3'),
           (['--workdir', str(tmp_path / 'nope')], 'nope/config.json: not found')]
  for argv, message in cases:
    assert evaluate.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith('error: ') and message in err and err.count('\n') == 1, err
