"""StyleGAN2's networks: the reference's parameter counts, demodulation, minibatch standard
deviation over consecutive examples, rectangular images."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.errors import ConfigError
from gan_jax.models import stylegan2
from gan_jax.train.state import param_count


def _count(module, *inputs):
  variables = jax.eval_shape(lambda: module.init(jax.random.key(0), *inputs, train=False))
  return param_count(variables['params'])


@pytest.mark.parametrize('num_classes,g_count,d_count', [
    (0, 19_947_539, 20_720_641), (10, 20_215_315, 23_089_664)])
def test_cifar_configuration_has_the_reference_parameter_counts(num_classes, g_count, d_count):
  """stylegan2-ada-pytorch's `cfg_specs['cifar']`: 32x32, 512 channels at every resolution,
  a mapping of 2 layers, D `orig`; a conditional D maps its label with 8 layers (the reference's
  default). Counted by hand from the reference's layer shapes: G = mapping 525,312 + synthesis
  19,422,227; D = blocks 14,160,896 + epilogue 6,559,745."""
  z, labels = jnp.zeros((2, 512)), jnp.zeros((2,), jnp.int32)
  conditioning = 'class' if num_classes else 'none'
  generator = stylegan2.StyleGAN2Generator((32, 32, 3), num_classes, conditioning, map_layers=2)
  discriminator = stylegan2.StyleGAN2Discriminator((32, 32, 3), num_classes, conditioning,
                                                   architecture='orig')
  assert _count(generator, z, labels) == g_count
  assert _count(discriminator, jnp.zeros((2, 32, 32, 3)), labels) == d_count
  assert generator.num_ws == 8  # 7 modulated convolutions and the last RGB output


def test_shapes_square_and_rectangular():
  for shape, base in (((16, 16, 3), (4, 4)), ((16, 32, 1), (4, 8))):
    generator = stylegan2.StyleGAN2Generator(shape, w_dim=8, map_layers=2, channel_max=8, base=base)
    z = jax.random.normal(jax.random.key(0), (4, 8))
    variables = generator.init(jax.random.key(1), z, train=False)
    images = generator.apply(variables, z, noise_keys=jax.random.split(jax.random.key(2), 4))
    assert images.shape == (4,) + shape and np.isfinite(np.asarray(images)).all()
    ws = generator.apply(variables, z, method=generator.mapping)
    assert ws.shape == (4, 8)
    for architecture in ('orig', 'resnet'):
      discriminator = stylegan2.StyleGAN2Discriminator(shape, channel_max=8, base=base,
                                                       architecture=architecture, mbstd_group=2)
      d_vars = discriminator.init(jax.random.key(3), images, train=False)
      assert discriminator.apply(d_vars, images).shape == (4,)
  generator.check_shape((16, 32, 1))
  with pytest.raises(ConfigError, match=r"config.generator.base: \(4, 8\) doubled a whole number "
                     r"of times must give the images' 16x24"):
    generator.check_shape((16, 24, 1))


def test_demodulation_keeps_unit_output_variance():
  """Each output channel of a demodulated convolution has about unit variance on unit-variance
  inputs, whatever the style (before the bias and the activation)."""
  layer = stylegan2.ModulatedConv(32)
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(4, 16, 16, 64)), jnp.float32)
  for scale in (0.1, 1.0, 10.0):
    w = jnp.asarray(rng.normal(size=(4, 16)) * scale, jnp.float32)
    variables = layer.init(jax.random.key(0), x, w, None)
    y = np.asarray(layer.apply(variables, x, w, None))
    pre = np.where(y > 0, y / math.sqrt(2), y / (0.2 * math.sqrt(2)))  # undo the leaky ReLU
    variance = pre.var(axis=(0, 1, 2))
    assert 0.75 < variance.mean() < 1.25, (scale, variance.mean())


def test_minibatch_std_groups_consecutive_examples():
  x = jnp.asarray(np.random.default_rng(1).normal(size=(8, 4, 4, 6)), jnp.float32)
  out = np.asarray(stylegan2.minibatch_std(x, 4, 2))
  assert out.shape == (8, 4, 4, 8)
  for g in range(2):
    group = np.asarray(x)[4 * g:4 * g + 4].reshape(4, 4, 4, 2, 3)
    expected = np.sqrt(group.var(axis=0) + 1e-8).mean(axis=(0, 1, 3))
    for i in range(4 * g, 4 * g + 4):
      np.testing.assert_allclose(out[i, :, :, 6:], np.broadcast_to(expected, (4, 4, 2)), rtol=1e-5)
  # A batch split over devices in halves: each half's groups are the whole batch's.
  halves = np.concatenate([stylegan2.minibatch_std(x[:4], 4, 2), stylegan2.minibatch_std(x[4:], 4, 2)])
  np.testing.assert_allclose(halves, out, rtol=1e-6)
  with pytest.raises(ValueError, match='a group of 3 does not divide a batch of 8'):
    stylegan2.minibatch_std(x, 3)


def test_truncation_and_the_w_average():
  """The W average moves by w_avg_beta towards each training batch's mean W; samples with psi 0
  are all the image of the average W; samples are clipped to [-1, 1], with the same noise."""
  generator = stylegan2.StyleGAN2Generator((8, 8, 3), w_dim=8, map_layers=2, channel_max=8,
                                           w_avg_beta=0.9)
  z = jax.random.normal(jax.random.key(0), (6, 8))
  variables = generator.init(jax.random.key(1), z, train=False)
  assert not np.any(variables['batch_stats']['w_avg'])
  w, updates = generator.apply(variables, z, None, True, method='mapping', mutable=['batch_stats'])
  np.testing.assert_allclose(updates['batch_stats']['w_avg'], 0.1 * np.mean(w, 0), rtol=1e-5)
  variables = dict(variables, batch_stats=updates['batch_stats'])
  average = generator.clone(truncation_psi=0.0).apply(variables, z, train=False)
  np.testing.assert_allclose(average, np.broadcast_to(average[:1], average.shape), atol=1e-6)
  samples = generator.apply(variables, z, train=False)
  assert np.abs(samples).max() <= 1.0 and not np.allclose(samples[0], samples[1])
  w_avg = updates['batch_stats']['w_avg']
  expected = generator.apply(variables, jnp.repeat(w_avg[None, None], 6, 0).repeat(generator.num_ws, 1),
                             method='synthesis')
  np.testing.assert_allclose(average, np.clip(expected, -1, 1), atol=1e-5)
