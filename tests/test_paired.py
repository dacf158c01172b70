"""pix2pix (the paired family): models against the reference implementation's sizes, the proxy
data, PSNR/SSIM in closed form, the step against a reference, 1 = 8 devices, exact resume, the
experiment end to end, and bad input."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.sharding import Mesh
from PIL import Image

from experiments import pix2pix_edges2mnist
from gan_jax import data, parallel
from gan_jax.train.checks import check
from gan_jax.data import paired
from gan_jax.errors import ConfigError, DataError
from gan_jax.metrics import scores
from gan_jax.models.unet import PatchGANDiscriminator, UNetGenerator, layers_for, receptive_field
from gan_jax.train import train_and_evaluate
from gan_jax.train.families import paired as paired_family
from gan_jax.train.run import build_run
from gan_jax.train.state import param_count
from gan_jax.train.step import make_train_step
from gan_jax.train.writers import read_jsonl


def _count(module, shape):
  variables = jax.eval_shape(lambda: module.init(jax.random.key(0), jnp.zeros((1,) + shape),
                                                 train=False))
  return param_count(variables['params'])


def test_unet_and_patchgan_have_the_reference_sizes():
  # pytorch-CycleGAN-and-pix2pix prints "[Network G] Total number of parameters : 54.414 M" for
  # unet_256 (ngf 64, 3 -> 3 channels, batch norm) and 2.769 M for the basic (70x70) D on 6.
  assert round(_count(UNetGenerator((256, 256, 3)), (256, 256, 3)) / 1e6, 3) == 54.414
  d = PatchGANDiscriminator(256)
  assert round(_count(d, (256, 256, 6)) / 1e6, 3) == 2.769
  out = jax.eval_shape(lambda: d.apply(d.init(jax.random.key(0), jnp.zeros((1, 256, 256, 6)),
                                              train=False), jnp.zeros((2, 256, 256, 6)),
                                       train=False))
  assert out.shape == (2, 30, 30, 1)  # The reference's 30x30 patches.
  assert [receptive_field(n) for n in (1, 2, 3)] == [16, 34, 70]
  assert layers_for(256) == 3 and layers_for(32) == layers_for(28) == 1


def test_unet_translates_images_of_any_size():
  g = UNetGenerator((28, 28, 1), ch=4)
  variables = g.init(jax.random.key(0), jnp.zeros((1, 28, 28, 1)), train=False)
  for shape in ((3, 28, 28, 1), (1, 45, 70, 1), (2, 64, 64, 1)):
    out = g.apply(variables, jnp.ones(shape), train=False)
    assert out.shape == shape and float(jnp.max(jnp.abs(out))) <= 1


def test_dropout_masks_come_from_each_examples_key():
  g = UNetGenerator((16, 16, 1), ch=4, norm='instance')
  x = jax.random.normal(jax.random.key(1), (4, 16, 16, 1))
  variables = g.init(jax.random.key(0), x[:1], train=False)
  keys = jax.vmap(jax.random.key)(jnp.arange(4))
  run = lambda x, k: g.apply(variables, x, k, train=True)
  both = run(x, keys)
  # Example 2 alone, with its key, gives what it gave in the batch (instance norm: no mixing).
  np.testing.assert_allclose(run(x[2:3], keys[2:3]), both[2:3], atol=1e-6)
  assert not np.allclose(run(x, keys[::-1]), both, atol=1e-3)  # Another key, another mask.
  np.testing.assert_array_equal(g.apply(variables, x, train=False), g.apply(variables, x, None,
                                                                              train=False))


def test_proxy_sources_are_exact_functions_of_the_target():
  rng = np.random.default_rng(0)
  rgb = rng.integers(0, 256, (3, 8, 8, 3)).astype(np.uint8)
  expected = np.round(rgb.astype(np.float64) @ [0.299, 0.587, 0.114])
  np.testing.assert_array_equal(paired.luma(rgb)[..., 0], expected)
  square = np.zeros((1, 12, 12, 1), np.uint8)
  square[0, 4:8, 4:8] = 255
  edges = paired.edges(square)[0, ..., 0]
  assert set(np.unique(edges)) == {0, 255}
  assert edges[6, 6] == 0 and edges[0, 0] == 0  # Flat inside and outside,
  assert edges[4, 6] == 255 and edges[6, 3] == 255  # edges along the square's border.
  flat = np.full((2, 16, 16, 3), 77, np.uint8)
  np.testing.assert_array_equal(paired.downsample(flat, 4), np.full((2, 4, 4, 3), 77))
  with pytest.raises(DataError, match='config.dataset.scale: 3 does not divide the image size 16x16'):
    paired.downsample(flat, 3)


def test_psnr_and_ssim_in_closed_form():
  target = np.zeros((2, 16, 16, 3), np.float32)  # 0.5 in [0, 1]
  shifted = target + 0.2  # off by 0.1 in [0, 1]
  assert scores.psnr(shifted, target)['psnr'] == pytest.approx(20.0, abs=1e-4)  # -10 log10(0.01)
  # Y = (16 + 219 v) / 255: a grey shift of 0.1 moves Y by 0.1 * 219 / 255.
  assert scores.psnr(shifted, target)['psnr_y'] == pytest.approx(
      -10 * np.log10((0.1 * 219 / 255) ** 2), abs=1e-3)
  # Flat images: SSIM is its luminance term (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1), up to
  # dm-pix's float32 variances (E[x^2] - mu^2: ~3e-8 of error against C2 = 9e-4).
  c1 = 0.01 ** 2
  assert scores.ssim(shifted, target)['ssim'] == pytest.approx(
      (2 * 0.6 * 0.5 + c1) / (0.36 + 0.25 + c1), abs=2e-4)
  noise = np.random.default_rng(0).uniform(-1, 1, (2, 16, 16, 1)).astype(np.float32)
  assert scores.ssim(noise, noise)['ssim'] == pytest.approx(1.0, abs=1e-6)
  cropped = noise.copy()
  cropped[:, :2] = -noise[:, :2]  # Differences only in the 2-pixel border.
  assert scores.psnr(cropped, noise, crop=2)['psnr'] == np.inf
  with pytest.raises(scores.MetricInputError, match='psnr: outputs'):
    scores.psnr(noise, target)


def small_config(**overrides):
  c = pix2pix_edges2mnist.get_config('runlocal')
  c.evals, c.eval.best_metric = {}, ''
  c.generator.ch = c.discriminator.ch = 4
  c.batch_size = 16
  c.ema_decay = 0.5
  c.sync_batch_norm = True  # Batch statistics over the global batch: 1 device = 8 devices.
  for key, value in overrides.items():
    group, _, field = key.rpartition('.')
    (c[group] if group else c)[field] = value
  return c


class RandomPairs:
  """Edges of random blobs and the blobs, so that the step tests need no prepared data."""
  shape, source_shape, num_classes = (16, 16, 1), (16, 16, 1), 0

  def batch(self, step):
    rng = np.random.default_rng(step)
    target = (rng.uniform(0, 1, (1, 16, 16, 16, 1)) > 0.7).astype(np.uint8) * 255
    source = paired.edges(target[0])[None]
    scale = lambda x: x.astype(np.float32) / 127.5 - 1
    return {'source': scale(source), 'target': scale(target), 'label': np.zeros((1, 16), np.int32)}


def reference_step(config, nets, state, batch):
  """pix2pix's step from its definition: BCE on every patch, D on (source, target) against
  (source, output), then G on the adversarial loss + content_weight x L1 through the new D."""
  g, d = nets.generators['g'], nets.discriminators['d']
  source, target = batch['source'][0], batch['target'][0]
  step_key = jax.random.fold_in(state.key, state.step)
  keys = jnp.stack([jax.random.fold_in(step_key, j) for j in range(source.shape[0])])
  bce = lambda logits, label: jnp.mean(optax.sigmoid_binary_cross_entropy(
      logits, jnp.full_like(logits, label)))

  def run(model, params, stats, *inputs):
    out, new = model.apply({'params': params, 'batch_stats': stats}, *inputs, train=True,
                           mutable=['batch_stats'])
    return out, new['batch_stats']

  output, g_stats = run(g, state.g_params['g'], state.g_batch_stats['g'], source, keys)

  def d_objective(params):
    real, stats = run(d, params['d'], state.d_batch_stats['d'],
                      jnp.concatenate([source, target], -1))
    fake, stats = run(d, params['d'], stats, jnp.concatenate([source, output], -1))
    return bce(real, 1) + bce(fake, 0), stats

  d_grads, d_stats = jax.grad(d_objective, has_aux=True)(state.d_params)
  d_updates, d_opt = state.d_tx.update(d_grads, state.d_opt_state, state.d_params)
  d_params = optax.apply_updates(state.d_params, d_updates)

  def g_objective(params):
    out, _ = run(g, params['g'], state.g_batch_stats['g'], source, keys)
    logits, _ = run(d, d_params['d'], d_stats, jnp.concatenate([source, out], -1))
    return (config.adversarial_weight * bce(logits, 1) +
            config.content_weight * jnp.mean(jnp.abs(out - target)))

  g_loss, g_grads = jax.value_and_grad(g_objective)(state.g_params)
  g_updates, g_opt = state.g_tx.update(g_grads, state.g_opt_state, state.g_params)
  g_params = optax.apply_updates(state.g_params, g_updates)
  decay = jnp.minimum(config.ema_decay, (1.0 + state.step) / (10.0 + state.step))
  ema = jax.tree.map(lambda e, p: decay * e + (1 - decay) * p, state.g_ema_params, g_params)
  return dict(g_params=g_params, d_params=d_params, g_ema_params=ema, g_opt_state=g_opt,
              d_opt_state=d_opt, g_batch_stats={'g': g_stats}, d_batch_stats={'d': d_stats}), g_loss


def run_steps(config, devices, steps=2, dataset=RandomPairs()):
  """(state, last metrics) after `steps` train steps on `devices` devices, from the same data."""
  mesh = Mesh(np.array(jax.devices()[:devices]), ('data',))
  run = build_run(config, dataset=dataset)
  state = parallel.replicate(run.state, mesh)
  train_step = make_train_step(config, run.nets, mesh)
  for step in range(steps):
    batch = parallel.shard_batch(dataset.batch(step), mesh)
    with jax.transfer_guard('disallow'):  # Inside the step, nothing moves implicitly.
      state, metrics = train_step(state, batch)
  return jax.device_get(state), jax.device_get(metrics)


# Weights and learning rates other than the defaults, so that a swapped term would show.
@pytest.mark.parametrize('overrides', [{'content_weight': 10.0, 'optim.d_lr': 5e-4}])
def test_paired_step_equals_the_reference(overrides):
  config = small_config(sync_batch_norm=False, **overrides)  # The reference runs on no mesh.
  run = build_run(config, dataset=RandomPairs())
  nets, state = run.nets, run.state
  state = state.replace(g_ema_params=jax.tree.map(lambda p: p + 0.5, state.g_ema_params))
  for metrics in steps_match_reference(config, nets, state, reference_step, RandomPairs().batch):
    np.testing.assert_allclose(metrics['g_loss'], config.adversarial_weight *
                               metrics['g_adversarial_loss'] + config.content_weight *
                               metrics['g_content_loss'],
                               rtol=1e-5)


def steps_match_reference(config, nets, state, reference_step, batch, steps=2):
  """Runs the train step (on one device) and `reference_step(config, nets, state, batch) ->
  (expected state fields, g_loss)` from the same states; asserts they agree, yields metrics."""
  mesh = Mesh(np.array(jax.devices()[:1]), ('data',))
  train_step = make_train_step(config, nets, mesh)
  reference = jax.jit(lambda s, b: reference_step(config, nets, s, b))
  for step in range(steps):
    expected, g_loss = jax.device_get(reference(state, batch(step)))
    state, metrics = jax.device_get(train_step(parallel.replicate(state, mesh),
                                               parallel.shard_batch(batch(step), mesh)))
    for name, tree in expected.items():
      jax.tree.map(lambda want, got: np.testing.assert_allclose(
          got, want, rtol=2e-5, atol=2e-6, err_msg=f'{name} at step {step}'),
                   tree, getattr(state, name))
    np.testing.assert_allclose(metrics['g_loss'], g_loss, rtol=1e-5)
    yield metrics


def test_paired_eight_devices_match_one():
  one, metrics1 = run_steps(small_config(), 1)
  eight, metrics8 = run_steps(small_config(), 8)
  for name in ('g_params', 'd_params', 'g_ema_params', 'g_batch_stats', 'd_batch_stats',
               'g_opt_state', 'd_opt_state'):
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5),
                 getattr(one, name), getattr(eight, name))
  for key in metrics1:
    np.testing.assert_allclose(metrics1[key], metrics8[key], rtol=2e-4, atol=1e-5, err_msg=key)


def test_pix2pix_runlocal_end_to_end_and_exact_resume(tmp_path, tfds_dir, monkeypatch):
  from test_train import assert_same_run, interrupt_and_resume, read_state, run_four_logged_steps
  full, resumed = str(tmp_path / 'full'), str(tmp_path / 'resumed')
  config, result, last = run_four_logged_steps(
      pix2pix_edges2mnist.get_config('runlocal'), tfds_dir, full,
      ('d_loss', 'g_loss', 'g_content_loss', 'g_adversarial_loss', 'eval/psnr', 'eval/ssim',
       'eval/accuracy_mnist_cnn', 'eval/fd_mnist_cnn'))
  assert 0 <= last['eval/accuracy_mnist_cnn'] <= 1 and last['eval/psnr_num_samples'] == 64
  assert 'the targets of mnist:test' in last['eval/psnr_protocol']
  assert 'the labels of the sources' in last['eval/accuracy_mnist_cnn_protocol']
  assert 'of the generator (no average) at step' in last['eval/accuracy_mnist_cnn_protocol']
  figure = np.asarray(Image.open(result['figure']))
  assert figure.shape[:2] == (8 * 30 + 2, 6 * 30 + 2)  # 8 rows of 2 x (source, output, target).

  # Stopped while step 4 runs, resumed from checkpoint 2: the same run.
  interrupt_and_resume(config, resumed, monkeypatch, stop_at=4)
  state, _ = assert_same_run(config, full, resumed, 4)
  assert jax.tree.leaves(state.g_batch_stats) and jax.tree.leaves(state.d_batch_stats)
  dataset = data.build(config)
  assert dataset.shape == (28, 28, 1) and dataset.source_shape == (28, 28, 1)

  # The trained generator on a user's images of any size: python -m gan_jax.translate.
  from gan_jax import translate
  os.makedirs(tmp_path / 'in')
  _save(str(tmp_path / 'in' / 'wide.png'), np.zeros((20, 44, 3), np.uint8))
  _save(str(tmp_path / 'in' / 'digit.png'), (paired.edges(dataset.targets[:1])[0, ..., 0]))
  assert translate.main(['--workdir', full, '--input', str(tmp_path / 'in'),
                         '--output', str(tmp_path / 'out')]) == 0
  assert np.asarray(Image.open(tmp_path / 'out' / 'wide.png')).shape == (20, 44)
  assert np.asarray(Image.open(tmp_path / 'out' / 'digit.png')).shape == (28, 28)
  # The output is the generator's on that input (checkpoint 4's EMA generator).
  state = read_state(full, config, 4)
  nets = paired_family.networks(config, dataset)
  source = dataset.sources[:1].astype(np.float32) / 127.5 - 1
  expected = nets.generators['g'].apply(
      {'params': state.g_ema_params['g'], 'batch_stats': state.g_batch_stats['g']}, source,
      train=False)
  np.testing.assert_allclose(np.asarray(Image.open(tmp_path / 'out' / 'digit.png')),
                             np.round((np.asarray(expected)[0, ..., 0] + 1) * 127.5), atol=1)

  # python -m gan_jax.evaluate on the workdir: the values the run logged at its last step.
  from gan_jax import evaluate
  assert evaluate.main(['--workdir', full, '--metrics', 'psnr,accuracy', '--extractor',
                        'mnist_cnn', '--num_samples', '64']) == 0
  with open(os.path.join(full, 'evaluate_4.json')) as f:
    scored = json.load(f)
  for key in ('eval/psnr', 'eval/psnr_y', 'eval/accuracy_mnist_cnn'):
    assert scored[key] == pytest.approx(last[key], rel=1e-6), key


def _save(path, array):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.fromarray(array).save(path)


def test_paired_folder_reads_matching_names_and_rejects_the_rest(tmp_path):
  rng = np.random.default_rng(0)
  for name in ('a.png', 'b.png'):
    _save(tmp_path / 'ok' / 'A' / name, rng.integers(0, 255, (16, 16, 3), dtype=np.uint8))
    _save(tmp_path / 'ok' / 'B' / name, rng.integers(0, 255, (16, 16, 3), dtype=np.uint8))
  sources, targets = paired.load_paired_folder(str(tmp_path / 'ok'), 0)
  assert sources.shape == targets.shape == (2, 16, 16, 3)
  np.testing.assert_array_equal(targets[1], np.asarray(Image.open(tmp_path / 'ok' / 'B' / 'b.png')))
  _save(tmp_path / 'names' / 'A' / 'a.png', np.zeros((16, 16, 3), np.uint8))
  _save(tmp_path / 'names' / 'B' / 'c.png', np.zeros((16, 16, 3), np.uint8))
  with pytest.raises(DataError, match=r"same names; unmatched: \['a.png', 'c.png'\]"):
    paired.load_paired_folder(str(tmp_path / 'names'), 0)
  _save(tmp_path / 'sizes' / 'A' / 'a.png', np.zeros((16, 16, 3), np.uint8))
  _save(tmp_path / 'sizes' / 'B' / 'a.png', np.zeros((24, 24, 3), np.uint8))
  with pytest.raises(DataError, match=r'sources of size \(16, 16\) cannot be paired with targets '
                     r'of size \(24, 24\)'):
    paired.load_paired_folder(str(tmp_path / 'sizes'), 0)
  os.makedirs(tmp_path / 'one_side' / 'A')
  with pytest.raises(DataError, match='needs subfolders A/ .* there is no .*one_side/B'):
    paired.load_paired_folder(str(tmp_path / 'one_side'), 0)


def test_paired_config_mistakes_fail_validation():
  c = small_config()
  c.dataset.source = 'sketch'
  with pytest.raises(ConfigError, match="config.dataset.source: unknown 'sketch'"):
    check(c)
  c = small_config()
  c.dataset.source = ''
  with pytest.raises(ConfigError, match='paired training needs \\(source, target\\) pairs'):
    check(c)
  c = small_config(n_critic=2)
  with pytest.raises(ConfigError, match='config.n_critic: paired training'):
    check(c)
  c = pix2pix_edges2mnist.get_config('runlocal')
  c.family = 'noise'
  with pytest.raises(ConfigError, match='config.family: noise-to-image training takes images'):
    check(c)


def test_srresnet_and_srgan_discriminator_have_the_papers_sizes():
  from gan_jax.models.srgan import SRGANDiscriminator, SRResNetGenerator
  # Ledig et al. Fig. 4, x4, one-slope PReLUs: conv9 (15,616) + PReLU + 16 blocks of 2 conv3,
  # 2 BN, 1 PReLU (74,113 each) + conv3 and BN (37,056) + 2 x (conv3 to 256 ch + PReLU: 147,713)
  # + conv9 to RGB (15,555) = 1,549,462.
  g = SRResNetGenerator((32, 32, 3), scale=4)
  assert _count(g, (8, 8, 3)) == 1_549_462
  out = jax.eval_shape(lambda: g.apply(g.init(jax.random.key(0), jnp.zeros((1, 8, 8, 3)),
                                              train=False), jnp.zeros((2, 10, 6, 3)), train=False))
  assert out.shape == (2, 40, 24, 3)  # Fully convolutional: any size, x4.
  d = SRGANDiscriminator()
  # 96x96 inputs (the paper's crops): 8 convolutions to 6x6x512, dense 1024, dense 1.
  convs = sum(9 * a * b + b for a, b in zip((3, 64, 64, 128, 128, 256, 256, 512),
                                           (64, 64, 128, 128, 256, 256, 512, 512)))
  norms = 2 * (64 + 128 + 128 + 256 + 256 + 512 + 512)
  assert _count(d, (96, 96, 3)) == convs + norms + 6 * 6 * 512 * 1024 + 1024 + 1025


def test_pixel_shuffle_has_pytorchs_channel_order():
  from gan_jax.models.srgan import pixel_shuffle
  # PyTorch: out[n, c, h r + i, w r + j] = in[n, c r^2 + i r + j, h, w] (NCHW).
  x = np.arange(2 * 3 * 2 * 8).reshape(2, 3, 2, 8).astype(np.float32)  # NHWC, C = 2 x 2^2
  out = np.asarray(pixel_shuffle(jnp.asarray(x), 2))
  assert out.shape == (2, 6, 4, 2)
  for c in range(2):
    for i in range(2):
      for j in range(2):
        np.testing.assert_array_equal(out[:, i::2, j::2, c], x[..., c * 4 + i * 2 + j])


def test_content_loss_on_classifier_features_is_zero_only_at_the_target(tfds_dir):
  from experiments import srgan_cifar
  from gan_jax.train.families.paired import content_loss, content_network
  config = srgan_cifar.get_config('runlocal')
  fixed = {'content': content_network(config)}
  nets = type('Nets', (), {'fixed': fixed})
  target = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (4, 32, 32, 3)), jnp.float32)
  assert float(content_loss(target, target, config, nets)) == 0
  assert float(content_loss(target * 0.5, target, config, nets)) > 0
  config.content_network = '/nowhere/weights.npz'
  with pytest.raises(ConfigError, match='config.content_network: no classifier weights at '
                     '/nowhere/weights.npz'):
    content_network(config)


def test_scale_that_does_not_divide_the_image_is_one_error_line(tmp_path, tfds_dir, capsys):
  import launch
  from experiments import srgan_cifar
  from test_bad_input import one_error_line
  config = srgan_cifar.get_config('runlocal,scale=3')
  config.dataset.data_dir = tfds_dir
  assert launch.train(config, str(tmp_path)) == 1
  assert 'config.dataset.scale: 3 does not divide the image size 32x32' in one_error_line(
      capsys.readouterr().err)
  assert not os.path.exists(tmp_path / 'checkpoints')


def test_translate_bad_input_is_one_error_line(tmp_path, capsys):
  from experiments import gan_grid
  from gan_jax import translate
  from test_bad_input import one_error_line
  os.makedirs(tmp_path / 'noise')
  with open(tmp_path / 'noise' / 'config.json', 'w') as f:
    f.write(gan_grid.get_config('runlocal').to_json_best_effort())
  os.makedirs(tmp_path / 'in')
  with open(tmp_path / 'in' / 'broken.png', 'wb') as f:
    f.write(b'not an image')
  cases = [([str(tmp_path / 'noise'), str(tmp_path / 'in')], 'trained a noise GAN (from noise)'),
           ([str(tmp_path / 'nowhere'), str(tmp_path / 'in')], 'config.json: not found'),
           ([str(tmp_path / 'noise'), str(tmp_path / 'missing')], 'missing: no such file or folder')]
  for (workdir, input_path), message in cases:
    assert translate.main(['--workdir', workdir, '--input', input_path, '--output',
                           str(tmp_path / 'out')]) == 2
    assert message in one_error_line(capsys.readouterr().err)
  (tmp_path / 'out.png').write_bytes(b'a file the user keeps')
  before = (tmp_path / 'out.png').read_bytes()
  assert translate.main(['--workdir', str(tmp_path / 'noise'), '--input', str(tmp_path / 'in'),
                         '--output', str(tmp_path / 'out.png')]) == 2
  captured = capsys.readouterr()
  assert captured.out == '' and captured.err == (
      f'error: --output {tmp_path / "out.png"}: is a file; give a folder (it is created if '
      'missing)\n')
  assert (tmp_path / 'out.png').read_bytes() == before
  with pytest.raises(DataError, match='broken.png: cannot be decoded as an image'):
    from gan_jax.data.images import decode_image_file
    decode_image_file(str(tmp_path / 'in' / 'broken.png'))


def test_colorfulness_in_closed_form():
  grey = np.random.default_rng(0).uniform(-1, 1, (2, 8, 8, 1)).repeat(3, axis=-1)
  assert scores.colorfulness(grey) == pytest.approx(0.0, abs=1e-9)
  red = np.zeros((1, 8, 8, 3))
  red[..., 0], red[..., 1:] = 1.0, -1.0  # R 255, G = B = 0: rg 255, yb 127.5, no spread.
  assert scores.colorfulness(red) == pytest.approx(0.3 * np.hypot(255, 127.5))
  halves = red.copy()
  halves[:, :, 4:] = -1.0  # Half red, half black: rg and yb spread around their means.
  rg, yb = np.array([255.0] * 4 + [0.0] * 4), np.array([127.5] * 4 + [0.0] * 4)
  assert scores.colorfulness(halves) == pytest.approx(
      np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def test_colorization_runlocal(tmp_path, tfds_dir):
  from experiments import pix2pix_colorize_cifar
  config = pix2pix_colorize_cifar.get_config('runlocal')
  config.dataset.data_dir = tfds_dir
  config.num_steps = config.eval_every = 2
  for entry in config.evals.values():
    entry.every = 2
  train_and_evaluate(config, str(tmp_path))
  last = read_jsonl(tmp_path / 'metrics.jsonl')[-1]
  assert last['step'] == 2 and 0 < last['eval/colorfulness'] < 200
  assert 0 <= last['eval/accuracy_cifar10_cnn'] <= 1 and np.isfinite(last['eval/psnr_y'])
  dataset = data.build(config)
  assert dataset.source_shape == (32, 32, 1) and dataset.shape == (32, 32, 3)


def test_div2k_by_name_on_mock_data(monkeypatch, tmp_path):
  # tfds's mock data stands in for the download (mocked too) a user's machine would make.
  import tensorflow_datasets as tfds
  from experiments import srgan_cifar
  monkeypatch.setattr(data.images, '_network_reachable', lambda urls: True)
  config = srgan_cifar.get_config('runlocal')
  config.dataset.update(name='div2k/bicubic_x4', image_size=32, split='train',
                        data_dir=str(tmp_path))
  check(config)
  assert data.is_paired(config)
  with tfds.testing.mock_data(num_examples=5):
    dataset = data.build_on_one_process(config)
    assert dataset.sources.shape == (5, 8, 8, 3) and dataset.targets.shape == (5, 32, 32, 3)
    config.dataset.scale = 2
    with pytest.raises(DataError, match='config.dataset.scale: 2, but div2k/bicubic_x4 is '
                       'downsampled 4x'):
      data.build_on_one_process(config).sources
    config.dataset.update(scale=4, image_size=0)
    with pytest.raises(DataError, match='config.dataset.image_size: div2k/bicubic_x4 holds 2K'):
      data.build_on_one_process(config).sources


def test_each_output_is_scored_against_the_target_of_its_own_source(tfds_dir, monkeypatch):
  """A generator whose outputs are the true targets, read here on their own, scores PSNR inf and
  SSIM 1 through the family's sampler and the evaluators: output i meets target i. Outputs
  that are not their sources' targets (the same targets, one place apart) do not."""
  from gan_jax.metrics import evaluators
  config = pix2pix_edges2mnist.get_config('runlocal')
  config.dataset.data_dir = tfds_dir
  config.evals = {'psnr': dict(metric='psnr', num_samples=16),
                  'ssim': dict(metric='ssim', num_samples=16)}
  config.eval.best_metric = ''
  config = check(config)
  truth = config.copy_and_resolve_references()
  truth.dataset.split = config.dataset.test_split
  targets = data.build_on_one_process(truth).first(16)['target']
  run = build_run(config, checked=True)
  sampler = paired_family.evaluation_sampler(config, run.nets, run.dataset, None)
  kind = paired_family.sample_kind(config, run.nets, run.dataset)
  quality = evaluators.Evaluators(config, kind, None)
  for outputs, perfect in ((targets, True), (np.roll(targets, 1, axis=0), False)):
    monkeypatch.setattr(sampler, 'translate', lambda state, sources, direction='ab': outputs)
    scalars, texts = quality(sampler(None), ['psnr', 'ssim'], 'outputs')
    assert (scalars['eval/psnr'] == float('inf')) is perfect
    assert (scalars['eval/ssim'] == pytest.approx(1.0)) is perfect
  assert f'the targets of {config.dataset.name}:{config.dataset.test_split}' in texts['eval/psnr_protocol']
