"""The prepare command builds the real tfds datasets from the original files with no network."""

import gzip
import os
import socket

import numpy as np
import pytest

from gan_jax.data import prepare

from conftest import RAW_DATA as RAW

pytestmark = pytest.mark.skipif(not os.path.isdir(RAW), reason=f'needs the original dataset files '
                                f'in {RAW} (GAN_JAX_RAW_DATA)')


@pytest.fixture
def no_network(monkeypatch):
  def refuse(*args, **kwargs):
    raise OSError('network access attempted in an offline test')
  monkeypatch.setattr(socket.socket, 'connect', refuse)
  monkeypatch.setattr(socket, 'create_connection', refuse)
  monkeypatch.setattr(socket, 'getaddrinfo', refuse)


def test_builds_mnist_offline(tmp_path, no_network):
  import tensorflow_datasets as tfds
  path = prepare.prepare('mnist', RAW, str(tmp_path))
  assert path.startswith(str(tmp_path))
  builder = tfds.builder('mnist', data_dir=str(tmp_path))
  assert builder.info.splits['train'].num_examples == 60_000
  assert builder.info.splits['test'].num_examples == 10_000
  # The first test examples are the raw file's, in any order tfds stores them.
  with gzip.open(os.path.join(RAW, 'mnist', 't10k-images-idx3-ubyte.gz')) as f:
    raw_images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
  with gzip.open(os.path.join(RAW, 'mnist', 't10k-labels-idx1-ubyte.gz')) as f:
    raw_labels = np.frombuffer(f.read(), np.uint8, offset=8)
  assert builder.info.file_format == tfds.core.FileFormat.ARRAY_RECORD  # read without TensorFlow
  test = tfds.data_source('mnist', split='test', data_dir=str(tmp_path), download=False)
  for example in test.__getitems__(list(range(20))):
    assert example['image'].shape == (28, 28, 1)
    matches = np.where((raw_images == example['image'][..., 0]).all(axis=(1, 2)))[0]
    assert len(matches) and raw_labels[matches[0]] == example['label']


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
