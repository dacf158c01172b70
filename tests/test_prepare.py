"""The prepare command builds the real tfds datasets from the original files with no network."""

import gzip
import os
import socket

import numpy as np
import pytest

from gan_jax.data import prepare

from conftest import RAW_DATA as RAW, refused_network

pytestmark = pytest.mark.skipif(not os.path.isdir(RAW), reason=f'needs the original dataset files '
                                f'in {RAW} (GAN_JAX_RAW_DATA)')


def test_builds_mnist_offline(tfds_dir):
  """The tests' mnist, which `conftest.tfds_dir` builds with `prepare.prepare` from the original
  files while every network connection is refused: tfds's splits, stored as ArrayRecord, holding
  the original files' images and labels."""
  import tensorflow_datasets as tfds
  builder = tfds.builder('mnist', data_dir=tfds_dir)
  assert builder.info.splits['train'].num_examples == 60_000
  assert builder.info.splits['test'].num_examples == 10_000
  # The first test examples are the raw file's, in any order tfds stores them.
  with gzip.open(os.path.join(RAW, 'mnist', 't10k-images-idx3-ubyte.gz')) as f:
    raw_images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
  with gzip.open(os.path.join(RAW, 'mnist', 't10k-labels-idx1-ubyte.gz')) as f:
    raw_labels = np.frombuffer(f.read(), np.uint8, offset=8)
  assert builder.info.file_format == tfds.core.FileFormat.ARRAY_RECORD  # read without TensorFlow
  test = tfds.data_source('mnist', split='test', data_dir=tfds_dir, download=False)
  for example in test.__getitems__(list(range(20))):
    assert example['image'].shape == (28, 28, 1)
    matches = np.where((raw_images == example['image'][..., 0]).all(axis=(1, 2)))[0]
    assert len(matches) and raw_labels[matches[0]] == example['label']


def test_the_network_is_refused_while_the_tests_prepare_data():
  import urllib.request
  with refused_network():
    with pytest.raises(OSError, match='network access attempted'):
      urllib.request.urlopen('http://127.0.0.1:9/', timeout=1)
  assert socket.socket.connect is _CONNECT  # restored


_CONNECT = socket.socket.connect


def test_missing_or_altered_raw_file_names_the_file(tmp_path):
  raw = tmp_path / 'raw'
  (raw / 'mnist').mkdir(parents=True)
  with pytest.raises(prepare.PrepareError, match=r't10k-images-idx3-ubyte.gz: missing'):
    prepare.place_downloads('mnist', str(raw), str(tmp_path / 'dl'))
  for name in os.listdir(os.path.join(RAW, 'mnist')):
    (raw / 'mnist' / name).write_bytes(b'not mnist')
  with pytest.raises(prepare.PrepareError, match='sha256 differs'):
    prepare.place_downloads('mnist', str(raw), str(tmp_path / 'dl'))
  with pytest.raises(prepare.PrepareError, match='no offline source'):
    prepare.place_downloads('celeb_a', str(raw), str(tmp_path / 'dl'))


def test_cifar10_archive_holds_the_verified_batches(tmp_path):
  import tarfile
  dest = str(tmp_path / 'cifar.tar.gz')
  prepare._cifar10_archive(RAW, dest)
  with tarfile.open(dest) as tar:
    names = sorted(tar.getnames())
  assert names == sorted(f'cifar-10-batches-bin/{n}' for n in prepare.CIFAR10_FILES)
