"""Image datasets: any tfds image dataset by name, or a folder of images with one subfolder per class.

Each process reads its own even share of the split (`tfds.even_splits`). Datasets are read from
tfds's random-access ArrayRecord files through its data sources, without TensorFlow: small ones
decoded (and resized) into memory once, larger ones example by example (`config.dataset.read`);
datasets stored as TFRecord are read into memory through tf.data, which needs TensorFlow. Either
way the examples of a step are a pure function of (seed, step), the same in both modes, so a
resumed run reads the same data. Images are scaled to [-1, 1]; labels are kept.

tensorflow_datasets and TensorFlow are imported where they are used: both take seconds to
import, and TensorFlow is optional (only preparing data and reading TFRecord files need it).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.util
import os
import socket
import urllib.parse
import zipfile

import numpy as np
from PIL import Image, UnidentifiedImageError

from gan_jax.data.order import EpochOrder, process_order, reseeded
from gan_jax.errors import DataError
from gan_jax.fileutil import cache_dir, save_npz

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


def tensorflow_missing() -> bool:
  """Whether TensorFlow cannot be imported: training and evaluation do without it; only
  preparing a tfds dataset, or reading one stored as TFRecord, needs it."""
  return importlib.util.find_spec('tensorflow') is None


PREPARE_EXTRA = "pip install -e '.[prepare]'"


def tfds_builder(name: str, data_dir: str | None, download: bool):
  """The prepared builder of tfds dataset `name`; downloads and prepares it (as ArrayRecord, which
  is read without TensorFlow) only when the network answers."""
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
  if tensorflow_missing():
    raise DataError(f"dataset '{name}' is not prepared in {where}, and tfds prepares datasets "
                    f'with TensorFlow, which is not installed: {PREPARE_EXTRA} once to prepare '
                    'it (training then runs without TensorFlow)')
  builder = tfds.builder(name, data_dir=data_dir, file_format='array_record')
  builder.download_and_prepare()
  return builder


@functools.lru_cache(maxsize=64)
def _resize_weights(size_in: int, size_out: int) -> np.ndarray:
  """[size_in, size_out] weights of antialiased bilinear resampling: a triangle kernel widened by
  the shrink factor, normalized per output pixel (the weights of `jax.image.resize(...,
  'bilinear', antialias=True)`)."""
  scale = size_out / size_in
  kernel_scale = max(1 / scale, 1.0)
  centers = (np.arange(size_out) + 0.5) / scale - 0.5
  weights = np.maximum(0, 1 - np.abs(centers[None, :] - np.arange(size_in)[:, None]) / kernel_scale)
  return (weights / weights.sum(axis=0, keepdims=True)).astype(np.float32)


def resize(images: np.ndarray, size: int) -> np.ndarray:
  """uint8 images [..., H, W, C] resized to `size` square: antialiased bilinear, rounded. numpy,
  so that images of any size are resized without a compile per shape."""
  h, w = images.shape[-3:-1]
  out = np.einsum('...hwc,hy,wx->...yxc', images.astype(np.float32), _resize_weights(h, size),
                  _resize_weights(w, size), optimize=True)
  return np.round(np.clip(out, 0, 255)).astype(np.uint8)


def read_examples(source, indices: np.ndarray, image_size: int,
                  num_classes: int) -> tuple[np.ndarray, np.ndarray]:
  """uint8 images [*indices.shape, H, W, C] and int32 labels of the examples at `indices` of a
  tfds data source (images of different sizes are resized one by one before they are stacked)."""
  examples = source.__getitems__([int(i) for i in np.ravel(indices)])
  images = [e['image'] for e in examples]
  if image_size and len({im.shape for im in images}) > 1:
    images = np.stack([resize(im, image_size) for im in images])
  else:
    images = np.stack(images)
    if image_size:
      images = np.concatenate([resize(images[i:i + 4096], image_size)
                               for i in range(0, len(images), 4096)])
  labels = np.array([e['label'] if num_classes else 0 for e in examples], np.int32)
  return (images.reshape(np.shape(indices) + images.shape[1:]), labels.reshape(np.shape(indices)))


def tfds_share(name: str, split: str, process_index: int, process_count: int):
  import tensorflow_datasets as tfds
  try:
    return tfds.even_splits(split, n=process_count, drop_remainder=True)[process_index]
  except (ValueError, KeyError) as e:
    raise DataError(f"config.dataset.split: '{split}' of '{name}': {e}") from None


def data_source(name: str, split: str, data_dir: str | None, process_index: int = 0,
                process_count: int = 1):
  """tfds's random-access reader (no TensorFlow) of this process's share of an ArrayRecord-stored
  split."""
  import tensorflow_datasets as tfds
  share = tfds_share(name, split, process_index, process_count)
  try:
    return tfds.data_source(name, split=share, data_dir=data_dir, download=False)
  except (ValueError, KeyError) as e:
    raise DataError(f"config.dataset.split: '{split}' of '{name}': {e}") from None


def is_array_record(builder) -> bool:
  import tensorflow_datasets as tfds
  return builder.info.file_format == tfds.core.FileFormat.ARRAY_RECORD


def require_tensorflow(name: str, builder) -> None:
  """Stops with one line when a TFRecord-stored dataset is to be read without TensorFlow."""
  if tensorflow_missing():
    raise DataError(f"dataset '{name}' in {builder.data_dir} is stored as TFRecord, which only "
                    'TensorFlow reads, and TensorFlow is not installed: prepare it again as '
                    'ArrayRecord (python -m gan_jax.data.prepare, or tfds build --file_format '
                    f'array_record), or {PREPARE_EXTRA}')


@functools.lru_cache(maxsize=8)
def load_tfds(name: str, split: str, data_dir: str | None, image_size: int, download: bool,
              process_index: int, process_count: int) -> tuple[np.ndarray, np.ndarray, int]:
  """(uint8 images [N, H, W, C], int32 labels [N], number of classes) of this process's share:
  from ArrayRecord files through tfds's data source; from TFRecord files through tf.data (the
  only reader of those, so it needs TensorFlow). Both give the same arrays. Decoded once: kept in
  memory for the process (a run, its evaluators and its previews share them, so read-only), and
  on disk in `$GAN_JAX_CACHE/decoded/` for later runs (on a 2-core CPU, decoding MNIST's training
  split takes 14 s, reading it back 0.03 s: bench/decoded_cache.py)."""
  images, labels, num_classes = _load_tfds(name, split, data_dir, image_size, download,
                                           process_index, process_count)
  images.setflags(write=False)
  labels.setflags(write=False)
  return images, labels, num_classes


def _load_tfds(name: str, split: str, data_dir: str | None, image_size: int, download: bool,
               process_index: int, process_count: int) -> tuple[np.ndarray, np.ndarray, int]:
  builder = tfds_builder(name, data_dir, download)
  features = builder.info.features
  if 'image' not in features:
    raise DataError(f"config.dataset.name: tfds dataset '{name}' has no 'image' feature")
  num_classes = features['label'].num_classes if 'label' in features else 0
  fingerprint = _files_fingerprint(str(builder.data_dir))  # None: tfds's mock data, no files
  path = None
  if fingerprint is not None:
    key = f'{name}|{split}|{image_size}|{process_index}/{process_count}|{fingerprint}'
    path = os.path.join(cache_dir(), 'decoded', hashlib.sha256(key.encode()).hexdigest()[:20] + '.npz')
  if path and os.path.exists(path):
    try:
      with np.load(path, allow_pickle=False) as f:
        if str(f['key']) == key:
          return f['images'], f['labels'], num_classes
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
      pass  # A damaged cache file is decoded again and replaced.
  images, labels = _decode_tfds(builder, name, split, data_dir, image_size, num_classes,
                                process_index, process_count)
  if path:
    try:
      save_npz(path, key=key, images=images, labels=labels)
    except OSError:
      pass  # A cache that cannot be written (read-only, full) only costs the next run the decode.
  return images, labels, num_classes


def _files_fingerprint(folder: str) -> str | None:
  """The prepared dataset's files as (name, size, modification time): another preparation, or a
  file replaced or damaged since, is another fingerprint. None where the folder does not exist."""
  if not os.path.isdir(folder):
    return None
  entries = sorted((e.name, e.stat().st_size, e.stat().st_mtime_ns) for e in os.scandir(folder)
                   if e.is_file())
  return f'{os.path.realpath(folder)}|{entries}'


def _decode_tfds(builder, name: str, split: str, data_dir: str | None, image_size: int,
                 num_classes: int, process_index: int,
                 process_count: int) -> tuple[np.ndarray, np.ndarray]:
  if is_array_record(builder):
    source = data_source(name, split, data_dir, process_index, process_count)
    return read_examples(source, np.arange(len(source)), image_size, num_classes)
  require_tensorflow(name, builder)
  import tensorflow as tf
  import tensorflow_datasets as tfds
  try:
    ds = builder.as_dataset(split=tfds_share(name, split, process_index, process_count),
                            shuffle_files=False)
  except (ValueError, KeyError) as e:
    raise DataError(f"config.dataset.split: '{split}' of '{name}': {e}") from None

  def convert(example):
    label = example['label'] if num_classes else tf.constant(0, tf.int64)
    return example['image'], tf.cast(label, tf.int32)

  ds = ds.map(convert, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).batch(4096)
  images, labels = zip(*tfds.as_numpy(ds))
  images = np.concatenate(images)
  return (resize(images, image_size) if image_size else images), np.concatenate(labels)


def decode_image_file(file: str, image_size: int = 0) -> np.ndarray:
  """One image file as uint8 [H, W, 3] (resized to `image_size` square when given); the first
  frame of an animation."""
  try:
    with Image.open(file) as image:
      image = np.asarray(image.convert('RGB'))
  except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
    # Truncated, corrupt, or not an image despite its suffix.
    reason = str(e).splitlines()[0][:100] if str(e) else type(e).__name__
    raise DataError(f'{file}: cannot be decoded as an image ({reason}); replace or remove it '
                    '(config.dataset.name)') from None
  return resize(image, image_size) if image_size else image


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
    builder = tfds_builder(name, data_dir, download)
    if not is_array_record(builder):
      raise DataError(f"config.dataset.read: '{name}' in {builder.data_dir} is stored as "
                      f'{builder.info.file_format.value}; streaming reads random-access '
                      'ArrayRecord files: prepare it with --file_format array_record '
                      '(python -m gan_jax.data.prepare, or tfds build), or read it into memory')
    features = builder.info.features
    self.num_classes = features['label'].num_classes if 'label' in features else 0
    self.source = data_source(name, split, data_dir, process_index, process_count)
    self.image_size = image_size
    shape = tuple(features['image'].shape)
    self.shape = (image_size, image_size, shape[-1]) if image_size else shape

  def __len__(self) -> int:
    return len(self.source)

  def take(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images [*indices.shape, H, W, C] and int32 labels of the examples at `indices`."""
    return read_examples(self.source, indices, self.image_size, self.num_classes)


def streams(name: str, split: str, data_dir: str | None, image_size: int, download: bool,
            read: str, process_count: int) -> bool:
  """Whether a tfds image dataset is read example by example: `read='stream'`, or 'auto' and its
  share of the split would take more than STREAM_ABOVE_BYTES decoded (if stored as ArrayRecord;
  larger ones in other formats are read into memory, as before)."""
  if read != 'auto' or name == STACKED_MNIST or name.startswith('folder:'):
    return read == 'stream'
  builder = tfds_builder(name, data_dir, download)
  info = builder.info
  shape = info.features['image'].shape
  size = image_size * image_size * shape[-1] if image_size else np.prod(
      [n or 256 for n in shape])  # unknown sizes: as if 256
  try:
    count = info.splits[split].num_examples // process_count
  except (KeyError, ValueError):
    return False  # A bad split is reported by the reader.
  return count * size > STREAM_ABOVE_BYTES and is_array_record(builder)


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

  def with_seed(self, seed: int) -> 'ImageDataset':
    return reseeded(self, seed, ('_arrays', 'streamed'))

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
