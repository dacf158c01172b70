"""The compiled step: 1 device and 8 devices give the same new state; packing; EMA; CPU options."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh

from experiments import gan_grid
from gan_jax import data, parallel
from gan_jax.train.families import noise
from gan_jax.train.parts import pack
from gan_jax.train.run import build_run
from gan_jax.train.state import initial_state
from gan_jax.train.step import make_train_step
from conftest import RandomImages


def small_config(**overrides):
  config = gan_grid.get_config('runlocal')
  config.batch_size = 16
  config.n_critic = 2
  config.pack = 2
  config.ema_decay = 0.9
  config.optim.g_lr = config.optim.d_lr = 1e-2
  for key, value in overrides.items():
    config[key] = value
  return config


def run_steps(config, num_devices, steps=3):
  mesh = Mesh(np.array(jax.devices()[:num_devices]), ('data',))
  run = build_run(config)
  state = parallel.replicate(run.state, mesh)
  train_step = make_train_step(config, run.nets, mesh)
  for step in range(steps):
    batch = parallel.shard_batch(run.dataset.batch(step), mesh)
    with jax.transfer_guard('disallow'):  # Inside the step, nothing moves implicitly.
      state, metrics = train_step(state, batch)
  return jax.device_get(state), jax.device_get(metrics)


@pytest.mark.parametrize('overrides', [
    dict(),
    dict(loss='wasserstein', gp_weight=10.0, pack=1),
    dict(loss='hinge', r1_weight=1.0),
])
@pytest.mark.quick
def test_eight_devices_match_one(overrides):
  assert jax.device_count() == 8
  config = small_config(**overrides)
  state1, metrics1 = run_steps(config, 1)
  state8, metrics8 = run_steps(config, 8)
  assert int(state8.step) == 3
  for name in ('g_params', 'd_params', 'g_ema_params', 'g_opt_state', 'd_opt_state'):
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-6),
                 getattr(state1, name), getattr(state8, name))
  assert metrics1.keys() == metrics8.keys()
  for key in metrics1:
    np.testing.assert_allclose(metrics1[key], metrics8[key], rtol=2e-4, atol=1e-5, err_msg=key)
  if overrides.get('gp_weight'):
    assert 'gp' in metrics8
  # The run moved: parameters differ from their initial values.
  init = build_run(config).state
  assert not np.allclose(init.g_params['g']['Dense_0']['kernel'],
                         state8.g_params['g']['Dense_0']['kernel'])


def test_state_is_replicated_and_donated():
  config = small_config()
  mesh = parallel.make_mesh()
  run = build_run(config)
  state = parallel.replicate(run.state, mesh)
  train_step = make_train_step(config, run.nets, mesh)
  batch = parallel.shard_batch(run.dataset.batch(0), mesh)
  assert batch['x'].shape == (2, 32, 2) and len(batch['x'].sharding.device_set) == 8
  old_kernel = state.d_params['d']['Dense_0']['kernel']
  new_state, _ = train_step(state, batch)
  assert old_kernel.is_deleted()  # Donated: updated in place.
  assert new_state.d_params['d']['Dense_0']['kernel'].sharding.is_fully_replicated


def test_pack_concatenates_consecutive_samples():
  x = jnp.arange(12.0).reshape(6, 2)
  np.testing.assert_array_equal(pack(x, 3), [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11]])
  images = jnp.arange(2 * 2 * 2 * 3.0).reshape(2, 2, 2, 3)  # NHWC
  packed = pack(images, 2)
  assert packed.shape == (1, 2, 2, 6)
  np.testing.assert_array_equal(packed[0, ..., :3], images[0])
  np.testing.assert_array_equal(packed[0, ..., 3:], images[1])
  assert pack(x, 1) is x


@pytest.mark.parametrize('step,decay', [(0, 0.1), (1, 2 / 11), (100, 0.75)])
def test_ema_with_warm_up_and_step_counter(step, decay):
  # decay = min(ema_decay, (1 + step) / (10 + step)).
  config = small_config(ema_decay=0.75, n_critic=1)
  run = build_run(config)
  dataset, nets, state = run.dataset, run.nets, run.state
  state = state.replace(step=jnp.array(step, jnp.int32),
                        g_ema_params=jax.tree.map(lambda p: p + 1.0, state.g_ema_params))
  new, _ = jax.jit(lambda s, b: noise.update(s, b, config=config, nets=nets, axis_name=None))(
      state, dataset.batch(0))
  assert int(new.step) == step + 1
  jax.tree.map(lambda ema, old, p: np.testing.assert_allclose(
      ema, decay * old + (1 - decay) * p, rtol=1e-5, atol=1e-6),
               new.g_ema_params, state.g_ema_params, new.g_params)


def image_config(sync_batch_norm):
  from experiments import dcgan_mnist
  config = dcgan_mnist.get_config('runlocal,conditional')
  config.sync_batch_norm = sync_batch_norm
  config.n_critic = 1
  return config


def run_image_steps(config, num_devices, steps=2):
  mesh = Mesh(np.array(jax.devices()[:num_devices]), ('data',))
  run = build_run(config, dataset=RandomImages(updates=2))
  state = parallel.replicate(run.state, mesh)
  train_step = make_train_step(config, run.nets, mesh)
  for step in range(steps):
    batch = parallel.shard_batch(run.dataset.batch(step), mesh)
    with jax.transfer_guard('disallow'):
      state, _ = train_step(state, batch)
  return jax.device_get(state)


@pytest.mark.quick
def test_synchronized_batch_norm_makes_eight_devices_match_one():
  one = run_image_steps(image_config(True), 1)
  eight = run_image_steps(image_config(True), 8)
  for name in ('g_params', 'd_params', 'g_batch_stats', 'd_batch_stats'):
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5),
                 getattr(one, name), getattr(eight, name))
  # Per-device statistics (the default) see 2 examples per device instead of 16: they differ.
  per_device = run_image_steps(image_config(False), 8)
  assert not np.allclose(per_device.g_params['g']['ConvTranspose_0']['kernel'],
                         one.g_params['g']['ConvTranspose_0']['kernel'], rtol=1e-3, atol=1e-5)


def ynn_convolutions(compiled) -> int:
  """Convolutions that a compiled CPU program hands to YNNPACK."""
  hlo = compiled.as_text()
  bodies = dict(re.findall(r'^%?(\S+) [^\n]*\{\n(.*?)\n\}', hlo, re.S | re.M))
  called = re.findall(r'calls=%(\S+?),.*__ynn_fusion', hlo)
  return sum(bodies.get(name, '').count(' convolution(') for name in called)


@pytest.mark.skipif(jax.default_backend() != 'cpu', reason='a CPU compiler option')
def test_cpu_train_step_keeps_convolutions_on_xla():
  config = image_config(False)
  # 16 channels: with XLA's default options this step has 7 YNNPACK convolutions.
  config.generator.ch = config.discriminator.ch = 16
  mesh = Mesh(np.array(jax.devices()[:1]), ('data',))
  run = build_run(config, dataset=RandomImages(updates=2))
  state = parallel.replicate(run.state, mesh)
  batch = parallel.shard_batch(run.dataset.batch(0), mesh)
  step = make_train_step(config, run.nets, mesh)
  assert ynn_convolutions(step.lower(state, batch).compile()) == 0
  # Without gan_jax's options, XLA:CPU gives convolutions to YNNPACK (slower here: RESULTS.md).
  x, kernel = jnp.ones((16, 28, 28, 3)), jnp.ones((4, 4, 3, 64))
  conv = lambda x, k: jax.lax.conv_general_dilated(x, k, (2, 2), 'SAME',
                                                   dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  assert ynn_convolutions(jax.jit(conv).lower(x, kernel).compile()) > 0
  assert ynn_convolutions(jax.jit(conv, compiler_options=parallel.compiler_options())
                          .lower(x, kernel).compile()) == 0


def test_compiled_programs_are_kept_per_config_networks_devices_and_code(tmp_path, monkeypatch):
  config = small_config()
  dataset = data.build(config)
  nets = noise.networks(config, dataset)
  one = Mesh(np.array(jax.devices()[:1]), ('data',))
  eight = Mesh(np.array(jax.devices()), ('data',))
  step = make_train_step(config, nets, eight)
  assert make_train_step(small_config(), noise.networks(config, dataset), eight) is step
  assert make_train_step(config, nets, one) is not step  # other devices
  # Fields only the loop reads (logging, evaluation, where the data are) make no other program:
  # a resumed, evaluated or translated run reuses its run's. They are not there to be traced.
  elsewhere = small_config()
  elsewhere.log_every, elsewhere.checkpoint_every = 7, 3
  elsewhere.dataset.data_dir, elsewhere.evals = '/elsewhere', {'fd': {'metric': 'fd'}}
  assert make_train_step(elsewhere, nets, eight) is step
  from gan_jax.train import compiled
  traced_fields = compiled.reuse('probe', config, nets, None, lambda c: set(c.keys()))
  assert traced_fields and not traced_fields & set(compiled.LOOP_ONLY)
  assert make_train_step(small_config(n_critic=1), nets, eight) is not step  # other config
  wider = small_config()
  wider.generator.hidden = (64, 64, 64)
  assert make_train_step(config, noise.networks(wider, dataset), eight) is not step  # other nets
  # An edited family module, reloaded (a notebook), is not served the program of its old code.
  source = tmp_path / 'noise.py'
  with open(noise.__file__) as f:
    source.write_text(f.read())
  monkeypatch.setattr(noise, '__file__', str(source))
  assert make_train_step(config, nets, eight) is step  # The same code.
  source.write_text(source.read_text() + '\n# edited\n')
  assert make_train_step(config, nets, eight) is not step
  # The kept program was built from a copy: changing the caller's config before its first call
  # (when it is traced) changes nothing.
  config.n_critic = 1
  from gan_jax.train.step import _make_train_step
  fresh = _make_train_step(small_config(), nets, eight)
  batch = parallel.shard_batch(dataset.batch(0), eight)  # 2 critic updates' rows
  results = [jax.device_get(f(parallel.replicate(initial_state(small_config(), nets), eight), batch))
             for f in (step, fresh)]
  for a, b in zip(*results):
    jax.tree.map(np.testing.assert_array_equal, a.replace(key=None) if hasattr(a, 'key') else a,
                 b.replace(key=None) if hasattr(b, 'key') else b)
