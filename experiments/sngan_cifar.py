"""SNGAN (Miyato et al. 2018) on CIFAR-10: ResNet, spectral normalization, hinge loss.

Reproduces Table 2, "SN-GANs" with the ResNet of Table 4 (unconditional): published
Inception score 8.22 ± 0.05, FID 21.7 ± 0.21. Setup (Table 1, setting C): batch 64,
Adam lr 2e-4, beta1 0, beta2 0.9, 5 discriminator updates per generator update, 50k
generator updates, linear decay.

Variants: `runlocal` (seconds), `seed=N`.
"""

from experiments.common import parse_arg, set_evals, shrink_for_runlocal
from gan_jax.train.families import base_config

VARIANTS = dict(runlocal=False, seed=0)


def sngan_cifar_config(arg: str | None, conditional: bool):
  """The SNGAN CIFAR-10 setup; with `conditional`, the projection cGAN (used by cgan_cifar.py)."""
  arg = parse_arg(arg, **VARIANTS)
  c = base_config('noise')
  c.seed = arg.seed
  c.dataset.name = 'cifar10'
  c.batch_size = 64
  c.n_critic = 5
  c.latent_dim = 128
  c.loss = 'hinge'
  c.ema_decay = 0.9999
  c.generator.update(name='resnet', ch=256, conditioning='cbn' if conditional else 'none')
  c.discriminator.update(name='resnet', ch=128, spectral_norm=True,
                         conditioning='projection' if conditional else 'none')
  if conditional:  # Checked against the dataset's label count.
    c.generator.num_classes = c.discriminator.num_classes = 10
  c.optim.update(g_lr=2e-4, d_lr=2e-4, g_b1=0.0, d_b1=0.0, g_b2=0.9, d_b2=0.9,
                 schedule='linear')
  c.num_steps = 50_000
  c.log_every = 100
  c.eval_every = c.checkpoint_every = 5000
  set_evals(c, 'inception')  # FID: 10k samples vs the 50k training images; IS: 50k samples.
  if arg.runlocal:
    shrink_for_runlocal(c)
  return c


def get_config(arg: str | None = None):
  return sngan_cifar_config(arg, conditional=False)
