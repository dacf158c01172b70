"""CycleGAN: the reference networks' sizes, the image pool, the step against its definition, 1 = 8
devices (pools included), unpaired data, and the experiment end to end with exact resume."""

import json
import os
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh
from PIL import Image

from experiments import cyclegan_mnist_mnistm
from gan_jax import data, parallel
from gan_jax.data import unpaired
from gan_jax.errors import ConfigError
from gan_jax.models.cyclegan import CycleGANGenerator
from gan_jax.models.layers import ConvTranspose
from gan_jax.models.unet import PatchGANDiscriminator
from gan_jax.train.families import cycle
from gan_jax.train.run import build_run
from gan_jax.train.state import param_count
from gan_jax.train.step import make_train_step


def _count(module, shape):
  variables = jax.eval_shape(lambda: module.init(jax.random.key(0), jnp.zeros((1,) + shape),
                                                 train=False))
  return param_count(variables['params'])


def test_cyclegan_networks_have_the_reference_sizes():
  # pytorch-CycleGAN-and-pix2pix prints 11.378 M (resnet_9blocks), 7.838 M (resnet_6blocks) and
  # 2.765 M (basic D, instance norm) for its CycleGAN networks; these are the exact counts.
  assert _count(CycleGANGenerator((256, 256, 3), blocks=9), (256, 256, 3)) == 11_378_179
  assert _count(CycleGANGenerator((128, 128, 3), blocks=6), (128, 128, 3)) == 7_837_699
  assert _count(PatchGANDiscriminator(256, n_layers=3, norm='instance'), (256, 256, 3)) == 2_764_737
  generator = CycleGANGenerator((28, 28, 3), ch=4, blocks=1)
  variables = generator.init(jax.random.key(0), jnp.zeros((1, 28, 28, 3)), train=False)
  for shape in ((2, 28, 28, 3), (1, 30, 37, 3)):  # Any size: reflect-padded to a multiple of 4.
    out = generator.apply(variables, jax.random.normal(jax.random.key(1), shape), train=False)
    assert out.shape == shape and float(jnp.max(jnp.abs(out))) <= 1
  # One halving instead of the paper's two (a 14x14 grid for 28x28 digits): c7s1-4, d8, one R8,
  # u4, c7s1-3, counted by hand.
  shallow = CycleGANGenerator((28, 28, 3), ch=4, blocks=1, downsamplings=1)
  assert _count(shallow, (28, 28, 3)) == (7 * 7 * 3 * 4 + 4) + (3 * 3 * 4 * 8 + 8) + 2 * (
      3 * 3 * 8 * 8 + 8) + (3 * 3 * 8 * 4 + 4) + (7 * 7 * 4 * 3 + 3)
  variables = shallow.init(jax.random.key(0), jnp.zeros((1, 28, 28, 3)), train=False)
  out = shallow.apply(variables, jnp.zeros((1, 29, 37, 3)), train=False)
  assert out.shape == (1, 29, 37, 3)
  shallow.check_shape((30, 30, 3))
  with pytest.raises(ConfigError, match='halves images 2 times and needs .* multiples of 4, got '
                     r'\(30, 30, 3\)'):
    generator.check_shape((30, 30, 3))


def test_upsampling_is_pytorchs_transposed_convolution():
  torch = pytest.importorskip('torch')
  x = np.random.default_rng(0).normal(size=(2, 7, 5, 6)).astype(np.float32)
  layer = ConvTranspose(4, (3, 3), strides=(2, 2), padding='VALID')
  params = layer.init(jax.random.key(0), x)['params']
  ours = np.asarray(layer.apply({'params': params}, x))[:, 1:15, 1:11]  # as CycleGANGenerator
  kernel = torch.from_numpy(np.asarray(params['kernel']).transpose(3, 2, 0, 1).copy())
  theirs = torch.nn.functional.conv_transpose2d(
      torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), kernel,
      torch.from_numpy(np.array(params['bias'])),
      stride=2, padding=1, output_padding=1).numpy().transpose(0, 2, 3, 1)
  np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


def reference_pool(stored, count, images, key):
  """ImagePool.query of the reference code, in Python, with the same random draws."""
  stored, out = np.array(stored), []
  for i, image in enumerate(np.asarray(images)):
    use_key, pick_key = jax.random.split(jax.random.fold_in(key, i))
    if count < len(stored):
      stored[count] = image
      count += 1
      out.append(image)
    elif float(jax.random.uniform(use_key)) > 0.5:
      slot = int(jax.random.randint(pick_key, (), 0, len(stored)))
      out.append(stored[slot].copy())
      stored[slot] = image
    else:
      out.append(image)
  return stored, count, np.stack(out)


def test_image_pool_follows_the_reference_rule():
  pool = {'images': jnp.zeros((5, 2, 2, 1)), 'count': jnp.zeros((), jnp.int32)}
  stored, count = np.zeros((5, 2, 2, 1), np.float32), 0
  returned_old = 0
  for step in range(4):
    images = jnp.arange(step * 4, step * 4 + 4, dtype=jnp.float32)[:, None, None, None] + \
        jnp.zeros((4, 2, 2, 1))
    key = jax.random.key(step)
    pool, out = jax.jit(cycle.query_pool)(pool, images, key)
    stored, count, expected = reference_pool(stored, count, images, key)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(pool['images'], stored)
    assert int(pool['count']) == count == min(5, 4 * (step + 1))
    returned_old += int(np.sum(np.asarray(out)[:, 0, 0, 0] < step * 4))
  assert returned_old > 0  # Earlier fakes were judged again.
  empty = {'images': jnp.zeros((0, 2, 2, 1)), 'count': jnp.zeros((), jnp.int32)}
  assert cycle.query_pool(empty, images, key)[1] is images  # pool_size 0: the fakes themselves


class RandomDomains:
  """Random blobs (A) and their negatives on noise (B), so that step tests need no prepared data."""
  shapes = {'a': (12, 12, 3), 'b': (12, 12, 3)}
  shape, num_classes = (12, 12, 3), 0

  def batch(self, step):
    rng = np.random.default_rng(step)
    a = np.where(rng.uniform(size=(1, 16, 12, 12, 1)) > 0.6, 1.0, -1.0).repeat(3, -1)
    b = np.clip(-a[:, ::-1] + rng.normal(0, 0.3, a.shape), -1, 1)
    return {'a': a.astype(np.float32), 'b': b.astype(np.float32)}


def small_config(**overrides):
  c = cyclegan_mnist_mnistm.get_config('runlocal')
  c.evals, c.eval.best_metric = {}, ''
  c.generator.update(ch=4, blocks=1)
  c.discriminator.ch = 4
  c.batch_size = 16
  c.pool_size = 6  # Full after the first step: later steps swap pooled fakes.
  c.ema_decay = 0.5
  for key, value in overrides.items():
    group, _, field = key.rpartition('.')
    (c[group] if group else c)[field] = value
  return c


def reference_step(config, nets, state, batch):
  """CycleGAN's step as the reference code writes it (pool_size 0): G_A: A -> B judged by D_B,
  loss MSE(D(fake), 1) + 10 L1 cycles + 5 L1 identities, then each D on 0.5 (MSE(D(real), 1) +
  MSE(D(fake), 0)) with the fakes made before the generators' update."""
  a, b = batch['a'][0], batch['b'][0]
  run = lambda model, params, x: model.apply({'params': params}, x, train=True)
  g_ab, g_ba = nets.generators['g_ab'], nets.generators['g_ba']
  mse = lambda x, target: jnp.mean((x - target) ** 2)
  l1 = lambda x, y: jnp.mean(jnp.abs(x - y))

  def g_objective(g):
    fake_b, fake_a = run(g_ab, g['g_ab'], a), run(g_ba, g['g_ba'], b)
    loss = (mse(run(nets.discriminators['d_b'], state.d_params['d_b'], fake_b), 1.0)
            + mse(run(nets.discriminators['d_a'], state.d_params['d_a'], fake_a), 1.0)
            + 10 * l1(run(g_ba, g['g_ba'], fake_b), a) + 10 * l1(run(g_ab, g['g_ab'], fake_a), b)
            + 5 * l1(run(g_ab, g['g_ab'], b), b) + 5 * l1(run(g_ba, g['g_ba'], a), a))
    return loss, (fake_a, fake_b)

  (g_loss, (fake_a, fake_b)), g_grads = jax.value_and_grad(g_objective, has_aux=True)(
      state.g_params)

  def d_objective(d):
    judge = lambda name, x: run(nets.discriminators[name], d[name], x)
    return (0.5 * (mse(judge('d_b', b), 1.0) + mse(judge('d_b', fake_b), 0.0))
            + 0.5 * (mse(judge('d_a', a), 1.0) + mse(judge('d_a', fake_a), 0.0)))

  d_grads = jax.grad(d_objective)(state.d_params)
  g_updates, g_opt = state.g_tx.update(g_grads, state.g_opt_state, state.g_params)
  d_updates, d_opt = state.d_tx.update(d_grads, state.d_opt_state, state.d_params)
  return dict(g_params=jax.tree.map(jnp.add, state.g_params, g_updates),
              d_params=jax.tree.map(jnp.add, state.d_params, d_updates),
              g_opt_state=g_opt, d_opt_state=d_opt), g_loss


def test_cycle_step_equals_the_reference():
  config = small_config(pool_size=0)
  run = build_run(config, dataset=RandomDomains())
  from test_paired import steps_match_reference
  for metrics in steps_match_reference(config, run.nets, run.state, reference_step,
                                       RandomDomains().batch):
    assert metrics['g_identity_loss'] > 0 and metrics['d_a_loss'] > 0


def test_the_discriminators_judge_what_a_full_pool_returns():
  """With pools already full (count = pool_size), each discriminator's loss is the reference's on
  the images its pool returns, some of them earlier fakes, not on this step's own fakes; and the
  pools keep what the reference's ImagePool keeps."""
  config = small_config(pool_size=4)
  run = build_run(config, dataset=RandomDomains())
  nets = run.nets
  rng = np.random.default_rng(0)
  pools = {side: {'images': jnp.asarray(rng.uniform(-1, 1, (4, 12, 12, 3)), jnp.float32),
                  'count': jnp.asarray(4, jnp.int32)} for side in ('a', 'b')}
  state = run.state.replace(running={'pools': pools})
  batch = RandomDomains().batch(0)
  mesh = Mesh(np.array(jax.devices()[:1]), ('data',))
  new_state, metrics = jax.device_get(make_train_step(config, nets, mesh)(
      parallel.replicate(jax.tree.map(jnp.copy, state), mesh), parallel.shard_batch(batch, mesh)))

  run = jax.jit(lambda model, params, x: model.apply({'params': params}, x, train=True),
                static_argnums=0)
  real = {'a': batch['a'][0], 'b': batch['b'][0]}
  fakes = {'b': run(nets.generators['g_ab'], state.g_params['g_ab'], real['a']),
           'a': run(nets.generators['g_ba'], state.g_params['g_ba'], real['b'])}
  step_key = jax.random.fold_in(state.key, state.step)
  for i, side in enumerate(('a', 'b')):
    stored, count, judged = reference_pool(pools[side]['images'], 4, fakes[side],
                                           jax.random.fold_in(step_key, i))
    np.testing.assert_allclose(new_state.running['pools'][side]['images'], stored, atol=1e-5)
    assert count == int(new_state.running['pools'][side]['count']) == 4
    d = lambda x: run(nets.discriminators[f'd_{side}'], state.d_params[f'd_{side}'], x)
    loss = lambda fake: 0.5 * jnp.mean((d(real[side]) - 1) ** 2) + 0.5 * jnp.mean(d(fake) ** 2)
    np.testing.assert_allclose(metrics[f'd_{side}_fake'], jnp.mean(d(judged)), rtol=1e-4)
    np.testing.assert_allclose(metrics[f'd_{side}_loss'], loss(judged), rtol=1e-4)
    # Some judged images are earlier fakes from the pool: the step's own fakes score otherwise.
    assert abs(float(loss(fakes[side])) - float(metrics[f'd_{side}_loss'])) > 1e-3 * float(
        metrics[f'd_{side}_loss'])


def run_steps(config, devices):
  from test_paired import run_steps
  return run_steps(config, devices, steps=3, dataset=RandomDomains())


def random_classifier(path, channels: int = 1) -> str:
  """A file of untrained classifier weights (10 classes, `channels`-channel images)."""
  from gan_jax.metrics import classifier
  params = classifier.Classifier().init(jax.random.key(3), jnp.zeros((1, 12, 12, channels)))
  classifier.save_weights(str(path), params['params'], dataset='random')
  return str(path)


def test_semantic_loss_in_closed_form(tmp_path):
  """CyCADA's source -> target term: the cross-entropy of the fixed classifier on translations
  against the classes it gives their sources; a grey classifier sees colour as BT.601 luma."""
  from gan_jax.metrics import classifier
  params, _ = classifier.load_weights(random_classifier(tmp_path / 'grey.npz'))
  rng = np.random.default_rng(0)
  source, translated = (rng.uniform(-1, 1, (6, 12, 12, 3)).astype(np.float32) for _ in range(2))
  luma = lambda x: x @ np.array([0.299, 0.587, 0.114], np.float32)[:, None]
  apply = lambda x: np.asarray(classifier.Classifier().apply({'params': params}, x)['logits'],
                               np.float64)
  labels, out = apply(luma(source)).argmax(-1), apply(luma(translated))
  log_softmax = out - np.log(np.exp(out).sum(-1, keepdims=True))
  expected = -np.mean(log_softmax[np.arange(6), labels])
  assert float(cycle.semantic_loss(params, source, translated)) == pytest.approx(expected, rel=1e-5)
  assert len(set(labels)) > 1  # Not a constant classifier: the labels come from each source.
  # A classifier of colour images takes them as they are.
  params, _ = classifier.load_weights(random_classifier(tmp_path / 'colour.npz', channels=3))
  logits = np.asarray(classifier.logits(params, source))
  np.testing.assert_allclose(logits, classifier.Classifier().apply({'params': params}, source)[
      'logits'], rtol=1e-6)


def test_cycle_eight_devices_match_one_pools_included(tmp_path):
  config = small_config(semantic_weight=1.0, semantic_network=random_classifier(tmp_path / 'c.npz'))
  one, metrics1 = run_steps(config, 1)
  eight, metrics8 = run_steps(config, 8)
  assert metrics1['g_semantic_loss'] > 0
  for name in ('d_opt_state', 'running'):
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4, err_msg=name),
                 getattr(one, name), getattr(eight, name))
  # The generators' Adam moments take up float reordering, through the dead biases (below) and
  # the semantic loss, for three steps. Each leaf is compared at its own scale: on a 2-core AMD
  # EPYC (AVX2) they differ by at most 1.5e-3 of their largest element (g_ab's kernels), while
  # every metric agrees to 1e-5; the dead biases' moments stay below 1e-5. A pool or gather gone
  # wrong differs at the scale of the leaf.
  jax.tree.map(lambda a, b: np.testing.assert_allclose(
      a, b, rtol=0, atol=5e-3 * np.max(np.abs(a)) + 1e-5, err_msg="g_opt_state"),
               one.g_opt_state, eight.g_opt_state)
  for key in metrics1:
    np.testing.assert_allclose(metrics1[key], metrics8[key], rtol=2e-4, atol=1e-5, err_msg=key)
  # Biases of convolutions followed by instance norm (the reference has them) get a gradient of
  # exactly 0: float32 leaves up to ~1e-7 whose sign depends on the summation order, which Adam
  # turns into updates of either sign. They are the only parameters that differ, and they
  # cannot change any output.
  dead = 0
  for side in ('g', 'd'):
    params = [jax.tree.leaves_with_path(getattr(run, f'{side}_params')) for run in (one, eight)]
    first_moments = jax.tree.leaves(getattr(one, f'{side}_opt_state')[0].mu)
    for (path, a), (_, b), mu in zip(*params, first_moments):
      if not np.allclose(a, b, rtol=2e-4, atol=2e-5):
        assert jax.tree_util.keystr(path).endswith("['bias']") and np.max(np.abs(mu)) < 1e-5, path
        dead += 1
  assert dead <= 16
  nets = cycle.networks(small_config(), RandomDomains())
  a = RandomDomains().batch(0)['a'][0]
  for name, generator in nets.generators.items():
    outputs = [generator.apply({'params': run.g_params[name]}, a, train=False) for run in (one, eight)]
    # Images in [-1, 1]: on the AMD EPYC above they differ by at most 7.7e-5.
    np.testing.assert_allclose(outputs[0], outputs[1], rtol=0, atol=3e-4)
  pools = one.running['pools']
  assert int(pools['a']['count']) == 6 and float(np.min(np.abs(pools['b']['images']).sum(
      axis=(1, 2, 3)))) > 0  # Full of fakes, the same on 1 and 8 devices.


def test_learning_rate_is_constant_then_decays_linearly():
  from gan_jax.train.state import make_optimizer
  # Adam's first steps with a constant gradient are the learning rate itself (b1 = b2 = 0).
  tx = make_optimizer(1.0, 0.0, 0.0, 'linear', 10, decay_from=0.5)
  params = {'w': jnp.zeros(())}
  opt_state, rates = tx.init(params), []
  for _ in range(10):
    updates, opt_state = tx.update({'w': jnp.ones(())}, opt_state, params)
    rates.append(-float(updates['w']))
  np.testing.assert_allclose(rates, [1, 1, 1, 1, 1, 1, 0.8, 0.6, 0.4, 0.2], atol=1e-3)
  # A checkpoint restores under either schedule: the states have one structure.
  constant = make_optimizer(1.0, 0.0, 0.0, 'constant', 10)
  assert jax.tree.structure(constant.init(params)) == jax.tree.structure(tx.init(params))


def test_mnistm_proxy_is_the_blend_of_its_digits(tfds_dir):
  # The blend itself: |background - 255| on the strokes, the background elsewhere.
  digits = np.zeros((3, 28, 28, 1), np.uint8)
  digits[:, 10:18, 12:15] = 90
  blended = unpaired.blend_mnistm(digits, np.full((2, 32, 32, 3), 100, np.uint8), seed=0)
  np.testing.assert_array_equal(blended, np.where(digits > 0, 155, 100).repeat(3, -1))

  test = unpaired.load_unpaired('mnist_mnistm', 'test[:40]', tfds_dir, 0, False)
  train = unpaired.load_unpaired('mnist_mnistm', 'train[:40]', tfds_dir, 0, False)
  assert test['a'].shape == test['b'].shape == (40, 28, 28, 3) and test['num_classes'] == 10
  # Held out: image i of B is digit i of A blended (so its B -> A truth is that digit).
  test_digits, test_labels, _ = data.images.load_tfds('mnist', 'test[:40]', tfds_dir, 0, False, 0, 1)
  cifar, _, _ = data.images.load_tfds('cifar10', 'test[:40]', tfds_dir, 0, False, 0, 1)
  np.testing.assert_array_equal(test['a'], test_digits.repeat(3, -1))
  np.testing.assert_array_equal(test['label_a'], test_labels)
  np.testing.assert_array_equal(test['label_b'], test_labels)
  np.testing.assert_array_equal(test['b'], unpaired.blend_mnistm(test_digits, cifar,
                                                                 unpaired._BLEND_SEED))
  # Training domains: disjoint halves of the split's digits.
  digits, labels, _ = data.images.load_tfds('mnist', 'train[:40]', tfds_dir, 0, False, 0, 1)
  np.testing.assert_array_equal(train['a'], digits[:20].repeat(3, -1))
  np.testing.assert_array_equal(train['label_a'], labels[:20])
  np.testing.assert_array_equal(train['label_b'], labels[20:])
  cifar, _, _ = data.images.load_tfds('cifar10', 'train[:40]', tfds_dir, 0, False, 0, 1)
  np.testing.assert_array_equal(train['b'], unpaired.blend_mnistm(
      digits, cifar, unpaired._BLEND_SEED + 1)[20:])


def test_unpaired_folder_reads_both_domains_and_rejects_an_empty_side(tmp_path, capsys):
  rng = np.random.default_rng(0)
  for side, count in (('trainA', 9), ('trainB', 11), ('testA', 8), ('testB', 8)):
    os.makedirs(tmp_path / side)
    for i in range(count):
      Image.fromarray(rng.integers(0, 255, (12, 16, 3), np.uint8)).save(tmp_path / side / f'{i}.png')
  config = cyclegan_mnist_mnistm.get_config(f'runlocal,folder={tmp_path}')
  config.batch_size = 8
  dataset = data.build(config)
  assert dataset.shapes == {'a': (12, 16, 3), 'b': (12, 16, 3)}
  assert len(dataset.images('a')) == 9 and len(dataset.images('b')) == 11
  batch = dataset.batch(3)
  assert batch['a'].shape == batch['b'].shape == (1, 8, 12, 16, 3)
  # Each domain in its own order: a pure function of (seed, step).
  np.testing.assert_array_equal(data.build(config).batch(3)['b'], batch['b'])
  assert data.build(config).orders['a'].seed != data.build(config).orders['b'].seed

  for image in os.listdir(tmp_path / 'trainB'):
    os.remove(tmp_path / 'trainB' / image)
  import launch
  from test_bad_input import one_error_line
  assert launch.train(config, str(tmp_path / 'run')) == 1
  assert 'trainB: no images' in one_error_line(capsys.readouterr().err)
  assert not os.path.exists(tmp_path / 'run' / 'checkpoints')


def test_cycle_gan_tfds_datasets_by_name_on_mock_data(monkeypatch, tmp_path):
  # tfds's mock data stands in for the download (mocked too) a user's machine would make.
  import tensorflow_datasets as tfds
  monkeypatch.setattr(data.images, '_network_reachable', lambda urls: True)
  # tfds 4.9.10's mock data source sets `__getitems__` unbound (it misses `self`); its
  # `__getitem__` works, so batches are read through it here.
  from tensorflow_datasets.core.data_sources import base
  monkeypatch.setattr(base.BaseDataSource, '__getitems__',
                      lambda self, keys: [self[k] for k in keys])
  with tfds.testing.mock_data(num_examples=6):
    domains = unpaired.load_unpaired('cycle_gan/horse2zebra', 'train', str(tmp_path), 32, True)
  assert domains['a'].shape == domains['b'].shape == (6, 32, 32, 3)
  assert domains['num_classes'] == 0


def test_cycle_config_mistakes_fail_validation():
  from gan_jax.train.checks import check
  for overrides, message in (
      ({'family': 'paired'}, 'train it with family=cycle'),
      ({'family': 'noise'}, 'use family=cycle'),
      ({'pool_size': -1}, 'config.pool_size: must be >= 0'),
      ({'optim.decay_from': 1.0}, 'config.optim.decay_from: must be in [0, 1)'),
      ({'n_critic': 2}, 'config.n_critic: cycle training makes one discriminator update'),
      ({'semantic_weight': -1.0}, 'config.semantic_weight: must be >= 0'),
      ({'generator.downsamplings': -1}, 'config.generator.downsamplings: must be 0 or more')):
    config = cyclegan_mnist_mnistm.get_config('runlocal')
    for key, value in overrides.items():
      group, _, field = key.rpartition('.')
      (config[group] if group else config)[field] = value
    with pytest.raises(ConfigError, match=message.replace('[', r'\[').replace(')', r'\)')):
      check(config)
  # The semantic loss needs a classifier of domain A: gan_jax ships MNIST's for mnist_mnistm.
  config = cyclegan_mnist_mnistm.get_config('runlocal,semantic')
  assert config.semantic_weight == 1.0
  assert cycle.semantic_network(config)['name'] == 'mnist classifier'
  config.dataset.name = 'unpaired_folder:/data/horses'
  with pytest.raises(ConfigError, match='config.semantic_network: gan_jax ships no classifier of '
                     "domain A of 'unpaired_folder:/data/horses'"):
    cycle.semantic_network(config)
  config.semantic_network = '/nowhere/weights.npz'
  with pytest.raises(ConfigError, match='no classifier weights at /nowhere/weights.npz'):
    cycle.semantic_network(config)
  config = cyclegan_mnist_mnistm.get_config('runlocal')
  config.evals.psnr_ab = dict(metric='psnr', direction='ab')
  from gan_jax.metrics import evaluators
  # The family's own account of its samples, for a dataset of ten classes of 28 x 28 x 3 images.
  kind = lambda: cycle.sample_kind(config, None, types.SimpleNamespace(num_classes=10,
                                                                       shape=(28, 28, 3)))
  with pytest.raises(ConfigError, match='true targets'):
    evaluators.check(config, kind())
  # The training split's domains are disjoint halves: no B image there is a known translation.
  config.evals = {'psnr_ba_val': dict(metric='psnr', direction='ba', real_split='train[256:384]',
                                      tag='val')}
  with pytest.raises(ConfigError, match='true targets'):
    evaluators.check(config, kind())
  config.evals.psnr_ba_val.real_split = 'test[:64]'
  evaluators.check(config, kind())
  config.evals = {'fd': dict(metric='fd', extractor='mnistm_cnn')}
  with pytest.raises(ConfigError, match='say which translation is scored'):
    evaluators.check(config, kind())


def test_cyclegan_runlocal_end_to_end_and_exact_resume(tmp_path, tfds_dir, monkeypatch, capsys):
  from test_train import (assert_same_run, interrupt_and_resume, read_jsonl, read_state,
                          run_four_logged_steps)
  full, resumed = str(tmp_path / 'full'), str(tmp_path / 'resumed')
  config = cyclegan_mnist_mnistm.get_config('runlocal')
  # Each direction's classifier, the known-truth PSNR, and the validation accuracy that keeps
  # the best checkpoint (every metric's wiring is tested in test_evaluator_wiring.py).
  config.evals = {k: v for k, v in config.evals.items()
                  if k in ('accuracy_ab', 'accuracy_ba', 'psnr_ba', 'accuracy_ab_val')}
  assert config.eval.best_metric == 'accuracy_mnistm_cnn_ab_val'
  config, result, last = run_four_logged_steps(
      config, tfds_dir, full,
      ('d_loss', 'd_a_loss', 'd_b_loss', 'g_loss', 'g_cycle_loss', 'g_identity_loss',
       'g_adversarial_loss', 'eval/accuracy_mnistm_cnn_ab', 'eval/accuracy_mnist_cnn_ba',
       'eval/psnr_ba', 'eval/accuracy_mnistm_cnn_ab_val'))
  assert 'the targets of mnist_mnistm:test[:64] A' in last['eval/psnr_ba_protocol']
  # Test images never choose the checkpoint: the validation sources are training digits that
  # this run's domain A (the first half of train[:256]) does not hold.
  assert '64 of mnist_mnistm:train[256:384] A' in last['eval/accuracy_mnistm_cnn_ab_val_protocol']
  val = {r['step']: r['eval/accuracy_mnistm_cnn_ab_val']
         for r in read_jsonl(os.path.join(full, 'metrics.jsonl'))
         if 'eval/accuracy_mnistm_cnn_ab_val' in r}
  assert sorted(val) == [2, 4]
  best_step = 4 if val[4] > val[2] else 2  # Ties keep the earlier checkpoint.
  with open(os.path.join(full, 'best.json')) as f:
    assert json.load(f) == {'metric': 'eval/accuracy_mnistm_cnn_ab_val', 'step': best_step,
                            'value': val[best_step]}
  assert 'BT.601 luma' in last['eval/accuracy_mnist_cnn_ba_protocol']
  assert 'of the generator (no average) at step' in last['eval/accuracy_mnist_cnn_ba_protocol']
  figure = np.asarray(Image.open(result['figure']))
  assert figure.shape[:2] == (2 * (4 * 30 + 2), 6 * 30 + 2)  # A -> B above B -> A, 4 rows each.

  interrupt_and_resume(config, resumed, monkeypatch, stop_at=4)
  state, _ = assert_same_run(config, full, resumed, 4)
  assert int(state.running['pools']['a']['count']) == min(config.pool_size, 4 * 8)

  # The B -> A generator on a user's image, and evaluate in that direction.
  from gan_jax import evaluate, translate
  dataset = data.build(config)
  os.makedirs(tmp_path / 'in')
  Image.fromarray(dataset.images('b')[0]).save(tmp_path / 'in' / 'digit.png')
  assert translate.main(['--workdir', full, '--input', str(tmp_path / 'in'), '--output',
                         str(tmp_path / 'out'), '--direction', 'ba']) == 0
  nets = cycle.networks(config, dataset)
  state = read_state(full, config, 4)
  expected = nets.generators['g_ba'].apply({'params': state.g_ema_params['g_ba']},
                                           dataset.images('b')[:1] / 127.5 - 1, train=False)
  np.testing.assert_allclose(np.asarray(Image.open(tmp_path / 'out' / 'digit.png')),
                             np.round((np.asarray(expected)[0] + 1) * 127.5), atol=1)
  assert translate.main(['--workdir', full, '--input', str(tmp_path / 'in'), '--output',
                         str(tmp_path / 'out')]) == 2
  assert evaluate.main(['--workdir', full, '--metrics', 'psnr', '--num_samples', '64',
                        '--direction', 'ba']) == 0
  with open(os.path.join(full, 'evaluate_4_ba.json')) as f:
    assert json.load(f)['eval/psnr_ba'] == pytest.approx(last['eval/psnr_ba'], rel=1e-6)
  # The kept checkpoint, by --best: its validation score is the one the run logged.
  assert evaluate.main(['--workdir', full, '--best', '--metrics', 'accuracy', '--extractor',
                        'mnistm_cnn', '--num_samples', '64', '--direction', 'ab',
                        '--real_split', 'train[256:384]']) == 0
  with open(os.path.join(full, f'evaluate_best_{best_step}_ab.json')) as f:
    assert json.load(f)['eval/accuracy_mnistm_cnn_ab'] == val[best_step]
  for flags, out in ((['--best'], 'best'), (['--step', str(best_step)], 'step')):
    assert translate.main(['--workdir', full, '--input', str(tmp_path / 'in'), '--output',
                           str(tmp_path / out), '--direction', 'ba'] + flags) == 0
  np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / 'best' / 'digit.png')),
                                np.asarray(Image.open(tmp_path / 'step' / 'digit.png')))
  assert translate.main(['--workdir', full, '--input', str(tmp_path / 'in'), '--output',
                         str(tmp_path / 'out'), '--direction', 'ba', '--best', '--step', '2']) == 2
  assert '--step and --best: give one of them' in capsys.readouterr().err


def test_baselines_of_the_validation_entry_are_scored_on_the_validation_digits(tfds_dir):
  from gan_jax.data.images import load_tfds
  from gan_jax.metrics import baselines, evaluators
  config = cyclegan_mnist_mnistm.get_config('runlocal')
  config.dataset.data_dir = tfds_dir
  config.evals = {k: v for k, v in config.evals.items() if k in ('accuracy_ab', 'accuracy_ab_val')}
  rows = baselines.score_baselines(config)
  # Copying the input: the first 64 A digits of each entry's split, read here on their own.
  quality = evaluators.Evaluators(config, evaluators.SampleKind(True, False, 10), None)
  for name, split, key in (('accuracy_ab', 'test[:64]', 'accuracy_mnistm_cnn_ab'),
                           ('accuracy_ab_val', 'train[256:320]', 'accuracy_mnistm_cnn_ab_val')):
    digits, labels, _ = load_tfds('mnist', split, tfds_dir, 0, False, 0, 1)
    copies = np.repeat(digits, 3, -1).astype(np.float32) / 127.5 - 1
    expected = quality.score(name, evaluators.Samples(copies, labels), 'copies')[0][f'eval/{key}']
    assert rows['copy the input'][f'eval/{key}'] == expected
    # Real B images, by their own digits: in the validation split, image i of B is not made from
    # digit i of A (the training split's domains are disjoint halves).
    assert rows['real targets'][f'eval/{key}'] > 0.9
