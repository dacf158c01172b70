"""Each score against a closed form or an independent, loop-by-loop NumPy reference."""

import itertools

import numpy as np
import pytest

from gan_jax.metrics import scores

pytestmark = pytest.mark.quick  # in CI's quick stage on the newest jax (.ci/run)


def test_frechet_distance_closed_form_for_diagonal_gaussians():
  rng = np.random.default_rng(0)
  mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
  v1, v2 = rng.uniform(0.5, 2, size=6), rng.uniform(0.5, 2, size=6)
  expected = np.sum((mu1 - mu2) ** 2) + np.sum(v1 + v2 - 2 * np.sqrt(v1 * v2))
  got = scores.frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2))
  np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_frechet_distance_closed_form_for_commuting_full_covariances():
  # S1 = Q diag(a) Q^T, S2 = Q diag(b) Q^T commute: Tr (S1 S2)^1/2 = sum sqrt(a b).
  rng = np.random.default_rng(1)
  q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
  a, b = rng.uniform(0.1, 3, 5), rng.uniform(0.1, 3, 5)
  s1, s2 = q @ np.diag(a) @ q.T, q @ np.diag(b) @ q.T
  got = scores.frechet_distance(np.zeros(5), s1, np.ones(5), s2)
  np.testing.assert_allclose(got, 5 + np.sum(a + b - 2 * np.sqrt(a * b)), rtol=1e-8)


def test_fid_of_a_set_with_itself_is_zero_and_statistics_are_float64():
  x = np.random.default_rng(2).normal(size=(300, 8)).astype(np.float32)
  mu, sigma = scores.feature_statistics(x)
  assert mu.dtype == sigma.dtype == np.float64
  np.testing.assert_allclose(sigma, np.cov(x.astype(np.float64).T), rtol=1e-12)
  assert abs(scores.fid_from_features(x, x)) < 1e-8


def test_fid_from_samples_approaches_the_gaussian_distance():
  rng = np.random.default_rng(3)
  x = rng.normal(size=(200_000, 3))
  y = rng.normal(size=(200_000, 3)) * 2 + 1
  expected = 3 * 1 + 3 * (1 + 4 - 2 * 2)
  np.testing.assert_allclose(scores.fid_from_features(x, y), expected, rtol=0.02)


def test_inception_score_closed_forms():
  c = 10
  one_hot = np.eye(c)[np.arange(1000) % c] * 100.0  # Confident and uniformly spread: IS = C.
  mean, std = scores.inception_score(one_hot, splits=10)
  np.testing.assert_allclose(mean, c, rtol=1e-6)
  assert std < 1e-6
  same = np.tile(np.arange(c, dtype=float), (1000, 1))  # Every sample the same prediction: IS = 1.
  np.testing.assert_allclose(scores.inception_score(same)[0], 1.0, rtol=1e-9)


def test_inception_score_against_loop_reference():
  rng = np.random.default_rng(4)
  logits = rng.normal(size=(100, 7)) * 3
  expected = []
  for part in np.array_split(logits, 5):
    p = np.exp(part) / np.exp(part).sum(1, keepdims=True)
    py = p.mean(0)
    kls = [sum(p[i, j] * np.log(p[i, j] / py[j]) for j in range(7)) for i in range(len(p))]
    expected.append(np.exp(np.mean(kls)))
  mean, std = scores.inception_score(logits, splits=5)
  np.testing.assert_allclose([mean, std], [np.mean(expected), np.std(expected)], rtol=1e-10)


def _mmd_loop(x, y):
  d = x.shape[1]
  k = lambda a, b: (a @ b / d + 1) ** 3
  m = len(x)
  xx = sum(k(x[i], x[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
  yy = sum(k(y[i], y[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
  xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
  return xx + yy - 2 * xy


def test_kid_against_loop_reference():
  rng = np.random.default_rng(5)
  x, y = rng.normal(size=(30, 4)), rng.normal(size=(30, 4)) + 0.5
  # One subset holding every sample: the estimate is the plain unbiased MMD^2.
  mean, std = scores.kernel_inception_distance(x, y, num_subsets=1, subset_size=30)
  np.testing.assert_allclose(mean, _mmd_loop(x, y), rtol=1e-10)
  assert std == 0.0
  # Subsets: the mean of the per-subset estimates, drawn by the documented rng.
  mean, _ = scores.kernel_inception_distance(x, y, num_subsets=3, subset_size=10, seed=7)
  rng = np.random.default_rng(7)
  expected = []
  for _ in range(3):
    xi, yi = rng.choice(30, 10, replace=False), rng.choice(30, 10, replace=False)
    expected.append(_mmd_loop(x[xi], y[yi]))
  np.testing.assert_allclose(mean, np.mean(expected), rtol=1e-10)


def test_kid_is_unbiased_near_zero_for_equal_distributions():
  rng = np.random.default_rng(6)
  x, y = rng.normal(size=(2000, 16)), rng.normal(size=(2000, 16))
  mean, std = scores.kernel_inception_distance(x, y, num_subsets=20, subset_size=500)
  assert abs(mean) < 3 * std / np.sqrt(20) + 1e-3


def _radii_loop(x, k):
  return np.array([sorted(np.linalg.norm(x[i] - x[j]) for j in range(len(x)) if j != i)[k - 1]
                   for i in range(len(x))])


def test_precision_recall_density_coverage_against_loop_reference():
  rng = np.random.default_rng(8)
  real, fake = rng.normal(size=(40, 3)), rng.normal(size=(35, 3)) * 1.5 + 0.3
  r_real, r_fake = _radii_loop(real, 3), _radii_loop(fake, 3)
  dist = lambda a, b: np.linalg.norm(a - b)
  precision = np.mean([any(dist(f, real[i]) <= r_real[i] for i in range(40)) for f in fake])
  recall = np.mean([any(dist(r, fake[j]) <= r_fake[j] for j in range(35)) for r in real])
  got = scores.precision_recall(real, fake, k=3)
  np.testing.assert_allclose([got['precision'], got['recall']], [precision, recall], rtol=1e-12)

  r5 = _radii_loop(real, 5)
  inside = np.array([[dist(real[i], fake[j]) < r5[i] for j in range(35)] for i in range(40)])
  got = scores.density_coverage(real, fake, k=5)
  np.testing.assert_allclose(got['density'], inside.sum() / (5 * 35), rtol=1e-12)
  np.testing.assert_allclose(got['coverage'], inside.any(axis=1).mean(), rtol=1e-12)


def test_chunked_distances_equal_one_chunk(monkeypatch):
  rng = np.random.default_rng(11)
  real, fake = rng.normal(size=(50, 3)), rng.normal(size=(45, 3)) + 0.2
  whole = {**scores.precision_recall(real, fake), **scores.density_coverage(real, fake)}
  monkeypatch.setattr(scores, 'CHUNK', 7)
  assert {**scores.precision_recall(real, fake), **scores.density_coverage(real, fake)} == whole


def test_precision_recall_limits():
  rng = np.random.default_rng(9)
  real = rng.normal(size=(200, 2))
  pr = scores.precision_recall(real, real.copy(), k=3)
  assert pr == {'precision': 1.0, 'recall': 1.0}
  collapsed = scores.precision_recall(real, np.zeros((200, 2)) + rng.normal(size=(200, 2)) * 1e-3)
  assert collapsed['precision'] == 1.0 and collapsed['recall'] < 0.1
  far = scores.density_coverage(real, real + 100.0)
  assert far == {'density': 0.0, 'coverage': 0.0}


def test_intra_class_fid_is_the_mean_of_per_class_fids():
  rng = np.random.default_rng(10)
  real, fake = rng.normal(size=(300, 4)), rng.normal(size=(300, 4)) + 0.2
  rl, fl = np.arange(300) % 3, np.arange(300) % 3
  expected = np.mean([scores.fid_from_features(real[rl == c], fake[fl == c]) for c in range(3)])
  np.testing.assert_allclose(scores.intra_class_fid(real, rl, fake, fl), expected, rtol=1e-12)
  with pytest.raises(scores.MetricInputError, match=r'classes \[2\]'):
    scores.intra_class_fid(real, rl, fake[fl < 2], fl[fl < 2])


def test_too_few_samples_or_bad_shapes_are_one_clear_error():
  with pytest.raises(scores.MetricInputError, match='at least 4 generated samples, got 3'):
    scores.precision_recall(np.zeros((10, 2)), np.zeros((3, 2)))
  with pytest.raises(scores.MetricInputError, match='at least 10 samples'):
    scores.inception_score(np.zeros((5, 3)))
  with pytest.raises(scores.MetricInputError, match=r'\[num_samples, dims\]'):
    scores.feature_statistics(np.zeros((5, 3, 2)))
  with pytest.raises(scores.MetricInputError, match='NaN'):
    scores.fid_from_features(np.full((5, 3), np.nan), np.zeros((5, 3)))


def test_frechet_distance_for_non_commuting_covariances_equals_the_eigenvalue_formula():
  # Tr sqrt(S1 S2) is the sum of the square roots of the eigenvalues of S1 S2 (real and
  # non-negative: S1 S2 is similar to S1^1/2 S2 S1^1/2). Independent of any matrix square root.
  rng = np.random.default_rng(3)
  a, b = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
  s1, s2 = a @ a.T + 0.1 * np.eye(6), b @ b.T + 0.1 * np.eye(6)
  assert not np.allclose(s1 @ s2, s2 @ s1)  # Non-commuting: a wrong sqrtm cannot pass.
  mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
  eigenvalues = np.linalg.eigvals(s1 @ s2)
  assert np.all(np.abs(eigenvalues.imag) < 1e-8) and np.all(eigenvalues.real > 0)
  expected = (np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) -
              2 * np.sum(np.sqrt(eigenvalues.real)))
  np.testing.assert_allclose(scores.frechet_distance(mu1, s1, mu2, s2), expected, rtol=1e-9)
  # Symmetric in its two arguments, as a distance is.
  np.testing.assert_allclose(scores.frechet_distance(mu2, s2, mu1, s1), expected, rtol=1e-9)
