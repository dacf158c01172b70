"""The image pipeline: shapes, range, labels, determinism, per-process shares, clear errors."""

import os
import socket
import time

import numpy as np
import pytest
from PIL import Image

from gan_jax.data import DataError, ImageDataset


def mnist(tfds_dir, **kwargs):
  args = dict(name='mnist', split='train', data_dir=tfds_dir, image_size=0, download=False,
              seed=0, batch_size=32, n_critic=2)
  args.update(kwargs)
  return ImageDataset(**args)


def test_batches(tfds_dir):
  d = mnist(tfds_dir)
  assert d.shape == (28, 28, 1) and d.num_classes == 10 and len(d.images) == 60_000
  batch = d.batch(0)
  assert batch['x'].shape == (2, 32, 28, 28, 1) and batch['x'].dtype == np.float32
  assert batch['label'].shape == (2, 32) and batch['label'].dtype == np.int32
  assert batch['x'].min() == -1.0 and batch['x'].max() == 1.0
  assert set(np.unique(batch['label'])) <= set(range(10))


def test_deterministic_for_a_seed(tfds_dir):
  a, b, c = (mnist(tfds_dir, split='train[:5000]'), mnist(tfds_dir, split='train[:5000]'),
             mnist(tfds_dir, split='train[:5000]', seed=1))
  for step in (0, 7, 100):  # 100 steps x 64 examples: past the first epoch.
    np.testing.assert_array_equal(a.batch(step)['x'], b.batch(step)['x'])
    np.testing.assert_array_equal(a.batch(step)['label'], b.batch(step)['label'])
  assert not np.array_equal(a.batch(7)['label'], c.batch(7)['label'])


def test_resize(tfds_dir):
  d = mnist(tfds_dir, split='test[:100]', image_size=32)
  assert d.shape == (32, 32, 1) and len(d.images) == 100


def test_two_processes_read_disjoint_halves(tfds_dir):
  whole = mnist(tfds_dir, split='test')
  halves = [mnist(tfds_dir, split='test', process_index=i, process_count=2) for i in range(2)]
  assert [len(h.images) for h in halves] == [5000, 5000]
  np.testing.assert_array_equal(np.concatenate([h.images for h in halves]), whole.images)
  np.testing.assert_array_equal(np.concatenate([h.labels for h in halves]), whole.labels)
  # Each process's batch is its half of the global batch of 32.
  assert halves[0].batch(3)['x'].shape == (2, 16, 28, 28, 1)


def test_missing_data_fails_fast_offline(tmp_path, monkeypatch):
  with pytest.raises(DataError, match='gan_jax.data.prepare'):
    mnist(str(tmp_path), download=False).images

  def refuse(*args, **kwargs):
    time.sleep(0.1)
    raise OSError('unreachable')
  monkeypatch.setattr(socket, 'create_connection', refuse)
  start = time.time()
  with pytest.raises(DataError, match='unreachable.*gan_jax.data.prepare'):
    mnist(str(tmp_path), download=True).images
  assert time.time() - start < 10


def test_unknown_split(tfds_dir):
  with pytest.raises(DataError, match="config.dataset.split: 'validation'"):
    mnist(tfds_dir, split='validation').images


def test_image_folder(tmp_path):
  for label, color in (('cats', 0), ('dogs', 255)):
    os.makedirs(tmp_path / label)
    for i in range(3):
      Image.fromarray(np.full((8, 8, 3), color, np.uint8)).save(tmp_path / label / f'{i}.png')
  d = ImageDataset(name=f'folder:{tmp_path}', split='train', data_dir=None, image_size=0,
                   download=False, seed=0, batch_size=4)
  assert d.shape == (8, 8, 3) and d.num_classes == 2
  batch = d.batch(0)
  # Labels follow sorted folder names: cats (black, -1) = 0, dogs (white, 1) = 1.
  np.testing.assert_array_equal(batch['x'][0].mean(axis=(1, 2, 3)), 2.0 * batch['label'][0] - 1)


def test_empty_image_folder(tmp_path):
  os.makedirs(tmp_path / 'class_a')
  (tmp_path / 'class_a' / 'notes.txt').write_text('no images here')
  with pytest.raises(DataError, match='no images'):
    ImageDataset(name=f'folder:{tmp_path}', split='train', data_dir=None, image_size=0,
                 download=False, seed=0, batch_size=4).images


def test_streamed_batches_equal_the_in_memory_ones(tfds_dir, tfds_tfrecord_dir, monkeypatch):
  """`dataset.read='stream'` decodes only each batch's examples from ArrayRecord files; the
  examples of every step are those of the in-memory path (same seed, step, process share),
  whether that read the ArrayRecord files through tfds's data source or TFRecord files through
  tf.data."""

  for image_size, process_index in ((0, 0), (0, 1), (32, 1)):
    kwargs = dict(name='mnist', split='train[:1000]', image_size=image_size, download=False,
                  seed=3, batch_size=32, n_critic=2, process_index=process_index, process_count=2)
    memory = ImageDataset(data_dir=tfds_dir, read='memory', **kwargs)
    tfdata = ImageDataset(data_dir=tfds_tfrecord_dir, read='memory', **kwargs)
    stream = ImageDataset(data_dir=tfds_dir, read='stream', **kwargs)
    assert stream.streamed is not None and memory.streamed is None
    assert stream.shape == memory.shape and stream.num_classes == memory.num_classes == 10
    for step in (0, 7, 40):  # 40: the third epoch of this 500-example share
      a, b, c = memory.batch(step), stream.batch(step), tfdata.batch(step)
      assert a['x'].shape == (2, 16, image_size or 28, image_size or 28, 1)
      for other in (b, c):
        np.testing.assert_array_equal(a['x'], other['x'])
        np.testing.assert_array_equal(a['label'], other['label'])
  # 'auto' keeps a dataset of this size in memory; above the threshold it streams, when it can.
  assert ImageDataset(data_dir=tfds_dir, read='auto', **kwargs).streamed is None
  from gan_jax.data import images
  monkeypatch.setattr(images, 'STREAM_ABOVE_BYTES', 500 * 28 * 28 - 1)
  assert ImageDataset(data_dir=tfds_dir, read='auto', **kwargs).streamed is not None
  assert ImageDataset(data_dir=tfds_tfrecord_dir, read='auto', **kwargs).streamed is None


def test_streaming_a_dataset_not_stored_as_array_record_is_one_error(tfds_tfrecord_dir):

  dataset = ImageDataset('mnist', 'train[:100]', tfds_tfrecord_dir, 0, False, 0, 8, read='stream')
  with pytest.raises(DataError, match="config.dataset.read: 'mnist' in .* is stored as "
                     'tfrecord; streaming reads random-access ArrayRecord files'):
    dataset.batch(0)


def test_decoded_splits_are_kept_and_decoded_again_when_their_files_change(
    tfds_dir, tmp_path, monkeypatch):
  """A split is decoded once and read back from `$GAN_JAX_CACHE/decoded/` by later runs; a
  damaged cache file, or a prepared file changed since, is decoded again."""
  import shutil
  from gan_jax.data import images
  monkeypatch.setenv('GAN_JAX_CACHE', str(tmp_path / 'cache'))
  decodes = []
  decode = images._decode_tfds
  monkeypatch.setattr(images, '_decode_tfds', lambda *a: decodes.append(a[2]) or decode(*a))
  data_dir = tmp_path / 'tfds'  # a copy whose files the test can change
  shutil.copytree(os.path.join(tfds_dir, 'mnist'), data_dir / 'mnist')
  load = lambda split: images._load_tfds('mnist', split, str(data_dir), 0, False, 0, 1)
  first = load('test[:300]')
  assert decodes == ['test[:300]'] and first[0].shape == (300, 28, 28, 1) and first[2] == 10
  [cached] = os.listdir(tmp_path / 'cache' / 'decoded')
  again = load('test[:300]')
  assert decodes == ['test[:300]']  # read back, not decoded
  for a, b in zip(first[:2], again[:2]):
    assert a.dtype == b.dtype
    np.testing.assert_array_equal(a, b)
  load('test[:200]')  # another split, another file
  assert decodes[-1] == 'test[:200]' and len(os.listdir(tmp_path / 'cache' / 'decoded')) == 2
  path = tmp_path / 'cache' / 'decoded' / cached
  path.write_bytes(path.read_bytes()[:1000])  # damaged
  np.testing.assert_array_equal(load('test[:300]')[0], first[0])
  assert decodes[-1] == 'test[:300]' and len(decodes) == 3
  [version] = os.listdir(data_dir / 'mnist')
  info = data_dir / 'mnist' / version / 'dataset_info.json'
  os.utime(info, ns=(info.stat().st_atime_ns, info.stat().st_mtime_ns + 10**9))  # prepared again
  load('test[:300]')
  assert len(decodes) == 4 and len(os.listdir(tmp_path / 'cache' / 'decoded')) == 3
