"""DiffAugment and ADA's pipeline: the identity at strength 0, differentiable, and each transform
the one its paper describes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import augment


def _keys(images, seed):
  return jax.random.split(jax.random.key(seed), images.shape[0])


def _images(shape=(6, 8, 8, 3), seed=0):
  return jnp.asarray(np.random.default_rng(seed).uniform(-1, 1, shape), jnp.float32)


@pytest.mark.parametrize('channels', [1, 3])
def test_strength_zero_is_the_identity(channels):
  x = _images((5, 8, 12, channels))
  key = _keys(x, 0)
  np.testing.assert_array_equal(augment.diffaugment(x, key, 0.0), x)
  np.testing.assert_allclose(augment.ada(x, key, 0.0), x, rtol=0, atol=1e-6)
  assert augment.augment('', x, key, 1.0) is x


@pytest.mark.parametrize('name', ['diffaugment', 'ada'])
def test_gradients_equal_finite_differences(name):
  """G learns through D(augment(G(z))): the gradient with respect to the images is the one the
  outputs' finite differences give (both pipelines are affine in the images for a fixed key)."""
  x = _images((3, 8, 8, 3))
  weights = _images((3, 8, 8, 3), seed=1)
  key = _keys(x, 4)
  loss = lambda images: jnp.sum(weights * augment.augment(name, images, key, 1.0) ** 2)
  grad = jax.grad(loss)(x)
  assert np.isfinite(np.asarray(grad)).all() and float(jnp.max(jnp.abs(grad))) > 0
  rng = np.random.default_rng(2)
  for _ in range(3):
    direction = jnp.asarray(rng.normal(size=x.shape), jnp.float32)
    eps = 1e-2
    numeric = (loss(x + eps * direction) - loss(x - eps * direction)) / (2 * eps)
    np.testing.assert_allclose(float(jnp.vdot(grad, direction)), float(numeric), rtol=2e-3)


def test_diffaugment_translation_shifts_whole_pixels_with_zeros_shifted_in():
  x = _images((32, 16, 16, 1))
  out = np.asarray(augment.diffaugment(x, _keys(x, 1), 1.0, 'translation'))
  shifts = set()
  for image, moved in zip(np.asarray(x), out):
    found = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
             if np.array_equal(moved, _shifted(image, dy, dx))]
    assert len(found) == 1, found  # 1/8 of 16 pixels: at most 2 either way
    shifts.add(found[0])
  assert len(shifts) > 5


def _shifted(image, dy, dx):
  """out[i, j] = image[i + dy, j + dx], zero outside."""
  h, w = image.shape[:2]
  out = np.zeros_like(image)
  for i in range(h):
    for j in range(w):
      if 0 <= i + dy < h and 0 <= j + dx < w:
        out[i, j] = image[i + dy, j + dx]
  return out


def test_diffaugment_cutout_zeros_a_square_of_half_the_side():
  x = jnp.ones((64, 16, 16, 3))
  out = np.asarray(augment.diffaugment(x, _keys(x, 2), 1.0, 'cutout'))
  for image in out:
    rows, cols = np.nonzero(image[..., 0] == 0)
    assert (image[rows, cols] == 0).all() and set(np.unique(image)) <= {0.0, 1.0}
    height, width = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
    assert len(rows) == height * width and height <= 8 and width <= 8  # a rectangle, clipped
  assert max(np.sum(image[..., 0] == 0) for image in out) == 64  # 8 x 8 where it fits


def test_diffaugment_colour_ranges():
  """Brightness adds U(-0.5, 0.5), saturation scales the distance to the pixel's channel mean
  by U(0, 2), contrast the distance to the image mean by U(0.5, 1.5)."""
  grey = jnp.zeros((256, 4, 4, 3))
  shifted = np.asarray(augment.diffaugment(grey, _keys(grey, 3), 1.0, 'color'))
  shift = shifted[:, 0, 0, 0]
  assert np.allclose(shifted, shift[:, None, None, None], atol=1e-6)  # saturation, contrast: none
  assert -0.5 <= shift.min() < -0.4 and 0.4 < shift.max() <= 0.5
  assert augment.check_policy('color,translation,cutout') is None
  assert 'unknown DiffAugment transform' in augment.check_policy('color,flip')


def test_ada_xflip_and_rotate90_move_pixels_exactly():
  x = _images((64, 8, 8, 3))
  key = _keys(x, 5)
  flipped = np.asarray(augment.ada(x, key, 1.0, dict(xflip=1)))
  kinds = [0 if np.allclose(o, i, atol=1e-5) else 1 if np.allclose(o, i[:, ::-1], atol=1e-5) else -1
           for o, i in zip(flipped, np.asarray(x))]
  assert -1 not in kinds and 15 < sum(kinds) < 49  # half of them flipped
  turned = np.asarray(augment.ada(x, key, 1.0, dict(rotate90=1)))
  kinds = [[k for k in range(4) if np.allclose(o, np.rot90(i, k, axes=(0, 1)), atol=1e-5)]
           for o, i in zip(turned, np.asarray(x))]
  assert all(len(k) == 1 for k in kinds) and {k[0] for k in kinds} == {0, 1, 2, 3}


def test_ada_integer_translation_reflects_at_the_border():
  x = _images((32, 16, 16, 1))
  out = np.asarray(augment.ada(x, _keys(x, 6), 1.0, dict(xint=1)))
  for image, moved in zip(np.asarray(x), out):
    padded = np.pad(image, ((2, 2), (2, 2), (0, 0)), mode='reflect')
    found = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
             if np.allclose(moved, padded[2 + dy:18 + dy, 2 + dx:18 + dx], atol=1e-5)]
    assert len(found) == 1


def test_ada_colour_transforms_at_probability_one():
  x = _images((128, 4, 4, 3))
  key = _keys(x, 7)
  bright = np.asarray(augment.ada(x, key, 1.0, dict(brightness=1))) - np.asarray(x)
  offsets = bright[:, 0, 0, 0]
  assert np.allclose(bright, offsets[:, None, None, None], atol=1e-5)
  assert 0.15 < np.std(offsets) < 0.25  # N(0, 0.2)
  # Luma flip is a reflection through the plane orthogonal to grey: grey is negated.
  grey = jnp.full((64, 2, 2, 3), 0.5)
  flipped = np.asarray(augment.ada(grey, _keys(grey, 8), 1.0, dict(lumaflip=1)))[:, 0, 0, 0]
  assert set(np.round(flipped, 5)) == {0.5, -0.5}
  # Hue rotates around the grey axis: grey stays grey, and the distance to it is kept.
  hue = np.asarray(augment.ada(x, key, 1.0, dict(hue=1)))
  distance = lambda a: np.linalg.norm(a - a.mean(-1, keepdims=True), axis=-1)
  np.testing.assert_allclose(hue.mean(-1), np.asarray(x).mean(-1), atol=1e-5)
  np.testing.assert_allclose(distance(hue), distance(np.asarray(x)), atol=1e-5)


@pytest.mark.parametrize('name', ['diffaugment', 'ada'])
def test_each_image_depends_only_on_its_own_key(name):
  """Split over devices, each device augments its share with the keys of its examples: the
  result is the whole batch's."""
  x = _images((8, 8, 8, 3))
  keys = _keys(x, 9)
  whole = augment.augment(name, x, keys, 0.7)
  halves = [augment.augment(name, x[i:i + 4], keys[i:i + 4], 0.7) for i in (0, 4)]
  np.testing.assert_allclose(np.concatenate(halves), whole, rtol=0, atol=1e-6)


def test_ada_p_moves_by_batch_times_interval_over_kimg_and_stays_in_0_1():
  step = 64 * 4 / 500_000
  update = lambda p, r: float(augment.ada_p_update(jnp.float32(p), jnp.float32(r), 0.6, 64, 4, 500))
  assert update(0.5, 0.9) == pytest.approx(0.5 + step) and update(0.5, 0.1) == pytest.approx(0.5 - step)
  assert update(0.0, 0.1) == 0.0 and update(1.0, 0.9) == 1.0  # clamped: p never leaks past 1


@pytest.mark.parametrize('field,value,message', [
    ('name', 'mixup', "config.augment.name: unknown augmentation 'mixup'; known: '' (none), "
                      'diffaugment, ada'),
    ('policy', 'color,flip', "config.augment.policy: 'color,flip': unknown DiffAugment transform "
                             "'flip'; known: color, translation, cutout (comma-separated)"),
    ('p', -0.1, 'config.augment.p: a probability in [0, 1], got -0.1'),
    ('target', 1.5, 'config.augment.target: must be in (0, 1) (or 0: p stays fixed), got 1.5'),
    ('interval', 0, 'config.augment.interval: must be positive, got 0'),
])
def test_bad_augment_fields_are_named(field, value, message):
  from gan_jax.errors import ConfigError
  config = augment.default_config()
  config.name = 'diffaugment'
  config[field] = value
  with pytest.raises(ConfigError) as error:
    augment.check_config(config)
  assert str(error.value) == message


class FewImages:
  """The same 64 random images, 16 of them in a new order each step: a training set that a
  discriminator memorises."""
  shape, num_classes = (28, 28, 1), 0
  images = np.random.default_rng(0).uniform(-1, 1, (64, 28, 28, 1)).astype(np.float32)

  def batch(self, step):
    return {'x': self.images[np.random.default_rng(step).permutation(64)[:16]][None]}


def _noise_config(d_lr=2e-3, **augment_fields):
  from experiments import dcgan_mnist
  config = dcgan_mnist.get_config('runlocal')
  config.evals, config.eval.best_metric = {}, ''
  config.batch_size, config.optim.d_lr = 16, d_lr
  config.augment.update(augment_fields)
  return config


def _train(config, devices, steps):
  from jax.sharding import Mesh
  from gan_jax import parallel
  from gan_jax.train.run import build_run
  from gan_jax.train.step import make_train_step
  mesh = Mesh(np.array(jax.devices()[:devices]), ('data',))
  run = build_run(config, dataset=FewImages())
  state, history = parallel.replicate(run.state, mesh), []
  train_step = make_train_step(run.config, run.nets, mesh)
  for step in range(steps):
    state, metrics = train_step(state, parallel.shard_batch(FewImages().batch(step), mesh))
    history.append(jax.device_get(metrics))
  return jax.device_get(state), history


def test_ada_noise_training_is_the_same_on_one_and_eight_devices():
  """ADA in the noise family's step (DCGAN, batch norm synchronized): the same parameters, p and
  metrics on 1 and 8 devices; p moves every `interval` steps; and what D sees depends on p."""
  config = _noise_config(name='ada', p=0.5, interval=2, kimg=0.1)
  config.sync_batch_norm = True  # DCGAN's batch statistics over the global batch, as on 1 device
  one, history1 = _train(config, 1, 3)
  eight, history8 = _train(config, 8, 3)
  for field in ('g_params', 'd_params', 'running'):
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-6),
                 getattr(one, field), getattr(eight, field))
  for key in history1[-1]:
    np.testing.assert_allclose(history1[-1][key], history8[-1][key], rtol=2e-4, atol=1e-5)
  # p moved once, after step 2, by 16 images x 2 steps / 100 images.
  assert [float(h['augment_p']) for h in history1][0] == 0.5
  assert abs(float(one.running['ada']['p']) - 0.5) == pytest.approx(0.32)
  assert int(one.running['ada']['steps']) == 1
  unaugmented, _ = _train(_noise_config(name='ada', p=0.0, interval=2, kimg=0.1), 1, 1)
  augmented, _ = _train(config, 1, 1)
  assert not np.allclose(unaugmented.d_params['d']['Conv_0']['kernel'],
                         augmented.d_params['d']['Conv_0']['kernel'])


def test_ada_p_rises_when_d_memorises_its_images_and_not_when_it_learns_nothing():
  """ADA's heuristic: a discriminator that memorises 64 images is confident on them (r_t above
  0.6) and p rises; one that learns nothing (a learning rate of 1e-9) is not, and p stays 0."""
  p = lambda d_lr: [float(h['augment_p']) for h in _train(
      _noise_config(d_lr, name='ada', interval=1, kimg=0.32), 1, 30)[1]]
  memorised, control = p(2e-3), p(1e-9)
  assert memorised[-1] > 0.3 and memorised[-1] == max(memorised), memorised
  assert max(control) <= 0.05, control
