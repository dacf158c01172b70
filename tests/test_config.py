"""Config arguments, validation errors that name the field, and launch.py's bad-input messages."""

import subprocess
import sys

import pytest

from conftest import ROOT, subprocess_env
from experiments import gan_grid, gan_ring
from experiments.common import parse_arg
from gan_jax.config import ConfigError, check_devices
from gan_jax.train.checks import check


def test_parse_arg():
  arg = parse_arg('runlocal,pack=2', pack=1, seed=0, runlocal=False)
  assert arg.pack == 2 and arg.runlocal is True and arg.seed == 0
  with pytest.raises(ConfigError, match="'pakc'"):
    parse_arg('pakc=2', pack=1)
  with pytest.raises(ConfigError, match="'pack=two'"):
    parse_arg('pack=two', pack=1)


@pytest.mark.parametrize('module', [gan_ring, gan_grid])
@pytest.mark.parametrize('arg', [None, 'runlocal', 'demo', 'pack=4,seed=3'])
def test_toy_experiments_validate(module, arg):
  check(module.get_config(arg))


@pytest.mark.parametrize('name,args', [
    ('dcgan_mnist', [None, 'runlocal', 'conditional', 'acgan,seed=2', 'projection']),
    ('dcgan_cifar', [None, 'runlocal', 'acgan']),
    ('wgan_gp_cifar', [None, 'runlocal']),
    ('sngan_cifar', [None, 'runlocal']),
    ('cgan_cifar', [None, 'runlocal', 'seed=1']),
    ('dcgan_stacked_mnist', [None, 'runlocal', 'pack=2']),
    ('pix2pix_edges2mnist', [None, 'runlocal', 'l1only']),
    ('pix2pix_colorize_cifar', [None, 'runlocal', 'l1only']),
    ('srgan_cifar', [None, 'runlocal', 'srresnet', 'scale=2']),
    ('cyclegan_mnist_mnistm', [None, 'runlocal', 'seed=3']),
    ('stylegan2_cifar', [None, 'runlocal', 'conditional,ada', 'diffaug,data=5000', 'small'])])
def test_image_experiments_validate(name, args):
  import importlib
  module = importlib.import_module(f'experiments.{name}')
  for arg in args:
    config = module.get_config(arg)
    check(config)
    assert module.__doc__ and 'runlocal' in module.__doc__
    if arg and 'runlocal' in arg:
      # 16 for StyleGAN2: minibatch-std groups of 2 on each of 8 devices.
      assert config.num_steps <= 4 and config.batch_size <= (16 if 'style' in name else 8)
      # Offline and quick: no Inception, every evaluator at the last step on few samples.
      from gan_jax.metrics import evaluators
      assert all((e.extractor != 'inception' or e.metric in evaluators.WITHOUT_EXTRACTOR) and
                 e.every == config.num_steps and e.num_samples <= 64
                 for e in evaluators.entries(config).values()), name
    else:
      assert config.evals and config.eval.best_metric, name


def test_pacgan_protocol():
  c = gan_grid.get_config('pack=3')
  assert c.dataset.name == 'grid' and c.pack == 3 and c.batch_size == 100
  assert c.num_steps == 400_000 and c.latent_dim == 2
  assert (c.optim.g_lr, c.optim.g_b1) == (1e-4, 0.8)
  assert c.generator.hidden == (400, 400) and c.generator.activation == 'relu'
  assert c.discriminator.hidden == (200, 200) and c.discriminator.maxout_k == 5
  assert gan_ring.get_config().dataset.name == 'ring'


@pytest.mark.parametrize('path,value,message', [
    ('loss', 'hing', "config.loss: unknown loss 'hing'"),
    ('batch_size', 0, 'config.batch_size: must be positive'),
    ('batch_size', -4, 'config.batch_size: must be positive'),
    ('batch_size', 'many', 'config.batch_size: expected int'),
    ('optim.g_lr', 'fast', 'config.optim.g_lr: expected float'),
    ('optim.schedule', 'cosine', 'config.optim.schedule'),
    ('ema_decay', 1.0, 'config.ema_decay'),
    ('dataset.name', 'spiral', "config.dataset.name: unknown dataset 'spiral'"),
    ('dataset.image_size', -1, 'config.dataset.image_size: must be >= 0'),
    ('dataset.read', 'lazily', "config.dataset.read: 'lazily'; use one of"),
    ('dataset.read', 'stream', "config.dataset.read: 'stream' reads tfds image datasets"),
    ('generator.name', 'dcgan9', "config.generator.name: unknown model 'dcgan9'"),
    ('discriminator.activation', 'tanh', 'config.discriminator.activation'),
])
def test_validate_names_the_field(path, value, message):
  config = gan_grid.get_config('runlocal')
  *parents, leaf = path.split('.')
  node = config
  for p in parents:
    node = node[p]
  with node.ignore_type():
    node[leaf] = value
  with pytest.raises(ConfigError, match=message.replace('(', r'\(')):
    check(config)


def test_unknown_fields():
  config = gan_grid.get_config('runlocal')
  config.lerning_rate = 0.1
  with pytest.raises(ConfigError, match='config.lerning_rate: unknown field'):
    check(config)
  config = gan_grid.get_config('runlocal')
  config.generator.widths = (3,)
  with pytest.raises(ConfigError, match='config.generator.widths: not a field of MLPGenerator'):
    check(config)
  config = gan_grid.get_config('runlocal')
  config.generator.out_shape = (3,)  # Comes from the dataset, not the config.
  with pytest.raises(ConfigError, match='config.generator.out_shape'):
    check(config)


def test_batch_must_divide_over_devices():
  config = gan_grid.get_config('runlocal')
  check_devices(config, 4)
  with pytest.raises(ConfigError, match='config.batch_size: 100 is not divisible by the 8 devices'):
    check_devices(config, 8)


def launch(*args, devices=1):
  env = subprocess_env(devices)
  return subprocess.run([sys.executable, 'launch.py', *args], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=300)


# What the command line itself rejects (flags, overrides, the config file), in a subprocess.
@pytest.mark.parametrize('args,message', [
    (['--config', 'experiments/nope.py'], 'nope.py'),
    (['--config', 'experiments/gan_grid.py:runlocal', '--config.optim.g_lrr=1e-3'], 'g_lrr'),
    (['--config', 'experiments/gan_grid.py:runlocal', '--config.batch_size=ten'], 'batch_size'),
    (['--config', 'experiments/gan_grid.py:runlocal,pakc=2'], "'pakc'"),
])
def test_launch_bad_input_one_clear_line(tmp_path, args, message):
  result = launch(*args, '--workdir', str(tmp_path / 'w'))
  assert result.returncode != 0
  assert 'Traceback' not in result.stderr, result.stderr
  error_lines = [l for l in result.stderr.splitlines() if l.startswith('error:')]
  assert len(error_lines) == 1, result.stderr
  assert message in error_lines[0]
  assert not (tmp_path / 'w' / 'checkpoints').exists()  # Failed before anything was built.


# What launch.py's run rejects once the config is parsed: in this process (8 devices), through
# the same `launch.train` that prints the error line.
@pytest.mark.parametrize('experiment,overrides,message', [
    ('gan_grid:runlocal', {'loss': 'hing'}, "config.loss: unknown loss 'hing'"),
    ('gan_grid:runlocal', {'batch_size': 0}, 'config.batch_size: must be positive'),
    ('gan_grid:runlocal', {'optim.g_lr': float('nan')},
     'config.optim.g_lr: must be a finite number, got nan'),
    ('gan_grid:runlocal', {'batch_size': 96, 'evals.fid': {'metric': 'fd'}},
     'config.evals.fid: sample-quality metrics need an image dataset'),
    ('gan_grid:runlocal', {'batch_size': 6}, 'config.batch_size: 6 is not divisible by the 8 devices'),
    ('gan_grid:runlocal', {'num_seeds': 3, 'batch_size': 100},
     'config.num_seeds: each of the 3 seeds splits its batch of 100 over the 8 devices'),
    ('gan_grid:runlocal', {'num_seeds': 0}, 'config.num_seeds: must be positive'),
    ('dcgan_mnist:runlocal,conditional', {'dataset.name': 'cifar11'},
     "config.dataset.name: unknown dataset 'cifar11'"),
    ('dcgan_mnist:runlocal,conditional', {'dataset.name': 'folder:EMPTY'}, 'no images'),
    ('dcgan_mnist:runlocal,conditional', {'generator.num_classes': 100},
     'config.generator.num_classes: 100, but the dataset has 10 classes'),
    ('dcgan_mnist:runlocal,conditional', {'dataset.data_dir': 'NOTHING', 'dataset.download': False},
     'gan_jax.data.prepare'),
])
def test_run_bad_input_one_clear_line(tmp_path, tfds_dir, capsys, experiment, overrides, message):
  import importlib
  from test_bad_input import run_launch
  (tmp_path / 'images' / 'class_a').mkdir(parents=True)
  module, _, arg = experiment.partition(':')
  config = importlib.import_module(f'experiments.{module}').get_config(arg)
  config.dataset.data_dir = tfds_dir
  for key, value in overrides.items():
    if isinstance(value, str):
      value = value.replace('EMPTY', str(tmp_path / 'images')).replace('NOTHING',
                                                                          str(tmp_path / 'nothing'))
    *parents, leaf = key.split('.')
    node = config
    for name in parents:
      node = node[name]
    node[leaf] = value
  assert message in run_launch(capsys, config, tmp_path / 'w')
  assert not (tmp_path / 'w' / 'checkpoints').exists()  # Failed before anything was built.


def test_every_evaluator_of_an_experiment_is_reached_from_the_command_line(tmp_path):
  """The experiments' entry names are Python names, not keywords (an entry named `is` cannot be
  overridden: `--config.evals.is.num_samples` does not parse): an override reaches the entry, and
  a bad value is one line before anything runs."""
  import keyword
  import subprocess
  import sys
  from conftest import ROOT
  from experiments import dcgan_mnist
  for name in dcgan_mnist.get_config('runlocal').evals:
    assert name.isidentifier() and not keyword.iskeyword(name), name
  result = subprocess.run(
      [sys.executable, 'launch.py', '--config', 'experiments/dcgan_mnist.py:runlocal', '--workdir',
       str(tmp_path / 'run'), '--config.evals.inception_score.num_samples=1'],
      cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1] == (
      'error: config.evals.inception_score.num_samples: is needs at least 10 samples, got 1')
  assert not (tmp_path / 'run').exists()
