"""DCGAN (Radford et al. 2015) on CIFAR-10 at 32x32.

The Inception score usually quoted for DCGAN on CIFAR-10 is 6.16 ± 0.07 (as listed in
Gulrajani et al. 2017, Table 3, unsupervised). The setup of dcgan_mnist.py (the paper's)
on CIFAR-10, for 50k generator updates.

Variants: those of dcgan_mnist.py: `runlocal`, `conditional`, `acgan`, `seed=N`.
"""

from experiments import dcgan_mnist
from experiments.common import parse_arg, set_evals


def get_config(arg: str | None = None):
  c = dcgan_mnist.get_config(arg)
  c.dataset.name = 'cifar10'
  runlocal = parse_arg(arg, **dcgan_mnist.VARIANTS).runlocal
  if not runlocal:
    c.num_steps = 50_000
    c.eval_every = c.checkpoint_every = 5000
  set_evals(c, 'cifar10_cnn', 64, 64) if runlocal else set_evals(c, 'inception')
  return c
