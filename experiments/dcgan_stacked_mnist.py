"""DCGAN on Stacked-MNIST (three MNIST digits as colour channels: 1000 modes), the mode-collapse
benchmark of Metz et al. 2017, VEEGAN and PacGAN (Lin et al. 2018, Table 3).

Published (PacGAN Table 3, 26,000 samples): DCGAN 99.0 modes, KL 3.40; PacDCGAN2 1000.0 modes,
KL 0.06. Modes are counted by classifying each channel with gan_jax's MNIST classifier
(`mnist_cnn`, stated accuracy in its file) instead of the papers' own MNIST classifiers.

Variants: `runlocal` (seconds), `pack=N` (PacDCGAN), `seed=N`.
"""

from experiments.common import parse_arg, shrink_for_runlocal
from gan_jax.train.families import base_config


def get_config(arg: str | None = None):
  arg = parse_arg(arg, runlocal=False, pack=1, seed=0)
  c = base_config('noise')
  c.seed = arg.seed
  c.dataset.name = 'stacked_mnist'
  c.dataset.num_train = 128_000
  c.batch_size = 64
  c.pack = arg.pack
  c.latent_dim = 100
  c.generator.update(name='dcgan', ch=64)
  c.discriminator.update(name='dcgan', ch=64)
  c.optim.update(g_lr=2e-4, d_lr=2e-4, g_b1=0.5, d_b1=0.5)
  c.num_steps = 20_000
  c.log_every = 100
  c.eval_every = c.checkpoint_every = 2000
  c.evals.modes = dict(metric='stacked_modes', every=c.get_ref('eval_every'), num_samples=26_000,
                       extractor='mnist_cnn')
  c.eval.best_metric = 'stacked_modes'
  if arg.runlocal:
    shrink_for_runlocal(c)
    c.dataset.num_train = 1024
    c.evals.modes.num_samples = 64
  return c
