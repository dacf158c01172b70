"""The FID InceptionV3 (TensorFlow's inception-2015-12-05 graph, as pytorch-fid ports it) in Flax,
and its weights: pytorch-fid's `.pth`, read without torch, converted once into a pickle-free `.npz`."""

from __future__ import annotations

import http.client
import os
import re
import shutil
import urllib.parse
import urllib.request
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from gan_jax.errors import InceptionWeightsError
from gan_jax.fileutil import cache_dir, save_npz, sha256_file
from gan_jax.metrics import pth

FID_WEIGHTS_URL = ('https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/'
                   'pt_inception-2015-12-05-6726825d.pth')
FID_WEIGHTS_PTH = 'pt_inception-2015-12-05-6726825d.pth'
FID_SHA256_PREFIX = '6726825d'  # torch.hub's convention: the file name carries its hash.
FID_WEIGHTS_NPZ = 'inception-2015-12-05-fid.npz'
WEIGHTS_ENV = 'GAN_JAX_INCEPTION_WEIGHTS'
URL_ENV = 'GAN_JAX_INCEPTION_URL'
_HASH_IN_NAME = re.compile(r'-([a-f0-9]{8,64})\.pth$')
INPUT_SIZE = 299
Padding = Sequence[tuple[int, int]]


class BasicConv(nn.Module):
  """Conv (no bias) -> BatchNorm (eps 1e-3, inference statistics) -> ReLU."""
  features: int
  kernel: tuple[int, int] = (1, 1)
  strides: tuple[int, int] = (1, 1)
  padding: Padding = ((0, 0), (0, 0))

  @nn.compact
  def __call__(self, x):
    x = nn.Conv(self.features, self.kernel, self.strides, self.padding, use_bias=False,
                precision=jax.lax.Precision.HIGHEST, name='conv')(x)
    bn = {k: self.param(f'bn_{k}', init, (self.features,)) for k, init in
          (('scale', nn.initializers.ones), ('bias', nn.initializers.zeros),
           ('mean', nn.initializers.zeros), ('var', nn.initializers.ones))}
    x = (x - bn['mean']) * (bn['scale'] * jax.lax.rsqrt(bn['var'] + 1e-3)) + bn['bias']
    return nn.relu(x)


def _pad(kh: int, kw: int) -> Padding:
  return ((kh // 2, kh // 2), (kw // 2, kw // 2))


def _conv(features: int, kh: int = 1, kw: int | None = None, stride: int = 1, pad: bool = True,
          name: str | None = None) -> BasicConv:
  kw = kh if kw is None else kw
  return BasicConv(features, (kh, kw), (stride, stride), _pad(kh, kw) if pad else ((0, 0), (0, 0)),
                   name=name)


def _avg_pool_3x3(x):
  # TensorFlow's average pool leaves padded zeros out of the mean.
  return nn.avg_pool(x, (3, 3), (1, 1), ((1, 1), (1, 1)), count_include_pad=False)


def _max_pool_3x3_s2(x):
  return nn.max_pool(x, (3, 3), (2, 2), 'VALID')


class InceptionA(nn.Module):
  pool_features: int

  @nn.compact
  def __call__(self, x):
    b1 = _conv(64, name='branch1x1')(x)
    b5 = _conv(64, 5, name='branch5x5_2')(_conv(48, name='branch5x5_1')(x))
    b3 = _conv(64, name='branch3x3dbl_1')(x)
    b3 = _conv(96, 3, name='branch3x3dbl_3')(_conv(96, 3, name='branch3x3dbl_2')(b3))
    bp = _conv(self.pool_features, name='branch_pool')(_avg_pool_3x3(x))
    return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
  @nn.compact
  def __call__(self, x):
    b3 = _conv(384, 3, stride=2, pad=False, name='branch3x3')(x)
    bd = _conv(96, 3, name='branch3x3dbl_2')(_conv(64, name='branch3x3dbl_1')(x))
    bd = _conv(96, 3, stride=2, pad=False, name='branch3x3dbl_3')(bd)
    return jnp.concatenate([b3, bd, _max_pool_3x3_s2(x)], axis=-1)


class InceptionC(nn.Module):
  channels_7x7: int

  @nn.compact
  def __call__(self, x):
    c7 = self.channels_7x7
    b1 = _conv(192, name='branch1x1')(x)
    b7 = _conv(c7, name='branch7x7_1')(x)
    b7 = _conv(192, 7, 1, name='branch7x7_3')(_conv(c7, 1, 7, name='branch7x7_2')(b7))
    bd = _conv(c7, name='branch7x7dbl_1')(x)
    for i, (kh, kw, f) in enumerate(((7, 1, c7), (1, 7, c7), (7, 1, c7), (1, 7, 192)), start=2):
      bd = _conv(f, kh, kw, name=f'branch7x7dbl_{i}')(bd)
    bp = _conv(192, name='branch_pool')(_avg_pool_3x3(x))
    return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
  @nn.compact
  def __call__(self, x):
    b3 = _conv(320, 3, stride=2, pad=False, name='branch3x3_2')(_conv(192, name='branch3x3_1')(x))
    b7 = _conv(192, name='branch7x7x3_1')(x)
    b7 = _conv(192, 7, 1, name='branch7x7x3_3')(_conv(192, 1, 7, name='branch7x7x3_2')(b7))
    b7 = _conv(192, 3, stride=2, pad=False, name='branch7x7x3_4')(b7)
    return jnp.concatenate([b3, b7, _max_pool_3x3_s2(x)], axis=-1)


class InceptionE(nn.Module):
  """pytorch-fid's FIDInceptionE_1 (average pool) or FIDInceptionE_2 (max pool: the 2015 graph's
  quirk, kept because FID is defined by that graph)."""
  max_pool: bool

  @nn.compact
  def __call__(self, x):
    b1 = _conv(320, name='branch1x1')(x)
    b3 = _conv(384, name='branch3x3_1')(x)
    b3 = jnp.concatenate([_conv(384, 1, 3, name='branch3x3_2a')(b3),
                          _conv(384, 3, 1, name='branch3x3_2b')(b3)], axis=-1)
    bd = _conv(384, 3, name='branch3x3dbl_2')(_conv(448, name='branch3x3dbl_1')(x))
    bd = jnp.concatenate([_conv(384, 1, 3, name='branch3x3dbl_3a')(bd),
                          _conv(384, 3, 1, name='branch3x3dbl_3b')(bd)], axis=-1)
    pooled = (nn.max_pool(x, (3, 3), (1, 1), ((1, 1), (1, 1))) if self.max_pool
              else _avg_pool_3x3(x))
    bp = _conv(192, name='branch_pool')(pooled)
    return jnp.concatenate([b1, b3, bd, bp], axis=-1)


def resize_bilinear(images: jax.Array, size: int) -> jax.Array:
  """torch's `F.interpolate(mode='bilinear', align_corners=False)`, no antialiasing."""
  n, _, _, c = images.shape
  return jax.image.resize(images, (n, size, size, c), 'bilinear', antialias=False)


class FIDInceptionV3(nn.Module):
  """Images [N, H, W, 1 or 3] in [-1, 1] -> {'pool3': [N, 2048], 'logits': [N, 1008]}.

  As pytorch-fid: images mapped to [0, 1], resized bilinearly to 299x299, mapped back to [-1, 1];
  grayscale images are repeated over three channels, as its loader's RGB conversion does.
  """

  @nn.compact
  def __call__(self, images: jax.Array) -> dict[str, jax.Array]:
    x = (images.astype(jnp.float32) + 1) / 2
    if x.shape[-1] == 1:
      x = jnp.repeat(x, 3, axis=-1)
    x = 2 * resize_bilinear(x, INPUT_SIZE) - 1
    x = _conv(32, 3, stride=2, pad=False, name='Conv2d_1a_3x3')(x)
    x = _conv(32, 3, pad=False, name='Conv2d_2a_3x3')(x)
    x = _conv(64, 3, name='Conv2d_2b_3x3')(x)
    x = _max_pool_3x3_s2(x)
    x = _conv(80, name='Conv2d_3b_1x1')(x)
    x = _conv(192, 3, pad=False, name='Conv2d_4a_3x3')(x)
    x = _max_pool_3x3_s2(x)
    x = InceptionA(32, name='Mixed_5b')(x)
    x = InceptionA(64, name='Mixed_5c')(x)
    x = InceptionA(64, name='Mixed_5d')(x)
    x = InceptionB(name='Mixed_6a')(x)
    for name, c7 in (('Mixed_6b', 128), ('Mixed_6c', 160), ('Mixed_6d', 160), ('Mixed_6e', 192)):
      x = InceptionC(c7, name=name)(x)
    x = InceptionD(name='Mixed_7a')(x)
    x = InceptionE(max_pool=False, name='Mixed_7b')(x)
    x = InceptionE(max_pool=True, name='Mixed_7c')(x)
    pool3 = jnp.mean(x, axis=(1, 2))
    logits = nn.Dense(1008, precision=jax.lax.Precision.HIGHEST, name='fc')(pool3)
    return {'pool3': pool3, 'logits': logits}


def param_shapes() -> dict[str, tuple[int, ...]]:
  """Flat 'a/b/c' -> shape of every parameter, without computing anything."""
  shapes = jax.eval_shape(FIDInceptionV3().init, jax.random.key(0), jnp.zeros((1, 75, 75, 3)))
  return {k: tuple(v.shape) for k, v in
          traverse_util.flatten_dict(shapes['params'], sep='/').items()}


_TORCH_LEAF = {'conv.weight': 'conv/kernel', 'bn.weight': 'bn_scale', 'bn.bias': 'bn_bias',
               'bn.running_mean': 'bn_mean', 'bn.running_var': 'bn_var',
               'weight': 'kernel', 'bias': 'bias'}


def convert_torch_state_dict(state_dict: dict[str, Any]) -> dict[str, np.ndarray]:
  """pytorch-fid's Inception state dict (tensors or arrays) -> flat Flax params {'a/b': array}."""
  expected = param_shapes()
  flat = {}
  for key, value in state_dict.items():
    if key.endswith('num_batches_tracked'):
      continue
    value = np.asarray(value.detach().cpu().numpy() if hasattr(value, 'detach') else value,
                       dtype=np.float32)
    parts = key.split('.')
    leaf = '.'.join(parts[-2:]) if '.'.join(parts[-2:]) in _TORCH_LEAF else parts[-1]
    prefix = parts[:-len(leaf.split('.'))]
    name = '/'.join(prefix + [_TORCH_LEAF[leaf]])
    if value.ndim == 4:    # OIHW -> HWIO
      value = value.transpose(2, 3, 1, 0)
    elif value.ndim == 2:  # [out, in] -> [in, out]
      value = value.T
    flat[name] = value
  missing, unexpected = sorted(set(expected) - set(flat)), sorted(set(flat) - set(expected))
  wrong = [k for k in set(expected) & set(flat) if flat[k].shape != expected[k]]
  if missing or unexpected or wrong:
    raise InceptionWeightsError(
        'not the FID Inception state dict: ' + '; '.join(
            f'{what} {names[:3]}{"..." if len(names) > 3 else ""}' for what, names in
            (('missing', missing), ('unexpected', unexpected), ('wrong shape', wrong)) if names))
  return flat


def expected_sha256_prefix(file_name: str) -> str:
  """The sha256 prefix a weights file's name carries, torch.hub's convention (`name-<hex>.pth`);
  pytorch-fid's where the name carries none, so a renamed copy of its file is still checked."""
  match = _HASH_IN_NAME.search(os.path.basename(file_name))
  return match.group(1) if match else FID_SHA256_PREFIX


def convert_pth(pth_path: str, npz_path: str, sha256_prefix: str | None = FID_SHA256_PREFIX) -> str:
  """pytorch-fid's `.pth` -> a Flax-native `.npz`, checked against `sha256_prefix` first. The
  `.pth` is read without torch by `pth.load_state_dict`, which refuses anything but tensors."""
  digest = sha256_file(pth_path)
  if sha256_prefix and not digest.startswith(sha256_prefix):
    raise InceptionWeightsError(f'{pth_path}: sha256 {digest[:8]}... is not the {sha256_prefix}... '
                                'its name promises (truncated or another file): delete it and '
                                'download it again')
  save_npz(npz_path, **convert_torch_state_dict(pth.load_state_dict(pth_path)))
  return npz_path


def weights_url() -> str:
  """Where the weights are downloaded from: `$GAN_JAX_INCEPTION_URL` (a mirror, or a local
  server in tests) or pytorch-fid's release. The file name keeps its sha256 prefix."""
  return os.environ.get(URL_ENV) or FID_WEIGHTS_URL


def _missing_message(where: str, url: str) -> str:
  return (f'FID Inception weights not found ({where[:80]}). Put {url} in {cache_dir()}/, or use '
          'an extractor that ships with gan_jax (extractor="cifar10_cnn").')


def resolve_weights(path: str = '', download: bool = True) -> str:
  """The `.npz` to load: from `path` (`.npz`, or a `.pth` converted beside it), `$GAN_JAX_INCEPTION_
  WEIGHTS`, or the cache directory, downloading `weights_url()` there if allowed."""
  path, url = path or os.environ.get(WEIGHTS_ENV, ''), weights_url()
  if path:
    if not os.path.exists(path):
      raise InceptionWeightsError(_missing_message(f'no file {path}', url))
    if path.endswith('.pth'):
      npz = os.path.splitext(path)[0] + '.npz'
      return npz if os.path.exists(npz) else convert_pth(path, npz, FID_SHA256_PREFIX)
    return path
  name = os.path.basename(urllib.parse.urlparse(url).path) or FID_WEIGHTS_PTH
  pth_path = os.path.join(cache_dir(), name)
  npz = os.path.join(cache_dir(), FID_WEIGHTS_NPZ if name == FID_WEIGHTS_PTH
                     else os.path.splitext(name)[0] + '.npz')
  if os.path.exists(npz):
    return npz
  if not os.path.exists(pth_path):
    if not download:
      raise InceptionWeightsError(_missing_message('not in the cache', url))
    os.makedirs(cache_dir(), exist_ok=True)
    try:
      with urllib.request.urlopen(url, timeout=20) as r, open(pth_path + '.part', 'wb') as f:
        shutil.copyfileobj(r, f)
      os.replace(pth_path + '.part', pth_path)
    except (OSError, ValueError, http.client.HTTPException) as e:
      if os.path.exists(pth_path + '.part'):
        os.remove(pth_path + '.part')
      reason = getattr(e, 'reason', None) or getattr(e, 'strerror', None) or repr(e)
      raise InceptionWeightsError(_missing_message(f'download failed: {reason}', url)) from None
  return convert_pth(pth_path, npz, expected_sha256_prefix(name))


def load_params(npz_path: str) -> dict[str, Any]:
  """Nested Flax params from a converted `.npz` (read with allow_pickle=False), shape-checked."""
  try:
    with np.load(npz_path, allow_pickle=False) as f:
      flat = {k: f[k] for k in f.files}
  except (OSError, ValueError) as e:
    raise InceptionWeightsError(f'{npz_path}: not a readable .npz ({e})') from None
  expected = param_shapes()
  bad = sorted(k for k in set(expected) | set(flat)
               if k not in flat or k not in expected or flat[k].shape != expected[k])
  if bad:
    raise InceptionWeightsError(f'{npz_path}: not FID Inception weights (mismatched {bad[:3]})')
  return traverse_util.unflatten_dict(flat, sep='/')
