"""Unpaired datasets for CycleGAN: images of two domains A and B, read in independent orders.

- `mnist_mnistm`: MNIST digits (A, grey in three channels) and MNIST-M-like digits (B): each
  digit, binarized, blended with a 28x28 crop of a CIFAR-10 image as |crop - digit|, the recipe
  of Ganin & Lempitsky (2015) with CIFAR-10 in place of BSDS500. Training domains come from
  disjoint halves of a split's digits, so no pair is ever seen; in any other split (`test`)
  image i of B is made from digit i of A, so the true B -> A translation of every held-out
  image is known. The blend is fixed (its own seed), not drawn per run.
- `unpaired_folder:/path`: CycleGAN's layout, trainA/ trainB/ testA/ testB/ (split `train`
  reads trainA and trainB).
- tfds `cycle_gan/<pair>` (horse2zebra, summer2winter_yosemite, ...): splits trainA, trainB,
  testA, testB.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re

import numpy as np

from gan_jax.data.images import IMAGE_SUFFIXES, decode_image_file, load_tfds
from gan_jax.data.order import EpochOrder, process_order, reseeded
from gan_jax.errors import DataError

MNIST_MNISTM = 'mnist_mnistm'
UNPAIRED_FOLDER = 'unpaired_folder:'
CYCLE_GAN_TFDS = 'cycle_gan'
SIDES = ('a', 'b')
_BLEND_SEED = 20150  # The proxy's backgrounds are part of the dataset, the same for every run.


def is_unpaired_name(name: str) -> bool:
  return (name == MNIST_MNISTM or name.startswith(UNPAIRED_FOLDER)
          or name.split('/')[0] == CYCLE_GAN_TFDS)


def _split_parts(split: str) -> tuple[str, str]:
  """'train[:256]' -> ('train', '[:256]')."""
  match = re.fullmatch(r'(\w+)(\[[^\]]*\])?', split)
  if not match:
    raise DataError(f"config.dataset.split: {split!r}; use a split name with an optional "
                    "slice, e.g. 'train' or 'train[:256]'")
  return match.group(1), match.group(2) or ''


def blend_mnistm(digits: np.ndarray, backgrounds: np.ndarray, seed: int) -> np.ndarray:
  """MNIST-M-like images uint8 [N, 28, 28, 3]: digit i (binarized at 0, as 255) blended with a
  random 28x28 crop of a background image as |crop - digit|."""
  rng = np.random.default_rng(seed)
  n, h, w = digits.shape[:3]
  which = rng.permutation(max(n, len(backgrounds)))[:n] % len(backgrounds)
  top = rng.integers(0, backgrounds.shape[1] - h + 1, n)
  left = rng.integers(0, backgrounds.shape[2] - w + 1, n)
  rows = top[:, None] + np.arange(h)
  cols = left[:, None] + np.arange(w)
  crops = backgrounds[which[:, None, None], rows[:, :, None], cols[:, None, :]]
  digit = np.where(digits[..., :1] > 0, 255, 0)
  return np.abs(crops.astype(np.int16) - digit).astype(np.uint8)


@functools.lru_cache(maxsize=4)
def _digits_and_blends(split: str, data_dir: str | None, download: bool
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """MNIST `split`'s digits, labels, and the digits as MNIST-M-like images (CIFAR-10's images of
  the same split as backgrounds). Made once per process (the dataset, its evaluators and figures
  all read it) and read-only."""
  digits, labels, _ = load_tfds('mnist', split, data_dir, 0, download, 0, 1)
  backgrounds, _, _ = load_tfds('cifar10', split, data_dir, 0, download, 0, 1)
  base = _split_parts(split)[0]
  out = digits, labels, blend_mnistm(digits, backgrounds, _BLEND_SEED + (base == 'train'))
  for array in out:
    array.setflags(write=False)
  return out


def mnistm(split: str, data_dir: str | None, download: bool) -> tuple[np.ndarray, np.ndarray]:
  """Every digit of MNIST `split` as an MNIST-M-like image, with its label."""
  _, labels, blended = _digits_and_blends(split, data_dir, download)
  return blended, labels


def _mnist_mnistm(split: str, data_dir: str | None, download: bool) -> dict[str, np.ndarray]:
  digits, labels, blended = _digits_and_blends(split, data_dir, download)
  digits = np.repeat(digits, 3, axis=-1)
  if not index_paired(MNIST_MNISTM, split):  # Disjoint halves: A never meets its own blend.
    half = len(digits) // 2
    return {'a': digits[:half], 'b': blended[half:], 'label_a': labels[:half],
            'label_b': labels[half:], 'num_classes': 10}
  return {'a': digits, 'b': blended, 'label_a': labels, 'label_b': labels, 'num_classes': 10}


def _load_side_folder(path: str, side_dir: str, slice_: str, image_size: int) -> np.ndarray:
  folder = os.path.join(path, side_dir)
  if not os.path.isdir(folder):
    raise DataError(f'config.dataset.name: {path} needs CycleGAN\'s layout (trainA/ trainB/ '
                    f'testA/ testB/); there is no {folder}')
  files = sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_SUFFIXES))
  if slice_:
    bounds = [int(b) if b.strip() else None for b in slice_[1:-1].split(':')]
    files = files[slice(*bounds)]
  if not files:
    raise DataError(f'{folder}: no images ({", ".join(IMAGE_SUFFIXES)}); each side of an '
                    'unpaired folder needs images')
  images = [decode_image_file(os.path.join(folder, f), image_size) for f in files]
  shapes = {im.shape for im in images}
  if len(shapes) > 1:
    raise DataError(f'{folder}: images of different sizes {sorted(shapes)[:3]}; set '
                    'config.dataset.image_size')
  return np.stack(images)


def load_unpaired(name: str, split: str, data_dir: str | None, image_size: int,
                  download: bool) -> dict[str, np.ndarray]:
  """Both domains of `split`: {'a', 'b'} uint8 images, {'label_a', 'label_b'}, 'num_classes'."""
  if name == MNIST_MNISTM:
    return _mnist_mnistm(split, data_dir, download)
  base, slice_ = _split_parts(split)
  if name.startswith(UNPAIRED_FOLDER):
    path = name.removeprefix(UNPAIRED_FOLDER)
    sides = {s: _load_side_folder(path, base + s.upper(), slice_, image_size) for s in SIDES}
  else:
    sides = {s: load_tfds(name, base + s.upper() + slice_, data_dir, image_size, download, 0, 1)[0]
             for s in SIDES}
  if sides['a'].shape[1:3] != sides['b'].shape[1:3]:
    raise DataError(f'{name}: domain A has images of {sides["a"].shape[1:3]}, B of '
                    f'{sides["b"].shape[1:3]}; set config.dataset.image_size')
  out = dict(sides, num_classes=0)
  out.update({f'label_{s}': np.zeros(len(sides[s]), np.int32) for s in SIDES})
  return out


def index_paired(name: str, split: str) -> bool:
  """Whether image i of B is made from image i of A in `split`: mnist_mnistm's, except in its
  training split, whose two domains are disjoint halves of the digits."""
  return name == MNIST_MNISTM and _split_parts(split)[0] != 'train'


def known_truth_directions(name: str, split: str) -> tuple[str, ...]:
  """The directions in which the translations of `split` are known: where image i of B is made
  from digit i of A, its B -> A translation is that digit (A -> B has no single truth: any
  background would do)."""
  return ('ba',) if index_paired(name, split) else ()


@dataclasses.dataclass(frozen=True)
class UnpairedDataset:
  """This process's share of both domains, each read in its own permutation every epoch."""
  name: str                    # mnist_mnistm, unpaired_folder:/path or cycle_gan/<pair>
  split: str
  data_dir: str | None
  image_size: int
  download: bool
  seed: int
  batch_size: int
  process_index: int = 0
  process_count: int = 1

  @functools.cached_property
  def _arrays(self) -> dict[str, np.ndarray]:
    arrays = load_unpaired(self.name, self.split, self.data_dir, self.image_size, self.download)
    for side in SIDES:  # Processes hold disjoint shares of each domain.
      share = len(arrays[side]) // self.process_count
      part = slice(self.process_index * share, (self.process_index + 1) * share)
      arrays[side], arrays[f'label_{side}'] = arrays[side][part], arrays[f'label_{side}'][part]
    return arrays

  def images(self, side: str) -> np.ndarray:
    return self._arrays[side]

  def labels(self, side: str) -> np.ndarray:
    return self._arrays[f'label_{side}']

  @property
  def num_classes(self) -> int:
    return self._arrays['num_classes']

  @property
  def shape(self) -> tuple[int, ...]:
    return self.images('a').shape[1:]

  @property
  def shapes(self) -> dict[str, tuple[int, ...]]:
    return {side: self.images(side).shape[1:] for side in SIDES}

  def with_seed(self, seed: int) -> 'UnpairedDataset':
    return reseeded(self, seed, ('_arrays',))

  @functools.cached_property
  def orders(self) -> dict[str, EpochOrder]:
    return {side: process_order(len(self.images(side)), f'{self.name} {side.upper()}', self.seed,
                                self.batch_size, 1, self.process_index, self.process_count,
                                stream=(i,))
            for i, side in enumerate(SIDES)}

  def batch(self, step: int) -> dict[str, np.ndarray]:
    """This process's part of the batch of `step`: `a` and `b` [1, local, H, W, C] in [-1, 1]."""
    return {side: self.images(side)[self.orders[side].indices(np.array([step]))[0]]
            .astype(np.float32) / 127.5 - 1.0 for side in SIDES}

  def first(self, count: int, direction: str = 'ab') -> dict[str, np.ndarray]:
    """The first `count` images of the direction's source domain as `source`, in [-1, 1], with
    their labels; `target`: the other domain's first `count` (their true translations in the
    `known_truth_directions`), with theirs."""
    source, target = direction
    for side in (source, target):
      if len(self.images(side)) < count:
        raise DataError(f'{self.name}:{self.split} has {len(self.images(side))} images in domain '
                        f'{side.upper()}; {count} are asked for')
    scale = lambda x: x[:count].astype(np.float32) / 127.5 - 1.0
    return {'source': scale(self.images(source)), 'target': scale(self.images(target)),
            'label': self.labels(source)[:count], 'target_label': self.labels(target)[:count]}
