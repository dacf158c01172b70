"""WGAN-GP (Gulrajani et al. 2017) on CIFAR-10: ResNet critic without normalization, gradient
penalty 10, 5 critic updates per generator update.

Reproduces Table 3 (unsupervised, "WGAN-GP ResNet (ours)"): published Inception score
7.86 ± 0.07. Setup: batch 64, Adam lr 2e-4, beta1 0, beta2 0.9, 100k generator updates,
linear decay, 128 channels in both networks. Written as its differences from the SNGAN setup.

Variants: `runlocal` (seconds), `seed=N`.
"""

from experiments.common import parse_arg
from experiments.sngan_cifar import VARIANTS, sngan_cifar_config


def get_config(arg: str | None = None):
  c = sngan_cifar_config(arg, conditional=False)
  c.loss = 'wasserstein'
  c.gp_weight = 10.0
  c.discriminator.spectral_norm = False
  if not parse_arg(arg, **VARIANTS).runlocal:
    c.generator.ch = 128
    c.num_steps = 100_000
    c.eval_every = c.checkpoint_every = 10_000
  return c
