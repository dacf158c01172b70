"""Test setup: 8 virtual CPU devices (set before jax is imported) and the repository on sys.path."""

import os
import sys

os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                           ' --xla_force_host_platform_device_count=8').strip()
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Real-data features cached by the evaluators, and Inception weights: never the user's cache.
os.environ.setdefault('GAN_JAX_CACHE', os.path.join(ROOT, '.cache', 'gan_jax_test'))
sys.path.insert(0, ROOT)

import pytest  # noqa: E402

# The original dataset files (../shared/data beside the checkout, as on CI machines).
RAW_DATA = os.environ.get('GAN_JAX_RAW_DATA', os.path.join(os.path.dirname(ROOT), 'shared', 'data'))


@pytest.fixture(scope='session')
def tfds_dir():
  """A tfds data directory holding mnist and cifar10, built once from ../shared/data."""
  from gan_jax.data import prepare
  import tensorflow_datasets as tfds
  data_dir = os.environ.get('GAN_JAX_TEST_TFDS', os.path.join(ROOT, '.cache', 'tfds'))
  for name in ('mnist', 'cifar10'):
    if not tfds.builder(name, data_dir=data_dir).is_prepared():
      prepare.prepare(name, RAW_DATA, data_dir)
  return data_dir
