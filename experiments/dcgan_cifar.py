"""DCGAN (Radford et al. 2015) on CIFAR-10 at 32x32.

The Inception score usually quoted for DCGAN on CIFAR-10 is 6.16 ± 0.07 (as listed in
Gulrajani et al. 2017, Table 3, unsupervised). Setup of the DCGAN paper: Adam lr 2e-4, beta1
0.5, batch 128, non-saturating loss, weights from N(0, 0.02), z of 100 dims.

Variants: `runlocal` (seconds), `seed=N`.
"""

from gan_jax.config import base_config, parse_arg, shrink_for_runlocal


def get_config(arg: str | None = None):
  arg = parse_arg(arg, runlocal=False, seed=0)
  c = base_config()
  c.seed = arg.seed
  c.dataset.name = 'cifar10'
  c.batch_size = 128
  c.latent_dim = 100
  c.loss = 'non_saturating'
  c.ema_decay = 0.999
  c.generator.update(name='dcgan', ch=64)
  c.discriminator.update(name='dcgan', ch=64)
  c.optim.update(g_lr=2e-4, d_lr=2e-4, g_b1=0.5, d_b1=0.5, g_b2=0.999, d_b2=0.999)
  c.num_steps = 50_000
  c.log_every = 100
  c.eval_every = c.checkpoint_every = 5000
  if arg.runlocal:
    shrink_for_runlocal(c)
  return c
