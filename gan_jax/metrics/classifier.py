"""Small per-dataset CNN classifiers: offline feature extractors, and the classification accuracy score.

`python -m gan_jax.metrics.classifier --dataset cifar10 --data_dir DIR` trains one from the
prepared tfds data and writes `gan_jax/metrics/weights/<dataset>_cnn.npz` (its test accuracy,
epochs and seed stored inside); the shipped files were made by exactly that command.
"""

from __future__ import annotations

import argparse
import functools
import os
import time
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import traverse_util

from gan_jax import parallel
from gan_jax.data.images import DataError, load_tfds
from gan_jax.data.unpaired import mnistm
from gan_jax.fileutil import save_npz
from gan_jax.models.layers import Conv

WEIGHTS_DIR = os.path.join(os.path.dirname(__file__), 'weights')
# Epochs that reach the accuracy stored in each shipped file (CIFAR-10 also flips and crops).
EPOCHS = {'mnist': 3, 'fashion_mnist': 6, 'cifar10': 10, 'mnistm': 15}
# What a classifier of grey images sees of a colour image: its BT.601 luma.
BT601_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


class Classifier(nn.Module):
  """[N, H, W, C] in [-1, 1] -> {'features': [N, feature_dim] (penultimate), 'logits'}."""
  num_classes: int = 10
  widths: tuple[int, ...] = (16, 32, 64)
  feature_dim: int = 128

  @nn.compact
  def __call__(self, images: jax.Array) -> dict[str, jax.Array]:
    x = images.astype(jnp.float32)
    for i, width in enumerate(self.widths):
      x = nn.relu(Conv(width, (3, 3))(x))
      x = nn.relu(Conv(width, (3, 3))(x))
      # Each block's feature maps before pooling, for content losses (`feature_maps`).
      self.sow('intermediates', f'block{i}', x)
      x = nn.max_pool(x, (2, 2), (2, 2))
    x = jnp.mean(x, axis=(1, 2))
    features = nn.relu(nn.Dense(self.feature_dim)(x))
    return {'features': features, 'logits': nn.Dense(self.num_classes)(features)}


def feature_maps(params: dict[str, Any], images: jax.Array, block: int = -1) -> jax.Array:
  """The classifier's feature maps of convolution block `block` (default: the last) before
  pooling: the analogue of SRGAN's VGG54 features for a content loss."""
  model = Classifier(params['Dense_1']['kernel'].shape[-1])
  _, state = model.apply({'params': params}, images, mutable=['intermediates'])
  blocks = state['intermediates']
  return blocks[f'block{block % len(blocks)}'][0]


def logits(params: dict[str, Any], images: jax.Array) -> jax.Array:
  """The classifier's logits of images in [-1, 1], traceable (for losses); a classifier of grey
  images sees colour images as their BT.601 luma."""
  if params['Conv_0']['kernel'].shape[-2] == 1 and images.shape[-1] == 3:
    images = images @ jnp.asarray(BT601_LUMA, images.dtype)[:, None]
  return Classifier(params['Dense_1']['kernel'].shape[-1]).apply({'params': params}, images)['logits']


def _augment(key: jax.Array, x: jax.Array) -> jax.Array:
  """Random horizontal flip and 4-pixel translation (zero padding), per image."""
  n, h, w, _ = x.shape
  flip_key, shift_key = jax.random.split(key)
  flip = jax.random.bernoulli(flip_key, 0.5, (n, 1, 1, 1))
  x = jnp.where(flip, x[:, :, ::-1], x)
  padded = jnp.pad(x, ((0, 0), (4, 4), (4, 4), (0, 0)), constant_values=-1.0)
  shifts = jax.random.randint(shift_key, (n, 2), 0, 9)
  crop = lambda im, s: jax.lax.dynamic_slice(im, (s[0], s[1], 0), (h, w, im.shape[-1]))
  return jax.vmap(crop)(padded, shifts)


@functools.lru_cache(maxsize=16)
def _init(num_classes: int, image_shape: tuple[int, ...]):
  """The initialization, compiled as one program (op by op, it compiles each of its operations on
  its own: 10 s on 2 cores, against 1 s); the same parameters as op by op."""
  return jax.jit(lambda key: Classifier(num_classes).init(key, jnp.zeros((1,) + image_shape))['params'])


@functools.lru_cache(maxsize=16)
def _train_step(num_classes: int, steps: int, lr: float, augment: bool):
  """The compiled update, shared by every training run with the same settings."""
  model = Classifier(num_classes)
  tx = optax.adam(optax.cosine_decay_schedule(lr, steps))

  @functools.partial(jax.jit, compiler_options=parallel.compiler_options(repeated=True))
  def step(params, opt_state, x, y, key):
    x = x.astype(jnp.float32) / 127.5 - 1 if x.dtype == jnp.uint8 else x
    if augment:
      x = _augment(key, x)
    def loss_fn(p):
      logits = model.apply({'params': p}, x)['logits']
      return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = tx.update(grads, opt_state)
    return optax.apply_updates(params, updates), opt_state, loss
  return tx, step


def train_classifier(images: np.ndarray, labels: np.ndarray, num_classes: int, epochs: float,
                     seed: int = 0, batch_size: int = 128, lr: float = 1e-3,
                     augment: bool = False, log_every: int = 0) -> dict[str, Any]:
  """Trains a `Classifier` with Adam and a cosine schedule; images float in [-1, 1] or uint8."""
  key = jax.random.key(seed)
  params = _init(num_classes, images.shape[1:])(key)
  steps = max(1, int(epochs * len(images) / batch_size))
  tx, step = _train_step(num_classes, steps, lr, augment)
  opt_state = tx.init(params)
  rng = np.random.default_rng(seed)
  order = np.concatenate([rng.permutation(len(images))
                          for _ in range(int(np.ceil(steps * batch_size / len(images))) + 1)])
  start = time.time()
  for i in range(steps):
    idx = order[i * batch_size:(i + 1) * batch_size]
    params, opt_state, loss = step(params, opt_state, images[idx], labels[idx],
                                   jax.random.fold_in(key, i))
    if log_every and (i + 1) % log_every == 0:
      print(f'step {i + 1}/{steps}: loss {float(loss):.4f} ({time.time() - start:.0f} s)', flush=True)
  return params


@functools.lru_cache(maxsize=16)
def _apply(num_classes: int):
  """The compiled forward pass (built on first use: compiler options need the backend)."""
  return jax.jit(lambda params, x: Classifier(num_classes).apply({'params': params}, x),
                 compiler_options=parallel.compiler_options())


def predict(params: dict[str, Any], images: np.ndarray, num_classes: int = 10,
            batch_size: int = 1000) -> dict[str, np.ndarray]:
  """Features and logits of `images` (uint8 or [-1, 1]), in batches."""
  outs = []
  for i in range(0, len(images), batch_size):
    x = images[i:i + batch_size]
    x = x.astype(np.float32) / 127.5 - 1 if x.dtype == np.uint8 else x
    outs.append(jax.device_get(_apply(num_classes)(params, x)))
  return {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}


def accuracy(params: dict[str, Any], images: np.ndarray, labels: np.ndarray,
             num_classes: int = 10) -> float:
  return float(np.mean(predict(params, images, num_classes)['logits'].argmax(-1) == labels))


def weights_path(dataset: str) -> str:
  return os.path.join(WEIGHTS_DIR, f'{dataset}_cnn.npz')


def save_weights(path: str, params: dict[str, Any], **info: Any) -> None:
  flat = {f'params/{k}': np.asarray(v) for k, v in
          traverse_util.flatten_dict(jax.device_get(params), sep='/').items()}
  save_npz(path, **flat, **{f'info/{k}': np.asarray(v) for k, v in info.items()})


def load_weights(path: str) -> tuple[dict[str, Any], dict[str, Any]]:
  """(params, info) from a `.npz` written by `save_weights`, read without pickle."""
  with np.load(path, allow_pickle=False) as f:
    params = {k.removeprefix('params/'): f[k] for k in f.files if k.startswith('params/')}
    info = {k.removeprefix('info/'): f[k].item() for k in f.files if k.startswith('info/')}
  return traverse_util.unflatten_dict(params, sep='/'), info


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--dataset', required=True, choices=sorted(EPOCHS))
  parser.add_argument('--data_dir', default=None, help='tfds data dir (see gan_jax.data.prepare)')
  parser.add_argument('--epochs', type=float, default=None)
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--out', default=None)
  args = parser.parse_args(argv)
  epochs = args.epochs or EPOCHS[args.dataset]
  try:
    if args.dataset == 'mnistm':  # The MNIST-M-like domain of the mnist_mnistm dataset.
      (train_x, train_y), (test_x, test_y), n = (mnistm('train', args.data_dir, False),
                                                 mnistm('test', args.data_dir, False), 10)
    else:
      train_x, train_y, n = load_tfds(args.dataset, 'train', args.data_dir, 0, False, 0, 1)
      test_x, test_y, _ = load_tfds(args.dataset, 'test', args.data_dir, 0, False, 0, 1)
  except DataError as e:
    parser.exit(2, f'error: --data_dir: {e}\n')
  start = time.time()
  params = train_classifier(train_x, train_y, n, epochs, args.seed,
                            augment=args.dataset == 'cifar10', log_every=500)
  seconds = time.time() - start
  acc = accuracy(params, test_x, test_y, n)
  out = args.out or weights_path(args.dataset)
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  save_weights(out, params, dataset=args.dataset, test_accuracy=acc, epochs=epochs,
               seed=args.seed, train_seconds=seconds, jax_version=jax.__version__)
  print(f'{args.dataset}: test accuracy {acc:.4f} after {epochs} epochs in {seconds:.0f} s '
        f'-> {out} ({os.path.getsize(out) / 1e3:.0f} kB)')


if __name__ == '__main__':
  main()
