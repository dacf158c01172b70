"""The toy datasets: fixed points, deterministic epochs, disjoint per-process shares; every
dataset's seeds."""

import importlib

import numpy as np
import pytest

from gan_jax import data
from gan_jax.data import ToyDataset, images, mode_centers


def test_points_follow_the_mixture():
  d = ToyDataset('grid', num_train=20_000, seed=0, batch_size=100)
  centers, std = mode_centers('grid')
  dist = np.linalg.norm(d.points[:, None] - centers[None], axis=-1)
  nearest = dist.argmin(1)
  assert np.all(dist.min(1) < 6 * std)
  counts = np.bincount(nearest, minlength=25)
  assert counts.min() > 650 and counts.max() < 950  # ~800 per mode
  np.testing.assert_allclose((d.points - centers[nearest]).std(), std, rtol=0.05)


def test_deterministic_and_seeded():
  a = ToyDataset('ring', num_train=1000, seed=3, batch_size=10)
  b = ToyDataset('ring', num_train=1000, seed=3, batch_size=10)
  c = ToyDataset('ring', num_train=1000, seed=4, batch_size=10)
  np.testing.assert_array_equal(a.batch(57)['x'], b.batch(57)['x'])
  assert not np.array_equal(a.batch(57)['x'], c.batch(57)['x'])


def test_each_epoch_is_a_permutation():
  d = ToyDataset('ring', num_train=1000, seed=0, batch_size=50, n_critic=2)
  idx = d.indices(np.arange(20))  # 20 steps x 2 x 50 = 2 epochs
  assert idx.shape == (20, 2, 50)
  flat = idx.reshape(-1)
  np.testing.assert_array_equal(np.sort(flat[:1000]), np.arange(1000))
  np.testing.assert_array_equal(np.sort(flat[1000:]), np.arange(1000))
  assert not np.array_equal(flat[:1000], flat[1000:])
  assert d.batch(3)['x'].shape == (2, 50, 2)


def test_processes_read_disjoint_columns_of_the_global_batch():
  whole = ToyDataset('grid', num_train=500, seed=1, batch_size=40, n_critic=3)
  parts = [ToyDataset('grid', num_train=500, seed=1, batch_size=40, n_critic=3,
                      process_index=i, process_count=4) for i in range(4)]
  steps = np.arange(30)
  joined = np.concatenate([p.indices(steps) for p in parts], axis=-1)
  np.testing.assert_array_equal(joined, whole.indices(steps))


@pytest.mark.parametrize('experiment', ['gan_grid', 'dcgan_mnist', 'pix2pix_edges2mnist',
                                        'cyclegan_mnist_mnistm'])
def test_every_dataset_reads_the_order_of_a_seed_and_its_files_once(experiment, tfds_dir,
                                                                    monkeypatch):
  config = importlib.import_module(f'experiments.{experiment}').get_config('runlocal')
  config.dataset.data_dir = tfds_dir
  dataset = data.build(config)
  assert isinstance(dataset, data.Dataset)
  first = dataset.batch(0)
  # Another seed reads the arrays already read: the files are not opened again.
  monkeypatch.setattr(images, '_load_tfds', lambda *a, **k: pytest.fail('read again'))
  other, same = dataset.with_seed(config.seed + 1), dataset.with_seed(config.seed)
  assert other.seed == config.seed + 1 and dataset.seed == config.seed
  for key, value in first.items():
    np.testing.assert_array_equal(same.batch(0)[key], value)
  assert any(not np.array_equal(other.batch(0)[k], v) for k, v in first.items())
