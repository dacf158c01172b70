"""Differentiable augmentation for GANs on limited data: pure functions of (images, key, strength).

Both act on a batch of images [N, H, W, C] in [-1, 1] (C = 1 or 3) and are differentiable with
respect to the images, so that they can sit between the generator and the discriminator: they are
applied to real and fake images before D, and to the fakes in G's loss. Each image draws its own
parameters from its own key (`keys` [N], one per example of the global batch, so that a batch
split over 8 devices is augmented as on 1), and each transform is applied to each image with a
probability that `strength` scales, so strength 0 is the identity.

- `diffaugment`: DiffAugment (Zhao et al. 2020), the `color,translation,cutout` policy with the
  published ranges (mit-han-lab/data-efficient-gans, `DiffAugment_pytorch.py`): brightness
  +U(-0.5, 0.5), saturation xU(0, 2), contrast xU(0.5, 1.5); translation by up to 1/8 of the side
  with zero padding; a cutout of half the side. The paper applies every transform to every image:
  strength 1. At strength s each transform is applied to each image with probability s.
- `ada`: the `bgc` pipeline of adaptive discriminator augmentation (Karras et al. 2020,
  stylegan2-ada-pytorch's `AugmentPipe` at its default strengths): x-flip, 90-degree rotations,
  integer translation, isotropic scaling, rotation, anisotropic scaling, fractional translation
  (composed into one matrix per image), then brightness, contrast, luma flip, hue rotation and
  saturation (one colour matrix per image). Each is applied with probability p x its multiplier
  (all 1 in `bgc`); strength is ADA's p.

  Resampling differs from the reference's. The reference pads with reflection, upsamples 2x with
  a sym6 wavelet filter, samples bilinearly and downsamples 2x with the same filter, which
  suppresses aliasing when an image is shrunk. Here each output pixel is sampled bilinearly from
  the image at its own resolution, with reflection (without repeating the edge pixel, as torch's
  'reflect' padding) for coordinates outside it: no wavelet filter, so a shrunk image can alias,
  and there is no padding margin to size per batch, so shapes are static and the same on any
  number of devices.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import ml_collections

from gan_jax.errors import ConfigError

AUGMENTATIONS = ('diffaugment', 'ada')
DIFFAUGMENT_POLICIES = ('color', 'translation', 'cutout')
# stylegan2-ada-pytorch's `augpipe_specs['bgc']`: every geometric and colour transform at weight 1.
BGC = dict(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1, brightness=1,
           contrast=1, lumaflip=1, hue=1, saturation=1)
# AugmentPipe's default ranges.
XINT_MAX, SCALE_STD, ROTATE_MAX, ANISO_STD, XFRAC_STD = 0.125, 0.2, 1.0, 0.2, 0.125
BRIGHTNESS_STD, CONTRAST_STD, HUE_MAX, SATURATION_STD = 0.2, 0.5, 1.0, 1.0


def check_policy(policy: str) -> str | None:
  """Why `policy` (comma-separated DiffAugment transforms) is not one, or None."""
  names = [p for p in policy.split(',') if p]
  unknown = [p for p in names if p not in DIFFAUGMENT_POLICIES]
  if unknown or not names:
    return (f"unknown DiffAugment transform {unknown[0]!r}" if unknown else 'no transform') + (
        f"; known: {', '.join(DIFFAUGMENT_POLICIES)} (comma-separated)")
  return None


def default_config() -> ml_collections.ConfigDict:
  """The `augment` group of the families that train a discriminator on images (noise, style)."""
  return ml_collections.ConfigDict(dict(
      name='',                             # '' (none), 'diffaugment' or 'ada'
      policy='color,translation,cutout',   # diffaugment: its transforms, in order
      p=0.0,                               # ada: p at the start of training
      target=0.6,                          # ada: the E[sign(D(real))] p steers to; 0 keeps p fixed
      interval=4,                          # ada: steps between adjustments of p
      kimg=500.0,                          # ada: thousands of images for p to move by 1
  ))


def check_config(augment: ml_collections.ConfigDict) -> None:
  """Raises `ConfigError` naming the field of `config.augment` that is wrong."""
  if augment.name not in ('',) + AUGMENTATIONS:
    raise ConfigError(f"config.augment.name: unknown augmentation {augment.name!r}; known: "
                      f"'' (none), {', '.join(AUGMENTATIONS)}")
  if augment.name == 'diffaugment' and (why := check_policy(augment.policy)):
    raise ConfigError(f'config.augment.policy: {augment.policy!r}: {why}')
  if not 0.0 <= augment.p <= 1.0:
    raise ConfigError(f'config.augment.p: a probability in [0, 1], got {augment.p}')
  if augment.target and not 0.0 < augment.target < 1.0:
    raise ConfigError(f'config.augment.target: must be in (0, 1) (or 0: p stays fixed), got '
                      f'{augment.target}')
  for field in ('interval', 'kimg'):
    if augment[field] <= 0:
      raise ConfigError(f'config.augment.{field}: must be positive, got {augment[field]}')


def augment(name: str, images: jax.Array, keys: jax.Array, strength: jax.Array | float,
            policy: str = 'color,translation,cutout') -> jax.Array:
  """`images` through augmentation `name` ('' for none) at `strength`, image i drawn from
  `keys[i]`."""
  if not name:
    return images
  if name == 'diffaugment':
    return diffaugment(images, keys, strength, policy)
  if name == 'ada':
    return ada(images, keys, strength)
  raise ValueError(f'unknown augmentation {name!r}; known: {AUGMENTATIONS}')


def ada_p_update(p: jax.Array, mean_sign: jax.Array, target: float, batch_size: int,
                 interval: int, kimg: float) -> jax.Array:
  """ADA's adjustment of p after `interval` steps of `batch_size` images in which the
  discriminator's outputs on real images had mean sign `mean_sign` (r_t): up by
  batch_size * interval / (kimg * 1000) when r_t > target (D overfits), down when below,
  clamped to [0, 1]."""
  step = batch_size * interval / (kimg * 1000)
  return jnp.clip(p + jnp.sign(mean_sign - target) * step, 0.0, 1.0)


# ----------------------------------------------------------------------------- DiffAugment


def diffaugment(images: jax.Array, keys: jax.Array, strength: jax.Array | float = 1.0,
                policy: str = 'color,translation,cutout') -> jax.Array:
  """DiffAugment's transforms of `policy`, in its order, each applied to each image with
  probability `strength` (the paper: 1, always)."""
  if why := check_policy(policy):
    raise ValueError(why)
  return jax.vmap(lambda image, key: _diffaugment_one(image, key, strength, policy))(images, keys)


def _diffaugment_one(x: jax.Array, key: jax.Array, strength, policy: str) -> jax.Array:
  keys = iter(jax.random.split(key, 16))
  uniform = lambda shape=(): jax.random.uniform(next(keys), shape)
  chosen = lambda value, identity: jnp.where(uniform() < strength, value, identity)
  h, w, _ = x.shape
  for name in policy.split(','):
    if name == 'color':  # each step is skipped, not scaled by 1, where its coin says so: exact
      x = chosen(x + (uniform() - 0.5), x)  # brightness
      mean = jnp.mean(x, axis=-1, keepdims=True)
      x = chosen((x - mean) * (uniform() * 2) + mean, x)  # saturation
      mean = jnp.mean(x)
      x = chosen((x - mean) * (uniform() + 0.5) + mean, x)  # contrast
    elif name == 'translation':  # whole pixels, up to 1/8 of the side, zeros shifted in
      shift_h, shift_w = int(h * 0.125 + 0.5), int(w * 0.125 + 0.5)
      dy = chosen(jax.random.randint(next(keys), (), -shift_h, shift_h + 1), 0)
      dx = chosen(jax.random.randint(next(keys), (), -shift_w, shift_w + 1), 0)
      rows, cols = jnp.arange(h) + dy, jnp.arange(w) + dx
      valid = ((rows >= 0) & (rows < h))[:, None] & ((cols >= 0) & (cols < w))[None, :]
      x = x[jnp.clip(rows, 0, h - 1)][:, jnp.clip(cols, 0, w - 1)] * valid[..., None]
    elif name == 'cutout':  # a square of half the side, zeroed
      size_h, size_w = int(h * 0.5 + 0.5), int(w * 0.5 + 0.5)
      top = jax.random.randint(next(keys), (), 0, h + (1 - size_h % 2)) - size_h // 2
      left = jax.random.randint(next(keys), (), 0, w + (1 - size_w % 2)) - size_w // 2
      rows, cols = jnp.arange(h), jnp.arange(w)
      cut = (((rows >= top) & (rows < top + size_h))[:, None]
             & ((cols >= left) & (cols < left + size_w))[None, :]) & chosen(True, False)
      x = x * (1 - cut[..., None].astype(x.dtype))
  return x


# ----------------------------------------------------------------------------- ADA


def ada(images: jax.Array, keys: jax.Array, p: jax.Array | float,
        multipliers: dict[str, float] | None = None) -> jax.Array:
  """ADA's pipeline (`bgc` by default) at augmentation probability `p`."""
  m = dict(BGC if multipliers is None else multipliers)
  if images.shape[-1] not in (1, 3):
    raise ValueError(f'ada: images must have 1 or 3 channels, got {images.shape[-1]}')
  return jax.vmap(lambda image, key: _ada_one(image, key, p, m))(images, keys)


def _ada_one(x: jax.Array, key: jax.Array, p, m: dict[str, float]) -> jax.Array:
  h, w, c = x.shape
  keys = iter(jax.random.split(key, 32))
  uniform = lambda shape=(): jax.random.uniform(next(keys), shape)
  normal = lambda shape=(): jax.random.normal(next(keys), shape)
  chosen = lambda weight, value, identity: jnp.where(uniform() < weight * p, value, identity)

  # The inverse geometric transform (output pixel -> input pixel), composed left to right as
  # the reference composes G_inv.
  g_inv = jnp.eye(3)
  if m.get('xflip'):
    flip = chosen(m['xflip'], jnp.floor(uniform() * 2), 0.0)
    g_inv = g_inv @ _scale2d(1 - 2 * flip, 1.0)
  if m.get('rotate90'):
    quarter = chosen(m['rotate90'], jnp.floor(uniform() * 4), 0.0)
    g_inv = g_inv @ _rotate2d(math.pi / 2 * quarter)
  if m.get('xint'):
    t = chosen(m['xint'], (uniform((2,)) * 2 - 1) * XINT_MAX, jnp.zeros(2))
    g_inv = g_inv @ _translate2d(-jnp.round(t[0] * w), -jnp.round(t[1] * h))
  if m.get('scale'):
    s = chosen(m['scale'], jnp.exp2(normal() * SCALE_STD), 1.0)
    g_inv = g_inv @ _scale2d(1 / s, 1 / s)
  p_rot = 1 - jnp.sqrt(jnp.clip(1 - m.get('rotate', 0) * p, 0, 1))  # P(pre or post) = p
  if m.get('rotate'):
    theta = jnp.where(uniform() < p_rot, (uniform() * 2 - 1) * math.pi * ROTATE_MAX, 0.0)
    g_inv = g_inv @ _rotate2d(theta)
  if m.get('aniso'):
    s = chosen(m['aniso'], jnp.exp2(normal() * ANISO_STD), 1.0)
    g_inv = g_inv @ _scale2d(1 / s, s)
  if m.get('rotate'):
    theta = jnp.where(uniform() < p_rot, (uniform() * 2 - 1) * math.pi * ROTATE_MAX, 0.0)
    g_inv = g_inv @ _rotate2d(theta)
  if m.get('xfrac'):
    t = chosen(m['xfrac'], normal((2,)) * XFRAC_STD, jnp.zeros(2))
    g_inv = g_inv @ _translate2d(-t[0] * w, -t[1] * h)
  x = _resample(x, g_inv)

  # The colour transform (colour in -> colour out), composed as the reference composes C.
  color = jnp.eye(4)
  luma = jnp.array([1, 1, 1, 0], jnp.float32) / math.sqrt(3)
  luma_outer = jnp.outer(luma, luma)
  if m.get('brightness'):
    b = chosen(m['brightness'], normal() * BRIGHTNESS_STD, 0.0)
    color = _translate3d(b) @ color
  if m.get('contrast'):
    s = chosen(m['contrast'], jnp.exp2(normal() * CONTRAST_STD), 1.0)
    color = _scale3d(s) @ color
  if m.get('lumaflip'):
    flip = chosen(m['lumaflip'], jnp.floor(uniform() * 2), 0.0)
    color = (jnp.eye(4) - 2 * luma_outer * flip) @ color  # a Householder reflection
  if m.get('hue') and c > 1:
    theta = chosen(m['hue'], (uniform() * 2 - 1) * math.pi * HUE_MAX, 0.0)
    color = _rotate3d(luma[:3], theta) @ color
  if m.get('saturation') and c > 1:
    s = chosen(m['saturation'], jnp.exp2(normal() * SATURATION_STD), 1.0)
    color = (luma_outer + (jnp.eye(4) - luma_outer) * s) @ color
  if c == 3:
    return x @ color[:3, :3].T + color[:3, 3]
  row = jnp.mean(color[:3, :], axis=0)  # grey images, as the reference: the mean of the RGB rows
  return x * jnp.sum(row[:3]) + row[3]


def _matrix(rows) -> jax.Array:
  return jnp.stack([jnp.stack([jnp.asarray(e, jnp.float32) for e in row]) for row in rows])


def _translate2d(tx, ty):
  return _matrix([[1, 0, tx], [0, 1, ty], [0, 0, 1]])


def _scale2d(sx, sy):
  return _matrix([[sx, 0, 0], [0, sy, 0], [0, 0, 1]])


def _rotate2d(theta):
  return _matrix([[jnp.cos(theta), -jnp.sin(theta), 0], [jnp.sin(theta), jnp.cos(theta), 0],
                  [0, 0, 1]])


def _translate3d(b):
  return _matrix([[1, 0, 0, b], [0, 1, 0, b], [0, 0, 1, b], [0, 0, 0, 1]])


def _scale3d(s):
  return _matrix([[s, 0, 0, 0], [0, s, 0, 0], [0, 0, s, 0], [0, 0, 0, 1]])


def _rotate3d(v, theta):
  """Rotation by `theta` around the unit axis `v` (Rodrigues)."""
  vx, vy, vz = v[0], v[1], v[2]
  s, c = jnp.sin(theta), jnp.cos(theta)
  cc = 1 - c
  return _matrix([[vx * vx * cc + c, vx * vy * cc - vz * s, vx * vz * cc + vy * s, 0],
                  [vy * vx * cc + vz * s, vy * vy * cc + c, vy * vz * cc - vx * s, 0],
                  [vz * vx * cc - vy * s, vz * vy * cc + vx * s, vz * vz * cc + c, 0],
                  [0, 0, 0, 1]])


def _reflect(index: jax.Array, size: int) -> jax.Array:
  """Integer indices folded into [0, size) by reflection without repeating the edge."""
  if size == 1:
    return jnp.zeros_like(index)
  period = 2 * (size - 1)
  index = jnp.mod(index, period)
  return jnp.where(index >= size, period - index, index)


def _resample(image: jax.Array, g_inv: jax.Array) -> jax.Array:
  """Output pixel (x, y), in coordinates centred on the image, sampled bilinearly at
  g_inv @ (x, y, 1) of the input, reflected where that falls outside it."""
  h, w, _ = image.shape
  ys, xs = jnp.meshgrid(jnp.arange(h) - (h - 1) / 2, jnp.arange(w) - (w - 1) / 2, indexing='ij')
  points = jnp.stack([xs, ys, jnp.ones_like(xs)], -1).reshape(-1, 3)  # [HW, 3]
  source = points @ g_inv.T
  sx, sy = source[:, 0] + (w - 1) / 2, source[:, 1] + (h - 1) / 2
  x0, y0 = jnp.floor(sx), jnp.floor(sy)
  fx, fy = (sx - x0)[:, None], (sy - y0)[:, None]
  x0, y0 = x0.astype(jnp.int32), y0.astype(jnp.int32)
  at = lambda yi, xi: image[_reflect(yi, h), _reflect(xi, w)]
  out = ((1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1))
         + fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1)))
  return out.reshape(image.shape)
