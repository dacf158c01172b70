"""Feature extractors by name: the FID Inception, and the small classifiers gan_jax ships per dataset."""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any, Callable

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from gan_jax import parallel
from gan_jax.fileutil import sha256_file
from gan_jax.metrics import classifier, inception
from gan_jax.metrics.scores import MetricInputError

CLASSIFIER_DATASETS = ('mnist', 'fashion_mnist', 'cifar10', 'mnistm')
EXTRACTORS = ('inception',) + tuple(f'{d}_cnn' for d in CLASSIFIER_DATASETS)
# The image shape each classifier was trained on; it is only meaningful on that shape.
CLASSIFIER_SHAPES = {'mnist': (28, 28, 1), 'fashion_mnist': (28, 28, 1), 'cifar10': (32, 32, 3),
                     'mnistm': (28, 28, 3)}  # mnistm: domain B of the mnist_mnistm dataset


@dataclasses.dataclass(frozen=True)
class Extractor:
  """`features(images)` and `logits(images)` of a fixed network, for images in [-1, 1]."""
  name: str                       # 'inception' or '<dataset>_cnn'
  description: str                # what the features are, for the metric's record
  weights_id: str                 # sha256 prefix of the weights file: part of cached-statistics keys
  apply: Callable[[Any, jax.Array], dict[str, jax.Array]] = dataclasses.field(repr=False)
  params: Any = dataclasses.field(repr=False)
  input_shape: tuple[int, ...] | None = None  # None: any size, 1 or 3 channels

  def check_images(self, images: np.ndarray | jax.Array, what: str = 'images') -> None:
    """One clear error for images a metric cannot score: wrong rank, channels, size or range."""
    shape = tuple(images.shape)
    if len(shape) != 4 or shape[-1] not in (1, 3):
      raise MetricInputError(f'{what}: expected [N, H, W, 1 or 3] images, got shape {shape}')
    if self.input_shape and shape[1:] != self.input_shape:
      raise MetricInputError(f'{what}: extractor {self.name} takes {self.input_shape} images '
                             f'(what it was trained on), got {shape[1:]}')
    lo, hi = float(np.min(images)), float(np.max(images))  # On the host, where images are.
    if lo < -1.001 or hi > 1.001 or not np.isfinite(lo + hi):
      raise MetricInputError(f'{what}: values must lie in [-1, 1] (generator outputs and the '
                             f'data pipeline both do), got [{lo:.3g}, {hi:.3g}]')

  def __call__(self, images: np.ndarray, mesh: Mesh | None = None,
               batch_size: int = 256) -> dict[str, np.ndarray]:
    """{'features', 'logits'} of `images` [N, H, W, C], batches sharded over the mesh's devices."""
    self.check_images(images)
    run = _sharded_apply(self.apply, mesh)
    n_dev = mesh.size if mesh is not None else 1
    # Every batch has one shape (a multiple of the device count), so the network compiles once;
    # the last batch is padded with zeros, whose outputs are dropped.
    batch_size = -(-min(batch_size, len(images)) // n_dev) * n_dev
    outs = []
    for i in range(0, len(images), batch_size):
      x = np.asarray(images[i:i + batch_size], np.float32)
      pad = batch_size - len(x)
      x = np.concatenate([x, np.zeros((pad,) + x.shape[1:], x.dtype)]) if pad else x
      if mesh is not None:  # Every process holds all of `x`; each places its devices' rows.
        x = jax.make_array_from_callback(x.shape, NamedSharding(mesh, P('data')), lambda i: x[i])
      out = run(self.params, x)
      outs.append({k: np.asarray(multihost_utils.process_allgather(v, tiled=True))[:len(x) - pad]
                   for k, v in out.items()})
    return {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}


@functools.lru_cache(maxsize=None)
def _sharded_apply(apply, mesh: Mesh | None):
  options = parallel.compiler_options(mesh)
  if mesh is None:
    return jax.jit(apply, compiler_options=options)
  data = NamedSharding(mesh, P('data'))
  return jax.jit(apply, in_shardings=(NamedSharding(mesh, P()), data), out_shardings=data,
                 compiler_options=options)


def _inception_apply(params, images):
  out = inception.FIDInceptionV3().apply({'params': params}, images)
  return {'features': out['pool3'], 'logits': out['logits']}


def _classifier_apply(params, images):
  return classifier.Classifier().apply({'params': params}, images)


@functools.lru_cache(maxsize=8)
def get_extractor(name: str, inception_weights: str = '', download: bool = True) -> Extractor:
  """The extractor called `name`; raises `InceptionWeightsError` saying where weights come from."""
  if name == 'inception':
    path = inception.resolve_weights(inception_weights, download)
    return Extractor(name, 'FID InceptionV3 pool3 (2048-d), logits over 1008 classes',
                     sha256_file(path)[:12], _inception_apply, inception.load_params(path))
  dataset = name.removesuffix('_cnn')
  if dataset not in CLASSIFIER_DATASETS or not name.endswith('_cnn'):
    raise MetricInputError(f'unknown extractor {name!r}; known: {list(EXTRACTORS)}')
  path = classifier.weights_path(dataset)
  if not os.path.exists(path):
    raise MetricInputError(f'{path} is missing: make it with `python -m gan_jax.metrics.classifier '
                           f'--dataset {dataset} --data_dir DIR`')
  params, info = classifier.load_weights(path)
  return Extractor(name, f'gan_jax {dataset} classifier, penultimate layer (128-d); test accuracy '
                   f'{info["test_accuracy"]:.4f}', sha256_file(path)[:12], _classifier_apply, params,
                   CLASSIFIER_SHAPES[dataset])
