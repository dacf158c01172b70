"""Image datasets: any tfds image dataset by name, or a folder of images with one subfolder per class.

Each process reads its own even share of the split (`tfds.even_splits`). Small datasets are
decoded (and resized) into memory once, through tf.data; datasets larger than memory are read
example by example from tfds's random-access ArrayRecord files (`config.dataset.read`). Either
way the examples of a step are a pure function of (seed, step), the same in both modes, so a
resumed run reads the same data. Images are scaled to [-1, 1]; labels are kept.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import socket
import urllib.parse

import numpy as np

from gan_jax.data.order import EpochOrder, process_order
from gan_jax.errors import DataError

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.gif')


def _network_reachable(urls: list[str], timeout: float = 3.0) -> bool:
  for url in urls[:1]:
    parsed = urllib.parse.urlparse(url)
    port = parsed.port or (443 if parsed.scheme == 'https' else 80)
    try:
      socket.create_connection((parsed.hostname, port), timeout=timeout).close()
      return True
    except OSError:
      return False
  return True


def tfds_builder(name: str, data_dir: str | None, download: bool):
  """The prepared builder of tfds dataset `name`; downloads it only when the network answers."""
  import tensorflow_datasets as tfds
  try:
    builder = tfds.builder(name, data_dir=data_dir)
  except tfds.core.registered.DatasetNotFoundError:
    raise DataError(f"config.dataset.name: tfds has no dataset '{name}'") from None
  if builder.is_prepared():
    return builder
  where = data_dir or os.environ.get('TFDS_DATA_DIR', '~/tensorflow_datasets')
  how = (f'build it offline from a folder with the original files with `python -m '
         f'gan_jax.data.prepare --raw DIR --data_dir {where} --datasets {name}` (mnist, '
         'fashion_mnist, cifar10)')
  if not download:
    raise DataError(f"dataset '{name}' is not prepared in {where} and config.dataset.download "
                    f'is off: {how}')
  if not _network_reachable(list(builder.url_infos or {})):
    raise DataError(f"dataset '{name}' is not prepared in {where} and its download site is "
                    f'unreachable: {how}, or run where the network is reachable')
  builder.download_and_prepare()
  return builder


def _resize(images, size: int):
  import tensorflow as tf
  return tf.cast(tf.round(tf.clip_by_value(
      tf.image.resize(images, (size, size), method='bilinear', antialias=True), 0, 255)), tf.uint8)


def load_tfds(name: str, split: str, data_dir: str | None, image_size: int, download: bool,
              process_index: int, process_count: int) -> tuple[np.ndarray, np.ndarray, int]:
  """(uint8 images [N, H, W, C], int32 labels [N], number of classes) of this process's share."""
  import tensorflow as tf
  import tensorflow_datasets as tfds
  builder = tfds_builder(name, data_dir, download)
  features = builder.info.features
  if 'image' not in features:
    raise DataError(f"config.dataset.name: tfds dataset '{name}' has no 'image' feature")
  num_classes = features['label'].num_classes if 'label' in features else 0
  try:
    shares = tfds.even_splits(split, n=process_count, drop_remainder=True)
    ds = builder.as_dataset(split=shares[process_index], shuffle_files=False)
  except (ValueError, KeyError) as e:
    raise DataError(f"config.dataset.split: '{split}' of '{name}': {e}") from None

  def convert(example):
    image = example['image']
    if image_size:
      image = _resize(image, image_size)
    label = example['label'] if num_classes else tf.constant(0, tf.int64)
    return image, tf.cast(label, tf.int32)

  ds = ds.map(convert, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).batch(4096)
  images, labels = zip(*tfds.as_numpy(ds))
  return np.concatenate(images), np.concatenate(labels), num_classes


def decode_image_file(file: str, image_size: int = 0) -> np.ndarray:
  """One image file as uint8 [H, W, 3] (resized to `image_size` square when given)."""
  import tensorflow as tf
  try:
    image = tf.io.decode_image(tf.io.read_file(file), channels=3, expand_animations=False)
  except tf.errors.OpError as e:  # Truncated, corrupt, or not an image despite its suffix.
    reason = e.message.splitlines()[0][:100] if e.message else type(e).__name__
    raise DataError(f'{file}: cannot be decoded as an image ({reason}); replace or remove it '
                    '(config.dataset.name)') from None
  if image_size:
    image = _resize(image, image_size)
  return image.numpy()


def load_folder(path: str, image_size: int, process_index: int,
                process_count: int) -> tuple[np.ndarray, np.ndarray, int]:
  """A folder of images, one subfolder per class (sorted names are labels 0, 1, ...)."""
  if not os.path.isdir(path):
    raise DataError(f'config.dataset.name: no folder {path}')
  classes = sorted(d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d)))
  files = [(os.path.join(path, c, f), i) for i, c in enumerate(classes)
           for f in sorted(os.listdir(os.path.join(path, c))) if f.lower().endswith(IMAGE_SUFFIXES)]
  if not files:
    raise DataError(f'config.dataset.name: no images ({", ".join(IMAGE_SUFFIXES)}) in the class '
                    f'subfolders of {path}')
  share = len(files) // process_count
  files = files[process_index * share:(process_index + 1) * share]
  images = [decode_image_file(file, image_size) for file, _ in files]
  shapes = {im.shape for im in images}
  if len(shapes) > 1:
    raise DataError(f'{path}: images of different sizes {sorted(shapes)[:3]}; set '
                    'config.dataset.image_size')
  return np.stack(images), np.array([label for _, label in files], np.int32), len(classes)


STACKED_MNIST = 'stacked_mnist'


def load_stacked_mnist(split: str, data_dir: str | None, download: bool, num: int,
                       process_index: int, process_count: int) -> tuple[np.ndarray, np.ndarray, int]:
  """Stacked-MNIST (Metz et al. 2017; VEEGAN, PacGAN): `num` images of three MNIST digits stacked
  as colour channels, label 100 a + 10 b + c, so 1000 modes. The triples are drawn by the
  dataset's own fixed seed, so every run and every process sees the same dataset."""
  images, labels, _ = load_tfds('mnist', split, data_dir, 0, download, 0, 1)
  idx = np.random.default_rng(0).integers(0, len(images), (num, 3))
  share = num // process_count
  idx = idx[process_index * share:(process_index + 1) * share]
  stacked = np.concatenate([images[idx[:, c]] for c in range(3)], axis=-1)
  return stacked, (100 * labels[idx[:, 0]] + 10 * labels[idx[:, 1]] + labels[idx[:, 2]]), 1000


READ_MODES = ('auto', 'memory', 'stream')
STREAM_ABOVE_BYTES = 4 * 2 ** 30  # `read='auto'` streams a share whose decoded images are larger


class StreamedImages:
  """This process's share of a tfds split, decoded example by example from its ArrayRecord
  files (`tfds.data_source`): only the examples of a batch are ever in memory."""

  def __init__(self, name: str, split: str, data_dir: str | None, image_size: int, download: bool,
               process_index: int, process_count: int):
    import tensorflow_datasets as tfds
    builder = tfds_builder(name, data_dir, download)
    if builder.info.file_format != tfds.core.FileFormat.ARRAY_RECORD:
      raise DataError(f"config.dataset.read: '{name}' in {builder.data_dir} is stored as "
                      f'{builder.info.file_format.value}; streaming reads random-access '
                      'ArrayRecord files: prepare it with --file_format array_record '
                      '(python -m gan_jax.data.prepare, or tfds build), or read it into memory')
    features = builder.info.features
    self.num_classes = features['label'].num_classes if 'label' in features else 0
    try:
      share = tfds.even_splits(split, n=process_count, drop_remainder=True)[process_index]
      self.source = tfds.data_source(name, split=share, data_dir=data_dir, download=False)
    except (ValueError, KeyError) as e:
      raise DataError(f"config.dataset.split: '{split}' of '{name}': {e}") from None
    self.image_size = image_size
    shape = tuple(features['image'].shape)
    self.shape = (image_size, image_size, shape[-1]) if image_size else shape

  def __len__(self) -> int:
    return len(self.source)

  def take(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images [*indices.shape, H, W, C] and int32 labels of the examples at `indices`."""
    examples = self.source.__getitems__([int(i) for i in indices.ravel()])
    images = np.stack([e['image'] for e in examples])
    if self.image_size:
      images = np.asarray(_resize(images, self.image_size))
    labels = np.array([e['label'] if self.num_classes else 0 for e in examples], np.int32)
    return (images.reshape(indices.shape + images.shape[1:]), labels.reshape(indices.shape))


def streams(name: str, split: str, data_dir: str | None, image_size: int, download: bool,
            read: str, process_count: int) -> bool:
  """Whether a tfds image dataset is read example by example: `read='stream'`, or 'auto' and its
  share of the split would take more than STREAM_ABOVE_BYTES decoded (if stored as ArrayRecord;
  larger ones in other formats are read into memory, as before)."""
  if read != 'auto' or name == STACKED_MNIST or name.startswith('folder:'):
    return read == 'stream'
  import tensorflow_datasets as tfds
  info = tfds_builder(name, data_dir, download).info
  shape = info.features['image'].shape
  size = image_size * image_size * shape[-1] if image_size else np.prod(
      [n or 256 for n in shape])  # unknown sizes: as if 256
  try:
    count = info.splits[split].num_examples // process_count
  except (KeyError, ValueError):
    return False  # A bad split is reported by the reader.
  return (count * size > STREAM_ABOVE_BYTES and
          info.file_format == tfds.core.FileFormat.ARRAY_RECORD)


@dataclasses.dataclass(frozen=True)
class ImageDataset:
  """This process's share of an image dataset, read in a fresh permutation every epoch."""
  name: str                    # a tfds name, or 'folder:/path'
  split: str
  data_dir: str | None
  image_size: int              # 0 keeps the dataset's size
  download: bool
  seed: int
  batch_size: int              # global, in samples
  n_critic: int = 1
  process_index: int = 0
  process_count: int = 1
  num_train: int = 100_000     # stacked_mnist: how many stacked images
  read: str = 'memory'         # config.dataset.read: memory, stream or auto

  @functools.cached_property
  def streamed(self) -> StreamedImages | None:
    """The example-by-example reader, when this dataset is streamed."""
    if not streams(self.name, self.split, self.data_dir, self.image_size, self.download,
                   self.read, self.process_count):
      return None
    return StreamedImages(self.name, self.split, self.data_dir, self.image_size, self.download,
                          self.process_index, self.process_count)

  @functools.cached_property
  def _arrays(self) -> tuple[np.ndarray, np.ndarray, int]:
    if self.name == STACKED_MNIST:
      return load_stacked_mnist(self.split, self.data_dir, self.download, self.num_train,
                                self.process_index, self.process_count)
    if self.name.startswith('folder:'):
      return load_folder(self.name.removeprefix('folder:'), self.image_size, self.process_index,
                         self.process_count)
    return load_tfds(self.name, self.split, self.data_dir, self.image_size, self.download,
                     self.process_index, self.process_count)

  @property
  def images(self) -> np.ndarray:
    return self._arrays[0]

  @property
  def labels(self) -> np.ndarray:
    return self._arrays[1]

  @property
  def num_classes(self) -> int:
    return self.streamed.num_classes if self.streamed else self._arrays[2]

  @property
  def shape(self) -> tuple[int, ...]:
    return self.streamed.shape if self.streamed else self.images.shape[1:]

  @functools.cached_property
  def order(self) -> EpochOrder:
    count = len(self.streamed) if self.streamed else len(self.images)
    return process_order(count, self.name, self.seed, self.batch_size, self.n_critic,
                         self.process_index, self.process_count)

  def batch(self, step: int) -> dict[str, np.ndarray]:
    """This process's part of the batch of `step`: images [n_critic, local, H, W, C] in [-1, 1]
    and labels [n_critic, local]."""
    idx = self.order.indices(np.array([step]))[0]
    images, labels = (self.streamed.take(idx) if self.streamed else
                      (self.images[idx], self.labels[idx]))
    return {'x': images.astype(np.float32) / 127.5 - 1.0, 'label': labels}
