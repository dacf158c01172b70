"""bf16 mixed precision (`config.precision`): convolutions and matmuls run in bfloat16 while
parameters, optimizer states, losses and metrics stay float32; every family's losses stay
finite and close to float32's over two steps."""

import os

import jax
import numpy as np
import pytest
from jax.sharding import Mesh

from gan_jax import parallel
from gan_jax.train.checks import check
from gan_jax.errors import ConfigError
from gan_jax.train.run import build_run
from gan_jax.train.step import make_train_step


def noise_case():
  from test_step import RandomImages, image_config
  return image_config(sync_batch_norm=False), RandomImages(updates=2)


def paired_case():
  from test_paired import RandomPairs, small_config
  return small_config(sync_batch_norm=False), RandomPairs()


def cycle_case():
  from test_cycle import RandomDomains, small_config
  return small_config(), RandomDomains()


def run(config, dataset, steps=2):
  mesh = Mesh(np.array(jax.devices()[:1]), ('data',))
  built = build_run(config, dataset=dataset)
  state = parallel.replicate(built.state, mesh)
  train_step = make_train_step(config, built.nets, mesh)
  history = []
  for step in range(steps):
    batch = parallel.shard_batch(dataset.batch(step), mesh)
    state, metrics = train_step(state, batch)
    history.append(jax.device_get(metrics))
  return state, history, train_step.lower(state, batch).as_text()


@pytest.mark.parametrize('case', [noise_case, paired_case, cycle_case])
def test_bf16_losses_stay_finite_and_close_to_f32(case):
  config, dataset = case()
  f32_state, f32_history, f32_program = run(config, dataset)
  config.precision = 'bf16'
  check(config)
  bf16_state, bf16_history, bf16_program = run(config, dataset)
  # The convolutions of the bf16 step take bf16 operands; the f32 step has none.
  assert 'bf16' not in f32_program
  assert any('convolution' in line and 'bf16' in line for line in bf16_program.splitlines())
  for tree in (bf16_state.g_params, bf16_state.d_params, bf16_state.g_opt_state,
               bf16_state.d_batch_stats):
    assert all(x.dtype == np.float32 for x in jax.tree.leaves(tree)
               if np.issubdtype(x.dtype, np.floating))
  for step, (want, got) in enumerate(zip(f32_history, bf16_history)):
    for key in want:
      assert got[key].dtype == np.float32 and np.isfinite(got[key]), (key, step)
      if 'loss' in key:  # bf16 keeps 8 bits of mantissa: agreement to a few percent.
        np.testing.assert_allclose(got[key], want[key], rtol=0.05, atol=0.02,
                                   err_msg=f'{key} at step {step}')


def test_unknown_precision_names_the_field():
  config, _ = noise_case()
  config.precision = 'fp8'
  with pytest.raises(ConfigError, match="config.precision: 'fp8'; use one of"):
    check(config)


def test_bf16_where_the_devices_have_no_bfloat16_is_one_error_line(tmp_path, capsys, monkeypatch):
  import types
  import launch
  from experiments import gan_grid
  from gan_jax.config import check_precision
  from test_bad_input import one_error_line
  t4 = types.SimpleNamespace(platform='gpu', device_kind='Tesla T4', compute_capability='7.5')
  h100 = types.SimpleNamespace(platform='gpu', device_kind='NVIDIA H100 80GB HBM3',
                               compute_capability='9.0')
  config = gan_grid.get_config('runlocal')
  config.precision, config.batch_size = 'bf16', 96  # 8 devices here
  check_precision(config, [h100])
  check_precision(config, jax.devices())  # this CPU
  config.precision = 'f32'
  check_precision(config, [t4])
  config.precision = 'bf16'
  monkeypatch.setattr(jax, 'devices', lambda *args: [t4])
  assert launch.train(config, str(tmp_path / 'run')) == 1
  assert one_error_line(capsys.readouterr().err) == (
      'error: config.precision: bf16, but Tesla T4 (compute capability 7.5) has no bfloat16 '
      'units; bf16 needs compute capability 8.0 or newer (A100, A10, L4, H100, RTX 30xx and '
      'later); use --config.precision=f32')
  assert not os.path.exists(tmp_path / 'run')


def test_an_accelerator_runtime_without_its_accelerator_falls_back_with_a_warning(monkeypatch):
  import importlib.util
  from gan_jax import parallel
  real_find_spec = importlib.util.find_spec
  installed = set()
  monkeypatch.setattr(importlib.util, 'find_spec',
                      lambda name, *a: object() if name in installed else real_find_spec(name, *a))
  assert parallel.accelerator_notice() is None  # this CPU, no accelerator runtime installed
  installed.add('libtpu')
  assert parallel.accelerator_notice().startswith(
      "the TPU runtime (libtpu, from gan_jax's [tpu] extra) is installed, but jax found no TPU: "
      'training on the CPU')
  installed.clear()
  installed.add('jax_cuda13_plugin')
  assert 'found no usable GPU: training on the CPU' in parallel.accelerator_notice()
