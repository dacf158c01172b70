"""Evaluator wiring: each logged value equals its `scores.*` function on the extractor's features.

Two different sets are scored (MNIST test images, shifted by two pixels, standing in for samples;
MNIST train images as the reference), so a value computed on the wrong features (logits), on the
wrong set, or with its arguments swapped differs from the direct computation. Real against real
(FD 0, P = R = 1) could not tell any of these apart.
"""

import jax
import numpy as np
import pytest

from experiments import dcgan_mnist
from gan_jax import parallel
from gan_jax.train.checks import check
from gan_jax.data.images import load_tfds
from gan_jax.metrics import classifier, evaluators, extractors, records, scores
from gan_jax.train.families import noise
from gan_jax.train.samplers import EvaluatorSampler
from gan_jax.train.state import create_state
from conftest import RandomImages

REAL_SPLIT = 'train[:240]'
METRICS = ('fd', 'kid', 'pr', 'dc', 'intra_fd', 'is', 'cas', 'stacked_modes')


def _images(tfds_dir, split):
  images, labels, _ = load_tfds('mnist', split, tfds_dir, 0, False, 0, 1)
  return images.astype(np.float32) / 127.5 - 1, labels


@pytest.fixture(scope='module')
def wiring(tfds_dir, tmp_path_factory):
  c = dcgan_mnist.get_config('runlocal,conditional')
  c.dataset.data_dir = tfds_dir
  c.eval.cache_dir = str(tmp_path_factory.mktemp('stats'))
  c.eval.best_metric = ''
  c.evals = {m: dict(metric=m, extractor='mnist_cnn', real_split=REAL_SPLIT) for m in METRICS}
  check(c)
  mesh = parallel.make_mesh()
  quality = evaluators.Evaluators(c, evaluators.SampleKind(True, True, 10), mesh)
  fake, fake_labels = _images(tfds_dir, 'test[:200]')
  fake = np.roll(fake, 2, axis=2)  # Another distribution than the reference's.
  real, real_labels = _images(tfds_dir, REAL_SPLIT)
  mnist = extractors.get_extractor('mnist_cnn')
  return dict(config=c, quality=quality, fake=fake, fake_labels=fake_labels, real=real,
              real_labels=real_labels, fake_out=mnist(fake, mesh), real_out=mnist(real, mesh),
              mnist=mnist, mesh=mesh)


def _logged(w, name):
  samples = evaluators.Samples(w['fake'], w['fake_labels'])
  scalars, texts = w['quality'].score(name, samples, 'shifted test images')
  assert f'{len(w["fake"])} shifted test images' in next(iter(texts.values()))
  return scalars


def test_distances_are_the_scores_of_extractor_features_fake_second(wiring):
  w = wiring
  real, fake = w['real_out']['features'], w['fake_out']['features']
  expected = {
      'fd': {'eval/fd_mnist_cnn': scores.fid_from_features(real, fake)},
      'kid': dict(zip(['eval/kd_mnist_cnn', 'eval/kd_mnist_cnn_std'],
                      scores.kernel_inception_distance(real, fake))),
      'pr': {f'eval/{k}_mnist_cnn': v for k, v in scores.precision_recall(real, fake).items()},
      'dc': {f'eval/{k}_mnist_cnn': v for k, v in scores.density_coverage(real, fake).items()},
      'intra_fd': {'eval/intra_fd_mnist_cnn': scores.intra_class_fid(
          real, w['real_labels'], fake, w['fake_labels'])},
  }
  for name, values in expected.items():
    logged = _logged(w, name)
    for key, value in values.items():
      assert logged[key] == pytest.approx(value, rel=1e-9, abs=1e-12), (name, key)
    assert logged[f'{next(iter(values))}_num_samples'] == len(w['fake'])
  # The sets differ, so the direct values can tell a swap, logits or the reference against itself.
  assert expected['fd']['eval/fd_mnist_cnn'] > 1.0
  swapped_pr = scores.precision_recall(fake, real)
  assert swapped_pr['precision'] != expected['pr']['eval/precision_mnist_cnn']
  swapped_dc = scores.density_coverage(fake, real)
  assert swapped_dc['density'] != pytest.approx(expected['dc']['eval/density_mnist_cnn'], rel=1e-3)
  on_logits = scores.fid_from_features(w['real_out']['logits'], w['fake_out']['logits'])
  assert on_logits != pytest.approx(expected['fd']['eval/fd_mnist_cnn'], rel=1e-2)
  shuffled = np.random.default_rng(0).permutation(w['fake_labels'])
  assert scores.intra_class_fid(real, w['real_labels'], fake, shuffled) != pytest.approx(
      expected['intra_fd']['eval/intra_fd_mnist_cnn'], rel=1e-2)


def test_inception_score_is_of_the_samples_logits(wiring):
  w = wiring
  logged = _logged(w, 'is')
  mean, std = scores.inception_score(w['fake_out']['logits'])
  assert logged['eval/is_mnist_cnn'] == pytest.approx(mean, rel=1e-9)
  assert logged['eval/is_mnist_cnn_std'] == pytest.approx(std, rel=1e-9)
  assert scores.inception_score(w['real_out']['logits'][:200])[0] != pytest.approx(mean, rel=1e-3)


def test_cas_trains_on_the_samples_and_tests_on_the_reference(wiring):
  w = wiring
  logged = _logged(w, 'cas')
  params = classifier.train_classifier(w['fake'], w['fake_labels'], 10, records.CAS_EPOCHS,
                                       seed=w['config'].seed)
  assert logged['eval/cas'] == classifier.accuracy(params, w['real'], w['real_labels'], 10)
  # Trained on the reference and tested on the samples instead: another number.
  other = classifier.train_classifier(w['real'][:200], w['real_labels'][:200], 10,
                                      records.CAS_EPOCHS, seed=w['config'].seed)
  assert classifier.accuracy(other, w['fake'], w['fake_labels'], 10) != logged['eval/cas']


def test_stacked_mnist_classifies_each_channel(wiring):
  w = wiring
  fake, labels = w['fake'], w['fake_labels']
  # Channel c of sample i is digit i + 67 c: triples no single channel determines.
  index = np.arange(len(fake))
  stacked = np.concatenate([fake[(index + 67 * c) % len(fake)] for c in range(3)], axis=-1)
  logged, _ = w['quality'].score('stacked_modes', evaluators.Samples(stacked, labels),
                                 'stacked test images')
  digits = w['fake_out']['logits'].argmax(-1)
  modes = sum(10 ** (2 - c) * digits[(index + 67 * c) % len(fake)] for c in range(3))
  p = np.bincount(modes, minlength=1000) / len(modes)
  assert logged['eval/stacked_modes'] == np.count_nonzero(p)
  assert logged['eval/stacked_kl'] == pytest.approx(np.sum(p[p > 0] * np.log(1000 * p[p > 0])))
  # Distinct triples: more modes than any one channel's ten digits.
  assert logged['eval/stacked_modes'] > 100


def test_the_ema_generator_is_scored(wiring):
  w = wiring
  c = w['config'].copy_and_resolve_references()
  c.evals = {'fd': dict(metric='fd', extractor='mnist_cnn', real_split=REAL_SPLIT, num_samples=64)}
  quality = evaluators.Evaluators(c, evaluators.SampleKind(True, True, 10), w['mesh'])
  nets = noise.networks(c, RandomImages())
  sampler = EvaluatorSampler(c, nets.generators['g'], 10, w['mesh'])
  state = create_state(c, nets)
  other = create_state(c, nets, key=jax.random.key(7))
  fd = lambda s: quality(sampler(s), ['fd'], 'samples')[0]['eval/fd_mnist_cnn']
  scored = fd(state)
  # The training generator's parameters are not what is scored; the EMA generator's are.
  assert fd(state.replace(g_params=other.g_params)) == scored
  assert fd(state.replace(g_ema_params=other.g_ema_params)) != pytest.approx(scored, rel=1e-3)
  # The same latents at every call: one score for one generator.
  assert fd(state) == scored
  # Conditional samples: every class equally often, in the order of the labels returned.
  samples = sampler(state)('fd', 30)
  assert samples.images.shape == (30, 28, 28, 1)
  assert list(samples.labels) == [i % 10 for i in range(30)]
  assert samples.labels_of == 'the labels the samples were drawn for'
