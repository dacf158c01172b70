"""WGAN-GP (Gulrajani et al. 2017) on CIFAR-10: ResNet critic without normalization, gradient
penalty 10, 5 critic updates per generator update.

Reproduces Table 3 (unsupervised, "WGAN-GP ResNet (ours)"): published Inception score
7.86 ± 0.07. Setup: batch 64, Adam lr 2e-4, beta1 0, beta2 0.9, 100k generator updates,
linear decay, 128 channels in both networks.

Variants: `runlocal` (seconds), `seed=N`.
"""

from gan_jax.config import base_config, parse_arg, shrink_for_runlocal


def get_config(arg: str | None = None):
  arg = parse_arg(arg, runlocal=False, seed=0)
  c = base_config()
  c.seed = arg.seed
  c.dataset.name = 'cifar10'
  c.batch_size = 64
  c.n_critic = 5
  c.latent_dim = 128
  c.loss = 'wasserstein'
  c.gp_weight = 10.0
  c.ema_decay = 0.9999
  c.generator.update(name='resnet', ch=128)
  c.discriminator.update(name='resnet', ch=128, spectral_norm=False)
  c.optim.update(g_lr=2e-4, d_lr=2e-4, g_b1=0.0, d_b1=0.0, g_b2=0.9, d_b2=0.9,
                 schedule='linear')
  c.num_steps = 100_000
  c.log_every = 100
  c.eval_every = c.checkpoint_every = 10_000
  if arg.runlocal:
    shrink_for_runlocal(c)
  return c
