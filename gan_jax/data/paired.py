"""Paired datasets for image-to-image translation and super-resolution: (source, target) images.

Offline proxies with exact ground truth are made from any image dataset by a fixed function of
the target (`config.dataset.source`):
- `edges`: the target's Sobel edges, binarized at a quarter of each image's strongest edge
  (edges -> digit, as pix2pix's edges -> shoes);
- `grey`: the target's ITU-R BT.601 luma (colorization);
- `lowres`: the target downsampled by `config.dataset.scale` with an antialiased bicubic filter
  (super-resolution).
Users' own pairs: `paired_folder:/path`, sources in A/ and targets in B/ under the same file
names (pix2pix's aligned layout split in two); and tfds `div2k/<config>` (Agustsson & Timofte
2017: 800 training and 100 validation 2K images with their downsampled versions), read as the
central `image_size` crop of each image and the matching crop of its low-resolution version.
"""

from __future__ import annotations

import dataclasses
import functools
import os

import jax
import numpy as np

from gan_jax.data import images
from gan_jax.data.images import IMAGE_SUFFIXES, ImageDataset, decode_image_file
from gan_jax.data.order import EpochOrder, process_order, reseeded
from gan_jax.errors import DataError

SOURCES = ('edges', 'grey', 'lowres')
PAIRED_FOLDER = 'paired_folder:'
DIV2K = 'div2k'


def div2k_scale(name: str) -> int:
  """The downsampling factor a div2k config names: div2k/bicubic_x4 -> 4."""
  config = name.partition('/')[2] or 'bicubic_x2'  # tfds's default config
  return int(config.rpartition('_x')[2])


def _crop(image: np.ndarray, top: int, left: int, size: int) -> np.ndarray:
  """image[top:top + size, left:left + size], zero-padded below and right where it runs out."""
  part = image[top:top + size, left:left + size]
  return np.pad(part, ((0, size - part.shape[0]), (0, size - part.shape[1]), (0, 0)))


def div2k_crops(lr: np.ndarray, hr: np.ndarray, image_size: int,
                scale: int) -> tuple[np.ndarray, np.ndarray]:
  """The central (image_size / scale)-square crop of a low-resolution image, and the crop of its
  high-resolution version covering the same pixels."""
  small = image_size // scale
  top, left = max((lr.shape[0] - small) // 2, 0), max((lr.shape[1] - small) // 2, 0)
  return _crop(lr, top, left, small), _crop(hr, top * scale, left * scale, image_size)


def load_div2k(name: str, split: str, data_dir: str | None, image_size: int, download: bool,
               scale: int, process_index: int = 0,
               process_count: int = 1) -> tuple[np.ndarray, np.ndarray]:
  """(sources, targets) uint8: the central `image_size` crop of each high-resolution image and
  the crop of its low-resolution version that covers the same pixels. 2K images of different
  sizes cannot be stacked whole; a crop keeps the dataset in memory."""
  if scale != div2k_scale(name):
    raise DataError(f'config.dataset.scale: {scale}, but {name} is downsampled '
                    f'{div2k_scale(name)}x; set it to {div2k_scale(name)}')
  if not image_size or image_size % scale:
    raise DataError(f'config.dataset.image_size: {name} holds 2K images of different sizes; give '
                    f'the size of the central crop to train on, a multiple of {scale}')
  builder = images.tfds_builder(name, data_dir, download)
  if images.is_array_record(builder):
    source = images.data_source(name, split, data_dir, process_index, process_count)
    examples = (source[i] for i in range(len(source)))
  else:
    import tensorflow_datasets as tfds
    images.require_tensorflow(name, builder)
    share = images.tfds_share(name, split, process_index, process_count)
    try:
      examples = tfds.as_numpy(builder.as_dataset(split=share, shuffle_files=False))
    except (ValueError, KeyError) as e:
      raise DataError(f"config.dataset.split: '{split}' of '{name}': {e}") from None
  sources, targets = zip(*(div2k_crops(e['lr'], e['hr'], image_size, scale) for e in examples))
  return np.stack(sources), np.stack(targets)


def luma(images: np.ndarray) -> np.ndarray:
  """ITU-R BT.601 luma of uint8 images [N, H, W, 3] (or the image itself when grey): [N, H, W, 1]."""
  if images.shape[-1] == 1:
    return images
  y = images.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
  return np.clip(np.round(y), 0, 255).astype(np.uint8)[..., None]


def edges(images: np.ndarray) -> np.ndarray:
  """Binary edge maps (0 or 255) [N, H, W, 1]: Sobel magnitude of the luma above a quarter of
  each image's maximum."""
  p = np.pad(luma(images)[..., 0].astype(np.float32), ((0, 0), (1, 1), (1, 1)), mode='edge')
  gx = (p[:, :-2, 2:] + 2 * p[:, 1:-1, 2:] + p[:, 2:, 2:]) - (
      p[:, :-2, :-2] + 2 * p[:, 1:-1, :-2] + p[:, 2:, :-2])
  gy = (p[:, 2:, :-2] + 2 * p[:, 2:, 1:-1] + p[:, 2:, 2:]) - (
      p[:, :-2, :-2] + 2 * p[:, :-2, 1:-1] + p[:, :-2, 2:])
  magnitude = np.hypot(gx, gy)
  peak = magnitude.max(axis=(1, 2), keepdims=True)
  return np.where(magnitude > 0.25 * np.maximum(peak, 1e-6), 255, 0).astype(np.uint8)[..., None]


@functools.lru_cache(maxsize=8)
def _shrink(height: int, width: int):
  return jax.jit(lambda x: jax.image.resize(x, (x.shape[0], height, width, x.shape[3]), 'bicubic',
                                            antialias=True))


def downsample(images: np.ndarray, scale: int) -> np.ndarray:
  """uint8 images [N, H, W, C] shrunk `scale` times with an antialiased bicubic filter."""
  n, h, w, c = images.shape
  if h % scale or w % scale:
    raise DataError(f'config.dataset.scale: {scale} does not divide the image size {h}x{w}; use '
                    'a divisor, or set config.dataset.image_size')
  shrink = _shrink(h // scale, w // scale)
  out = [np.asarray(shrink(images[i:i + 4096].astype(np.float32))) for i in range(0, n, 4096)]
  return np.clip(np.round(np.concatenate(out)), 0, 255).astype(np.uint8)


def make_sources(targets: np.ndarray, source: str, scale: int) -> np.ndarray:
  """The source of every target image, by the name `config.dataset.source` gives."""
  if source == 'edges':
    return edges(targets)
  if source == 'grey':
    return luma(targets)
  if source == 'lowres':
    return downsample(targets, scale)
  raise DataError(f'config.dataset.source: unknown {source!r}; known: {SOURCES}')


def load_paired_folder(path: str, image_size: int, process_index: int = 0,
                       process_count: int = 1) -> tuple[np.ndarray, np.ndarray]:
  """(sources, targets) uint8 from `path`/A and `path`/B, paired by file name."""
  sides = [os.path.join(path, side) for side in ('A', 'B')]
  for side in sides:
    if not os.path.isdir(side):
      raise DataError(f'config.dataset.name: {path} needs subfolders A/ (sources) and B/ '
                      f'(targets) with the same file names; there is no {side}')
  names = [sorted(f for f in os.listdir(side) if f.lower().endswith(IMAGE_SUFFIXES))
           for side in sides]
  if not names[0] or names[0] != names[1]:
    only = sorted(set(names[0]) ^ set(names[1]))[:3]
    raise DataError(f'{path}: A/ and B/ must hold images of the same names; '
                    + (f'unmatched: {only}' if only else 'both are empty'))
  share = len(names[0]) // process_count
  names = names[0][process_index * share:(process_index + 1) * share]
  out = []
  for side in sides:
    images = [decode_image_file(os.path.join(side, n), image_size) for n in names]
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
      raise DataError(f'{side}: images of different sizes {sorted(shapes)[:3]}; set '
                      'config.dataset.image_size')
    out.append(np.stack(images))
  if out[0].shape[1:3] != out[1].shape[1:3] and out[1].shape[1] % out[0].shape[1]:
    raise DataError(f'{path}: sources of size {out[0].shape[1:3]} cannot be paired with targets '
                    f'of size {out[1].shape[1:3]} (equal, or the targets a whole multiple)')
  return out[0], out[1]


@dataclasses.dataclass(frozen=True)
class PairedDataset:
  """This process's share of a paired dataset, read in a fresh permutation every epoch."""
  name: str                    # a tfds image dataset (with `source`), 'paired_folder:/path', div2k/*
  split: str
  data_dir: str | None
  image_size: int
  download: bool
  source: str                  # how sources are made from targets (proxies)
  scale: int                   # `lowres`: the downsampling factor
  seed: int
  batch_size: int
  n_critic: int = 1
  process_index: int = 0
  process_count: int = 1

  @functools.cached_property
  def _arrays(self) -> tuple[np.ndarray | None, np.ndarray, np.ndarray, int]:
    """(stored sources or None where they are made from the targets, targets, labels, classes)."""
    if self.name.startswith(PAIRED_FOLDER):
      sources, targets = load_paired_folder(self.name.removeprefix(PAIRED_FOLDER),
                                            self.image_size, self.process_index, self.process_count)
      return sources, targets, np.zeros(len(targets), np.int32), 0
    if self.name.split('/')[0] == DIV2K:
      sources, targets = load_div2k(self.name, self.split, self.data_dir, self.image_size,
                                    self.download, self.scale, self.process_index,
                                    self.process_count)
      return sources, targets, np.zeros(len(targets), np.int32), 0
    images = ImageDataset(self.name, self.split, self.data_dir, self.image_size, self.download,
                          self.seed, self.batch_size, self.n_critic, self.process_index,
                          self.process_count)
    return None, images.images, images.labels, images.num_classes

  def with_seed(self, seed: int) -> 'PairedDataset':
    return reseeded(self, seed, ('_arrays',))

  @functools.cached_property
  def sources(self) -> np.ndarray:
    stored = self._arrays[0]
    return make_sources(self.targets, self.source, self.scale) if stored is None else stored

  @property
  def targets(self) -> np.ndarray:
    return self._arrays[1]

  @property
  def labels(self) -> np.ndarray:
    return self._arrays[2]

  @property
  def num_classes(self) -> int:
    return self._arrays[3]

  @property
  def shape(self) -> tuple[int, ...]:
    """The shape of a target (what the generator makes)."""
    return self.targets.shape[1:]

  @property
  def source_shape(self) -> tuple[int, ...]:
    if self._arrays[0] is None and 'sources' not in self.__dict__:
      return make_sources(self.targets[:1], self.source, self.scale).shape[1:]
    return self.sources.shape[1:]

  @functools.cached_property
  def order(self) -> EpochOrder:
    return process_order(len(self.targets), self.name, self.seed, self.batch_size, self.n_critic,
                         self.process_index, self.process_count)

  def batch(self, step: int) -> dict[str, np.ndarray]:
    """This process's part of the batch of `step`: `source` and `target` [n_critic, local, ...]
    in [-1, 1], and `label` [n_critic, local]."""
    idx = self.order.indices(np.array([step]))[0]
    scale = lambda x: x.astype(np.float32) / 127.5 - 1.0
    return {'source': scale(self.sources[idx]), 'target': scale(self.targets[idx]),
            'label': self.labels[idx]}

  def first(self, count: int, direction: str = 'ab') -> dict[str, np.ndarray]:
    """The first `count` pairs in stored order, in [-1, 1] (evaluation and figures). Made
    sources are made for those pairs only: a held-out split is not converted whole. Pairs go
    one way: `direction` is 'ab' or '' (an `evals` entry of paired data names none), as the
    direction of two unpaired domains' `first`."""
    if direction not in ('', 'ab'):
      raise DataError(f'{self.name}: (source, target) pairs translate one way (ab), not {direction}')
    if len(self.targets) < count:
      raise DataError(f'{self.name}:{self.split} has {len(self.targets)} pairs; {count} are asked for')
    made = self._arrays[0] is None and 'sources' not in self.__dict__
    sources = (make_sources(self.targets[:count], self.source, self.scale) if made
               else self.sources[:count])
    scale = lambda x: x[:count].astype(np.float32) / 127.5 - 1.0
    return {'source': scale(sources), 'target': scale(self.targets),
            'label': self.labels[:count]}
