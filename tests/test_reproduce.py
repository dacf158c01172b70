"""`python -m gan_jax.reproduce`: each figure at tiny settings, its published claims, bad input."""

import os

import numpy as np
import pytest

from gan_jax import reproduce
from gan_jax.reproduce import __main__ as cli
from gan_jax.reproduce import (cas, cyclegan_ablation, dcgan_latent_walks,
                               dcgan_vector_arithmetic, dirac_gan, discriminator_features,
                               equilibrium, pacgan_table1, pix2pix_ablation, stacked_mnist,
                               super_resolution)
from test_bad_input import one_error_line


def test_list_names_every_figure(capsys):
  assert cli.main(['--list']) == 0
  out = capsys.readouterr().out
  for name in reproduce.NAMES:
    assert f'| {name} | {reproduce.module(name).PAPER} |' in out


def test_dirac_gan_outcomes_are_the_papers_theorems(tmp_path, capsys):
  """Mescheder et al. 2018: unregularized GAN and WGAN do not converge (simultaneous updates
  spiral out, alternating ones circle), nor does WGAN-GP; instance noise and R1 converge."""
  assert cli.main(['dirac_gan', '--out', str(tmp_path)]) == 0
  assert {'dirac_gan.md', 'dirac_gan.png'} <= set(os.listdir(tmp_path))
  markdown = (tmp_path / 'dirac_gan.md').read_text()
  assert '## Protocol' in markdown and 'python -m gan_jax.reproduce dirac_gan' in markdown
  assert 'DOES NOT HOLD' not in markdown
  steps = dirac_gan.STEPS['short']
  outcome = lambda game, alternating: dirac_gan.outcome(np.asarray(dirac_gan.trajectory(
      *next(g[1:4] for g in dirac_gan.GAMES if g[0] == game), alternating, steps)))
  assert outcome('GAN', False) == 'diverges' and outcome('GAN', True) == 'circles'
  assert outcome('WGAN', False) == 'diverges' and outcome('WGAN', True) == 'circles'
  assert outcome('WGAN-GP', False) != 'converges' and outcome('WGAN-GP', True) != 'converges'
  for game in ('instance noise', 'R1'):
    assert outcome(game, False) == outcome(game, True) == 'converges'
  # The step size matters: R1's convergence is for small enough steps (Theorem 4.1).
  big_steps = dirac_gan.trajectory('minimax', 'r1', 1.0, False, steps, step_size=3.0)
  assert dirac_gan.outcome(np.asarray(big_steps)) != 'converges'


def batch_of_96(monkeypatch, module, config_function: str) -> None:
  """The toy protocols' batch of 100 does not split over the tests' 8 devices: 96 instead."""
  paper_config = getattr(module, config_function)

  def config_with_96(*args):
    config = paper_config(*args)
    config.batch_size = 96
    return config
  monkeypatch.setattr(module, config_function, config_with_96)


def test_pacgan_table1_at_tiny_settings(tmp_path, capsys, monkeypatch):
  batch_of_96(monkeypatch, pacgan_table1, 'cell_config')
  monkeypatch.setitem(pacgan_table1.PROTOCOLS, 'short', (0.004, 2, (1, 2), ('grid',)))
  out = tmp_path / 'pacgan_table1'
  assert cli.main(['pacgan_table1', '--out', str(out)]) == 0
  markdown = (out / 'pacgan_table1.md').read_text()
  assert '| grid | GAN | ' in markdown and '| grid | PacGAN2 | ' in markdown
  assert '17.3 ± 0.8, 94.8 ± 0.7, 0.70 ± 0.07' in markdown  # published, beside ours
  assert 'covers more modes than GAN' in markdown
  assert os.path.isfile(out / 'pacgan_table1.png')
  runs = sorted(os.listdir(tmp_path / 'runs'))
  assert runs == ['grid_pack1_0.004ep_2seeds', 'grid_pack2_0.004ep_2seeds']
  log = tmp_path / 'runs' / runs[0] / 'metrics.jsonl'
  before = log.read_text()
  assert cli.main(['pacgan_table1', '--out', str(out)]) == 0  # finished runs are read back
  assert log.read_text() == before
  assert '| read back |' in (out / 'pacgan_table1.md').read_text()
  assert os.listdir(tmp_path / 'runs' / runs[0] / 'checkpoints') == ['4']


def test_equilibrium_at_tiny_settings(tmp_path, monkeypatch):
  batch_of_96(monkeypatch, equilibrium, 'run_config')
  monkeypatch.setitem(equilibrium.PROTOCOLS, 'short', (40, 2, 2))
  report = equilibrium.reproduce('short', str(tmp_path / 'equilibrium'))
  assert [row[0] for row in report.rows] == [20, 40]  # one row per checkpoint
  for row in report.rows:  # D is a probability, mean ± s.e. over the 2 seeds
    for cell in row[1:3]:
      assert 0 <= float(cell.split(' ± ')[0]) <= 1
  assert report.rows[-1][-1] == '½ at the equilibrium'
  assert len(report.checks) == 1 and 'within 0.1 of ½' in next(iter(report.checks))
  path = report.write(str(tmp_path), 'equilibrium')
  assert os.path.isfile(tmp_path / 'equilibrium.png') and 'num_seeds=2' in open(path).read()


def test_stacked_mnist_at_tiny_settings(tmp_path, tfds_dir, monkeypatch):
  monkeypatch.setenv('TFDS_DATA_DIR', tfds_dir)
  paper_config = stacked_mnist.cell_config

  def tiny(*args):  # runlocal's sizes: 1,024 stacked images, 64 samples scored
    config = paper_config(*args)
    config.dataset.num_train, config.evals.modes.num_samples = 1024, 64
    return config
  monkeypatch.setattr(stacked_mnist, 'cell_config', tiny)
  monkeypatch.setitem(stacked_mnist.PROTOCOLS, 'short', (2, 2, (1, 2)))
  report = stacked_mnist.reproduce('short', str(tmp_path / 'stacked_mnist'))
  assert [row[0] for row in report.rows] == ['DCGAN', 'PacDCGAN2']
  for row in report.rows:
    assert 1 <= float(row[1].split(' ± ')[0]) <= 64  # modes among 64 samples
    assert 0 <= float(row[2].split(' ± ')[0]) <= np.log(1000) + 0.005  # (2 decimals)
  assert report.rows[1][3] == '1000.0, 0.06' and len(report.checks) == 1
  report.write(str(tmp_path / 'stacked_mnist'), 'stacked_mnist')
  assert os.path.isfile(tmp_path / 'stacked_mnist' / 'stacked_mnist.png')


def test_dcgan_figures_share_one_run_at_tiny_settings(tmp_path, tfds_dir, monkeypatch):
  """discriminator_features, dcgan_latent_walks and dcgan_vector_arithmetic train dcgan_mnist
  once, in runs/ beside their out folders."""
  monkeypatch.setenv('TFDS_DATA_DIR', tfds_dir)
  monkeypatch.setitem(dcgan_latent_walks.PROTOCOLS, 'short', (4, 3))
  walks = dcgan_latent_walks.reproduce('short', str(tmp_path / 'dcgan_latent_walks'))
  assert [row[0] for row in walks.rows] == ['lerp', 'slerp', 'random latents (no walk)']
  lerp_middle, slerp_middle = (float(walks.rows[i][3].split(' ± ')[0]) for i in (0, 1))
  assert 0.55 < lerp_middle < 0.85 and 0.98 < slerp_middle <= 1.0001  # ~1/sqrt(2) and 1
  assert float(walks.rows[2][1].split(' ± ')[0]) == pytest.approx(1.0, abs=0.35)
  walks.write(str(tmp_path / 'dcgan_latent_walks'), 'dcgan_latent_walks')
  assert os.path.isfile(tmp_path / 'dcgan_latent_walks' / 'dcgan_latent_walks.png')
  log = tmp_path / 'runs' / 'dcgan_mnist_4steps' / 'metrics.jsonl'
  before = log.read_text()

  monkeypatch.setitem(discriminator_features.PROTOCOLS, 'short', (4, (2, 5), 2))
  report = discriminator_features.reproduce('short', str(tmp_path / 'discriminator_features'))
  assert log.read_text() == before and os.listdir(tmp_path / 'runs') == ['dcgan_mnist_4steps']

  monkeypatch.setitem(dcgan_vector_arithmetic.PROTOCOLS, 'short', (4, 200))
  arithmetic = dcgan_vector_arithmetic.reproduce('short', str(tmp_path / 'arithmetic'))
  assert [row[0] for row in arithmetic.rows] == [
      'mean over 1 exemplar', 'mean over 3 exemplars', 'mean over all samples',
      'no arithmetic (the samples of b as they are)']
  assert arithmetic.rows[-1][1] in ('0.0 ± 0.0', 'n/a')  # b's samples are never read as a
  assert len(arithmetic.checks) == 2 and log.read_text() == before
  assert [row[0] for row in report.rows] == [2, 5]
  for row in report.rows:  # test accuracies (%) of pixels, random D, trained D
    for cell in row[1:4]:
      assert 10 <= float(cell.split(' ± ')[0]) <= 100
  assert '(3072-d)' in report.columns[2]  # 4x4 x (64 + 128) channels of the two hidden convs
  assert len(report.checks) == 2
  report.write(str(tmp_path / 'discriminator_features'), 'discriminator_features')
  assert os.path.isfile(tmp_path / 'discriminator_features' / 'discriminator_features.png')


def test_ridge_classifier_and_pooling_on_known_cases():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(60, 5))
  y = (x[:, 0] > 0).astype(int) + 2 * (x[:, 1] > 0)  # 4 classes, linear in two features
  predict, lam = discriminator_features.ridge_classifier(x, y, 4)
  assert (predict(x) == y).mean() > 0.85 and lam in discriminator_features.RIDGE
  images = np.arange(2 * 7 * 7 * 3, dtype=np.float32).reshape(2, 7, 7, 3)
  pooled = np.asarray(discriminator_features.max_pool_to(images, 4))
  assert pooled.shape == (2, 4, 4, 3)  # 7 -> windows of 2 (padded to 8)
  np.testing.assert_array_equal(pooled[:, 0, 0], images[:, 1, 1])
  np.testing.assert_array_equal(pooled[:, 3, 3], images[:, 6, 6])


@pytest.mark.parametrize('args,message', [
    (['dirac', '--out', '{tmp}/o'], "error: unknown figure 'dirac'; known: dirac_gan, "),
    (['dirac_gan', '--budget', 'medium', '--out', '{tmp}/o'],
     'error: --budget medium: dirac_gan offers short, full'),
    (['dirac_gan', '--out', '{tmp}/file'], 'is a file; give a folder'),
])
def test_bad_input_is_one_error_line(tmp_path, capsys, args, message):
  (tmp_path / 'file').write_text('not a folder')
  assert cli.main([a.format(tmp=tmp_path) for a in args]) == 1
  assert message in one_error_line(capsys.readouterr().err)
  assert not os.path.exists(tmp_path / 'o')


def test_vector_arithmetic_on_crafted_latents():
  """Latents whose digit is the sign pattern of their first coordinates: shifting by the
  difference of the class means moves every held-out sample to the target digit."""
  rng = np.random.default_rng(0)
  digits = np.repeat(np.arange(10), 40)
  z = rng.normal(0, 0.05, (400, 12)) + 5.0 * np.eye(10, 12)[digits]
  classify = lambda latents: latents[:, :10].argmax(-1)
  for exemplars in (1, 3, 0):
    rates = dcgan_vector_arithmetic.arithmetic_success(z, digits, classify, exemplars, rng)
    assert len(rates) == 90 and rates.min() == 1.0


def small_runs(monkeypatch, tfds_dir, module, config_function: str, adjust=lambda config: None):
  """The figure's configs on 256 training images, batch 16 and 8-channel networks, datasets from
  the tests' folder."""
  monkeypatch.setenv('TFDS_DATA_DIR', tfds_dir)
  paper_config = getattr(module, config_function)

  def small(*args):
    config = paper_config(*args)
    config.dataset.split, config.batch_size = 'train[:256]', 16
    config.generator.ch = config.discriminator.ch = 8
    adjust(config)
    return config
  monkeypatch.setattr(module, config_function, small)


def test_cas_at_tiny_settings(tmp_path, tfds_dir, monkeypatch):
  """A conditional DCGAN (the projection discriminator; 2 seeds as one program) scored by CAS,
  beside the same classifier trained on as many real images. (The figure runs concat and AC-GAN
  the same way; their runlocal runs are in test_train.)"""
  small_runs(monkeypatch, tfds_dir, cas, 'model_config',
             lambda config: config.evals['cas'].update(num_real=500))
  monkeypatch.setattr(cas, 'MODELS', {'projection': 'projection'})
  monkeypatch.setitem(cas.PROTOCOLS, 'short', (2, 2, 64))
  out = tmp_path / 'cas'
  report = cas.reproduce('short', str(out))
  assert [row[0] for row in report.rows] == ['DCGAN, projection discriminator',
                                             'real data (64 training images)']
  for row in report.rows:
    assert 0 <= float(row[1].split(' ± ')[0]) <= 100
  assert report.rows[-1][3] == cas.PUBLISHED['real'] and len(report.checks) == 2
  assert 'tested on 500 images of mnist:test' in report.protocol
  assert 'dcgan_mnist.py:projection' in '\n'.join(report.commands)
  report.write(str(out), 'cas')
  assert os.path.isfile(out / 'cas.png')
  assert os.listdir(tmp_path / 'runs') == ['cas_projection_2steps_2seeds_64samples']


def test_super_resolution_at_tiny_settings(tmp_path, tfds_dir, monkeypatch):
  """SRResNet, then SRGAN from its checkpoint (runlocal networks), beside bicubic and nearest
  upsampling and the real targets scored by the same evaluators on the same 64 test images."""
  import jax
  from gan_jax.errors import ConfigError
  from gan_jax.train import loop
  from gan_jax.train.writers import read_jsonl
  from test_train import read_state
  monkeypatch.setenv('TFDS_DATA_DIR', tfds_dir)
  paper_config = super_resolution.run_config
  monkeypatch.setattr(super_resolution, 'run_config',
                      lambda variant, *args: paper_config(f'runlocal,{variant}', *args))
  monkeypatch.setitem(super_resolution.PROTOCOLS, 'short', (2, 1, 64))
  started = []

  def init(state, workdir):  # The generator SRGAN starts from (the state is then donated).
    state = loop_init(state, workdir)
    started.append(jax.device_get(state.g_params))
    return state
  loop_init = loop.init_generator_from
  monkeypatch.setattr(loop, 'init_generator_from', init)
  out = tmp_path / 'super_resolution'
  report = super_resolution.reproduce('short', str(out))
  assert [row[0] for row in report.rows] == ['bicubic upsampling', 'nearest upsampling',
                                             'SRResNet', 'SRGAN', 'real targets']
  psnr = {row[0]: float(row[2]) for row in report.rows}
  assert psnr['real targets'] == float('inf') and psnr['bicubic upsampling'] > psnr['nearest upsampling']
  assert report.rows[0][-2] == '28.43 / 0.8211' and len(report.checks) == 3
  runs = tmp_path / 'runs'
  assert sorted(os.listdir(runs)) == ['srgan_cifar_x4_2+1steps', 'srresnet_cifar_x4_2steps']
  # SRResNet trains its generator alone; SRGAN starts from its last checkpoint.
  srresnet_rows = read_jsonl(runs / 'srresnet_cifar_x4_2steps' / 'metrics.jsonl')
  assert 'd_loss' not in srresnet_rows[-1] and np.isfinite(srresnet_rows[-1]['g_content_loss'])
  assert 'border crop 4' in srresnet_rows[-1]['eval/psnr_protocol']
  srresnet_config = super_resolution.run_config('srresnet', 2, 64)
  srresnet_config.dataset.data_dir = tfds_dir
  trained = read_state(str(runs / 'srresnet_cifar_x4_2steps'), srresnet_config, 2)
  jax.tree.map(np.testing.assert_array_equal, started[0], trained.g_params)
  srgan_rows = read_jsonl(runs / 'srgan_cifar_x4_2+1steps' / 'metrics.jsonl')
  assert np.isfinite(srgan_rows[-1]['d_loss']) and np.isfinite(srgan_rows[-1]['g_adversarial_loss'])
  # The bicubic row: the evaluators' PSNR of jax.image.resize's bicubic upsampling of the sources.
  from gan_jax.metrics import baselines, scores
  outputs, _ = baselines.baseline_outputs(srresnet_config, 64)
  bicubic = scores.psnr(outputs['bicubic upsampling'], outputs['real targets'], 4)['psnr']
  assert psnr['bicubic upsampling'] == pytest.approx(bicubic, rel=1e-3)
  report.write(str(out), 'super_resolution')
  assert os.path.isfile(out / 'super_resolution.png')
  missing = super_resolution.run_config(f'init={tmp_path / "nothing"}', 1, 64)
  with pytest.raises(ConfigError, match='config.init_generator_from: no checkpoints in'):
    loop.train_and_evaluate(missing, str(tmp_path / 'srgan2'))


def test_pix2pix_ablation_at_tiny_settings(tmp_path, tfds_dir, monkeypatch):
  """L1 only against L1 + cGAN (2 seeds each as one program, small networks), beside copying
  the edges and the real digits."""
  small_runs(monkeypatch, tfds_dir, pix2pix_ablation, 'run_config')
  monkeypatch.setitem(pix2pix_ablation.PROTOCOLS, 'short', (2, 2, 64))
  out = tmp_path / 'pix2pix_ablation'
  report = pix2pix_ablation.reproduce('short', str(out))
  assert [row[0] for row in report.rows] == ['L1 only', 'L1 + cGAN (pix2pix)', 'real targets',
                                             'copy the input']
  for row in report.rows[:2]:  # mean ± s.e. over the 2 seeds
    assert 0 <= float(row[1].split(' ± ')[0]) <= 1 and ' ± ' in row[2]
  real, copy = report.rows[2], report.rows[3]
  assert real[3] == 'inf' and float(real[1]) > 0.9 and real[-2] == '0.80'
  assert float(copy[1]) < float(real[1]) and len(report.checks) == 2
  report.write(str(out), 'pix2pix_ablation')
  assert os.path.isfile(out / 'pix2pix_ablation.png')
  with open(tmp_path / 'runs' / 'pix2pix_edges2mnist_l1only_2steps_2seeds_64pairs' /
            'config.json') as f:
    assert '"adversarial_weight": 0.0' in f.read()


def test_cyclegan_ablation_at_tiny_settings(tmp_path, tfds_dir, monkeypatch):
  """Cycle alone, GAN alone and CycleGAN (2 seeds each as one program, small networks, pools
  included), beside copying the input and the real targets in each direction."""
  small_runs(monkeypatch, tfds_dir, cyclegan_ablation, 'run_config',
             lambda config: config.generator.update(blocks=1))
  monkeypatch.setitem(cyclegan_ablation.PROTOCOLS, 'short', (2, 1, 64))
  out = tmp_path / 'cyclegan_ablation'
  report = cyclegan_ablation.reproduce('short', str(out))
  assert [row[0] for row in report.rows] == ['Cycle alone', 'GAN alone', 'CycleGAN (GAN + cycle)',
                                             'real targets', 'copy the input']
  for row in report.rows[:3]:  # mean ± s.e. over the 2 seeds
    assert 0 <= float(row[1].split(' ± ')[0]) <= 1 and ' ± ' in row[4]
  real, copy = report.rows[3], report.rows[4]
  assert real[4] == 'inf' and float(real[1]) > 0.9 and float(real[3]) > 0.9
  assert float(copy[2]) > 0 and float(copy[4]) < 10 and len(report.checks) == 3
  assert '--config.adversarial_weight=0.0' in report.commands[1]
  report.write(str(out), 'cyclegan_ablation')
  assert os.path.isfile(out / 'cyclegan_ablation.png')
  runs = sorted(os.listdir(tmp_path / 'runs'))
  assert runs == [f'cyclegan_mnist_mnistm_{v}_2steps_1seeds_64images'
                  for v in ('cycle_alone', 'cyclegan', 'gan_alone')]
  with open(tmp_path / 'runs' / runs[2] / 'config.json') as f:
    assert '"cycle_weight": 0.0' in f.read()
