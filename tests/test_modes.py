"""Mode metrics on crafted samples, and the toy datasets' modes."""

import math

import numpy as np
import pytest

from gan_jax.data import mode_centers
from gan_jax.metrics import mode_metrics

pytestmark = pytest.mark.quick  # in CI's quick stage on the newest jax (.ci/run)


def test_centers():
  ring, ring_std = mode_centers('ring')
  assert ring.shape == (8, 2) and ring_std == 0.01
  np.testing.assert_allclose(np.linalg.norm(ring, axis=1), 1.0)
  grid, grid_std = mode_centers('grid')
  assert grid.shape == (25, 2) and grid_std == 0.05
  assert sorted(set(grid[:, 0])) == [-4, -2, 0, 2, 4]
  assert len({tuple(c) for c in grid}) == 25


def test_all_modes_equally():
  centers, std = mode_centers('grid')
  samples = np.repeat(centers, 100, axis=0) + 0.5 * std  # 0.71 std off: high quality
  m = mode_metrics(samples, centers, std)
  assert m == {'modes_covered': 25.0, 'high_quality_fraction': 1.0, 'reverse_kl': 0.0}


def test_one_mode():
  centers, std = mode_centers('ring')
  samples = np.tile(centers[3], (50, 1))
  m = mode_metrics(samples, centers, std)
  assert m['modes_covered'] == 1
  assert m['high_quality_fraction'] == 1.0
  np.testing.assert_allclose(m['reverse_kl'], math.log(8))


def test_off_mode_samples_count_as_low_quality_and_cover_nothing():
  centers, std = mode_centers('grid')
  # 3 std is the boundary: 2.9 std away counts, 3.1 std does not; (1, 1) is far from all.
  samples = np.array([centers[0] + [2.9 * std, 0], centers[1] + [0, 3.1 * std], [1.0, 1.0],
                      centers[2], centers[2]])
  m = mode_metrics(samples, centers, std)
  assert m['modes_covered'] == 2  # centres 0 and 2; centre 1's sample is too far.
  assert m['high_quality_fraction'] == 3 / 5
  # Histogram over modes: [1/3, 2/3] -> KL to uniform over 25.
  p = np.array([1 / 3, 2 / 3])
  np.testing.assert_allclose(m['reverse_kl'], np.sum(p * np.log(p * 25)))


def test_no_high_quality_sample():
  centers, std = mode_centers('ring')
  m = mode_metrics(np.zeros((10, 2)), centers, std)
  assert m['modes_covered'] == 0 and m['high_quality_fraction'] == 0
  assert math.isnan(m['reverse_kl'])
