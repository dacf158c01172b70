"""Shapes and parameter counts of the models."""

import flax.linen as nn
import jax
import numpy as np
import jax.numpy as jnp
import pytest

from experiments import gan_grid
from gan_jax import models
from gan_jax.train.state import param_count


def init(module, x):
  return module.init(jax.random.key(0), x)['params']


def test_pacgan_generator():
  config = gan_grid.get_config()
  generator, _ = models.build(config, (2,))
  z = jnp.zeros((7, 2))
  params = init(generator, z)
  assert generator.apply({'params': params}, z).shape == (7, 2)
  # 2 -> 400 -> 400 -> 2, with biases.
  assert param_count(params) == (2 * 400 + 400) + (400 * 400 + 400) + (400 * 2 + 2) == 162_402


@pytest.mark.parametrize('pack', [1, 4])
def test_pacgan_maxout_discriminator(pack):
  config = gan_grid.get_config(f'pack={pack}')
  _, discriminator = models.build(config, (2,))
  x = jnp.zeros((5, 2 * pack))
  params = init(discriminator, x)
  assert discriminator.apply({'params': params}, x).shape == (5,)
  # maxout-5 layers of 200 units hold 5 x 200 linear pieces each.
  assert param_count(params) == (2 * pack * 1000 + 1000) + (200 * 1000 + 1000) + (200 + 1)


def test_maxout_is_max_of_pieces():
  from gan_jax.models.layers import DenseActivation
  layer = DenseActivation(3, 'maxout', maxout_k=4)
  x = jax.random.normal(jax.random.key(1), (2, 5))
  params = layer.init(jax.random.key(0), x)
  pieces = x @ params['params']['Dense_0']['kernel'] + params['params']['Dense_0']['bias']
  expected = pieces.reshape(2, 3, 4).max(-1)
  assert jnp.allclose(layer.apply(params, x), expected)


@pytest.mark.parametrize('activation', ['relu', 'leaky_relu'])
def test_activations(activation):
  from gan_jax.models.layers import DenseActivation
  layer = DenseActivation(4, activation, leaky_slope=0.1)
  x = jax.random.normal(jax.random.key(1), (3, 2))
  params = layer.init(jax.random.key(0), x)
  y = layer.apply(params, x)
  pre = x @ params['params']['Dense_0']['kernel'] + params['params']['Dense_0']['bias']
  expected = jnp.maximum(pre, 0) if activation == 'relu' else jnp.where(pre > 0, pre, 0.1 * pre)
  assert jnp.allclose(y, expected)


def dcgan_config(ch=64, conditioning='none'):
  from gan_jax.config import base_config
  c = base_config()
  c.latent_dim = 100
  c.generator.update(name='dcgan', ch=ch, conditioning=conditioning)
  c.discriminator.update(name='dcgan', ch=ch, conditioning=conditioning)
  return c


def test_dcgan_64_matches_the_pytorch_example():
  # The PyTorch DCGAN example (nz=100, ngf=ndf=64, nc=3) has 3,576,704 and 2,765,568 parameters.
  generator, discriminator = models.build(dcgan_config(), (64, 64, 3))
  z = jnp.zeros((2, 100))
  g_vars = generator.init(jax.random.key(0), z, train=False)
  x = generator.apply(g_vars, z, train=False)
  assert x.shape == (2, 64, 64, 3) and float(jnp.abs(x).max()) <= 1.0
  d_vars = discriminator.init(jax.random.key(1), x, train=False)
  assert discriminator.apply(d_vars, x, train=False).shape == (2,)
  assert param_count(g_vars["params"]) == 3_576_704
  assert param_count(d_vars['params']) == 2_765_568


@pytest.mark.parametrize('size,channels', [(28, 1), (32, 3), (64, 3)])
def test_dcgan_sizes(size, channels):
  generator, discriminator = models.build(dcgan_config(ch=8), (size, size, channels))
  z = jnp.zeros((3, 100))
  g_vars = generator.init(jax.random.key(0), z, train=False)
  x, _ = generator.apply(g_vars, z, train=True, mutable=['batch_stats'])
  assert x.shape == (3, size, size, channels)
  d_vars = discriminator.init(jax.random.key(1), x, train=False)
  logits, _ = discriminator.apply(d_vars, x, train=True, mutable=['batch_stats'])
  assert logits.shape == (3,)


@pytest.mark.parametrize('conditioning', ['concat', 'projection'])
def test_conditional_generator_depends_on_its_label(conditioning):
  generator, discriminator = models.build(dcgan_config(ch=8, conditioning=conditioning),
                                          (28, 28, 1), num_classes=10)
  z = jnp.tile(jax.random.normal(jax.random.key(0), (1, 100)), (2, 1))
  labels = jnp.array([3, 7])
  g_vars = generator.init(jax.random.key(0), z, labels, train=False)
  x = generator.apply(g_vars, z, labels, train=False)
  assert not jnp.allclose(x[0], x[1], atol=1e-4)  # Same z, different labels.
  d_vars = discriminator.init(jax.random.key(1), x, labels, train=False)
  same = jnp.stack([x[0], x[0]])
  logits = discriminator.apply(d_vars, same, labels, train=False)
  assert not jnp.allclose(logits[0], logits[1])  # Same image, different labels.
  if conditioning == 'projection':  # The unconditional logit plus <embed(y), summed features>.
    _, plain = models.build(dcgan_config(ch=8), (28, 28, 1))
    params = dict(d_vars['params'])
    embedding = params.pop('Embed_0')['embedding']
    assert embedding.shape == (10, 16)  # classes x (ndf x 2), the channels at 7x7
    plain_vars = {**d_vars, 'params': params}
    base, captured = plain.apply(plain_vars, same, train=False,
                                 capture_intermediates=lambda m, _: isinstance(m, nn.BatchNorm))
    normed = jax.tree.leaves(captured['intermediates'])[0]
    features = jnp.sum(nn.leaky_relu(normed, 0.2), axis=(1, 2))
    np.testing.assert_allclose(logits, base + jnp.sum(embedding[labels] * features, -1),
                               rtol=1e-5, atol=1e-5)


def test_label_count_and_shape_errors():
  from gan_jax.config import ConfigError
  config = dcgan_config(ch=8, conditioning='concat')
  config.generator.num_classes = 100
  with pytest.raises(ConfigError, match='config.generator.num_classes: 100, but the dataset has 10'):
    models.build(config, (28, 28, 1), num_classes=10)
  with pytest.raises(ConfigError, match="config.generator.conditioning: 'concat' needs class labels"):
    models.build(dcgan_config(ch=8, conditioning='concat'), (28, 28, 1), num_classes=0)
  with pytest.raises(ConfigError, match=r'square images of size \(28, 32, 64\)'):
    models.build(dcgan_config(ch=8), (48, 48, 3))
  config = dcgan_config(ch=8, conditioning='concat')
  config.pack = 2
  with pytest.raises(ConfigError, match='config.pack: 2 packs samples of different classes'):
    models.build(config, (28, 28, 1), num_classes=10)


def resnet_config(g_conditioning='none', d_conditioning='none', spectral_norm=True):
  from gan_jax.config import base_config
  c = base_config()
  c.generator.update(name='resnet', ch=256, conditioning=g_conditioning)
  c.discriminator.update(name='resnet', ch=128, conditioning=d_conditioning,
                         spectral_norm=spectral_norm)
  return c


def init_both(config, num_classes=0, batch=2):
  generator, discriminator = models.build(config, (32, 32, 3), num_classes)
  z = jax.random.normal(jax.random.key(0), (batch, 128))
  labels = jnp.arange(batch) % max(num_classes, 1)
  g_vars = generator.init(jax.random.key(0), z, labels, train=False)
  x = generator.apply(g_vars, z, labels, train=False)
  d_vars = discriminator.init(jax.random.key(1), x, labels, train=False)
  return generator, discriminator, g_vars, d_vars, x, labels


def test_sngan_resnet_parameter_counts():
  _, discriminator, g_vars, d_vars, x, labels = init_both(resnet_config())
  assert x.shape == (2, 32, 32, 3)
  assert discriminator.apply(d_vars, x, train=False).shape == (2,)
  # Hand count (Miyato et al. 2018, Table 4): dense 528,384; 3 blocks of 1,246,976; BN 512;
  # output conv 6,915. D: 151,680 + 311,680 + 2 x 295,168 + 129.
  assert param_count(g_vars['params']) == 4_276_739
  assert param_count(d_vars['params']) == 1_053_825
  # Projection adds a 10 x 128 embedding; conditional BN swaps 6 x 512 shared gains and biases
  # for 6 x 2 x 10 x 256 per-class ones.
  _, _, g_vars, d_vars, _, _ = init_both(resnet_config('cbn', 'projection'), num_classes=10)
  assert param_count(d_vars['params']) == 1_053_825 + 1_280
  assert param_count(g_vars['params']) == 4_276_739 - 6 * 512 + 6 * 2 * 10 * 256


def test_spectral_norm_keeps_top_singular_value_near_one():
  import numpy as np
  _, discriminator, _, d_vars, x, labels = init_both(resnet_config('none', 'projection'), 10)
  # Power iteration runs once per training call; after some, u has converged.
  variables = d_vars
  for _ in range(30):
    _, updates = discriminator.apply(variables, x, labels, train=True, mutable=['batch_stats'])
    variables = {'params': d_vars['params'], 'batch_stats': updates['batch_stats']}
  stats = jax.tree_util.tree_flatten_with_path(variables['batch_stats'])[0]
  sigmas = {jax.tree_util.keystr(p): float(v) for p, v in stats if 'sigma' in jax.tree_util.keystr(p)}
  assert len(sigmas) == 12  # 10 convolutions, the dense layer and the projection embedding.
  params = jax.tree_util.tree_flatten_with_path(d_vars['params'])[0]
  matrices = [np.asarray(v).reshape(-1, v.shape[-1]) for p, v in params
              if np.ndim(v) >= 2]
  assert len(matrices) == 12
  # sigma estimates each matrix's top singular value, so W / sigma has top singular value ~1.
  top = sorted(np.linalg.svd(m, compute_uv=False)[0] for m in matrices)
  estimated = sorted(sigmas.values())
  np.testing.assert_allclose(np.array(top) / np.array(estimated), 1.0, rtol=0.02)


def test_projection_discriminator_depends_on_label():
  _, discriminator, _, d_vars, x, _ = init_both(resnet_config('cbn', 'projection'), 10)
  same = jnp.stack([x[0], x[0]])
  logits = discriminator.apply(d_vars, same, jnp.array([1, 2]), train=False)
  assert not jnp.allclose(logits[0], logits[1])


@pytest.mark.parametrize('name', ['dcgan', 'resnet'])
def test_acgan_discriminator_predicts_the_class(name):
  config = dcgan_config(ch=8, conditioning='acgan') if name == 'dcgan' else resnet_config(
      'cbn', 'acgan')
  shape = (28, 28, 1) if name == 'dcgan' else (32, 32, 3)
  generator, discriminator = models.build(config, shape, num_classes=10)
  z, labels = jnp.zeros((3, config.latent_dim)), jnp.array([0, 4, 9])
  g_vars = generator.init(jax.random.key(0), z, labels, train=False)
  x = generator.apply(g_vars, z, labels, train=False)
  d_vars = discriminator.init(jax.random.key(1), x, labels, train=False)
  logits, class_logits = discriminator.apply(d_vars, x, labels, train=False)
  assert logits.shape == (3,) and class_logits.shape == (3, 10)
  # It does not see the label: the same image gets the same outputs under any label.
  again = discriminator.apply(d_vars, x, jnp.array([1, 1, 1]), train=False)
  np.testing.assert_array_equal(again[1], class_logits)


def test_a_model_names_what_it_is_conditioned_on():
  from experiments import dcgan_mnist

  class Captioned(nn.Module):  # A stand-in text-conditioned generator.
    conditioning: str = 'fusion'
    condition_kind = 'text'

  plain, _ = models.build(dcgan_mnist.get_config('runlocal'), (28, 28, 1), 10)
  labelled, judge = models.build(dcgan_mnist.get_config('runlocal,conditional'), (28, 28, 1), 10)
  assert models.condition_kind(plain) == '' and not models.is_conditional(plain)
  assert models.condition_kind(labelled) == models.condition_kind(judge) == 'class'
  assert models.is_conditional(labelled)
  # A caption is not a class label: nothing that draws labels treats it as one.
  assert models.condition_kind(Captioned()) == 'text' and not models.is_conditional(Captioned())
  bf16 = models.LowPrecision(labelled)
  assert models.condition_kind(bf16) == 'class'
