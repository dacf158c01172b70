"""DCGAN (Radford et al. 2015) on MNIST 28x28: the architecture and optimizer of the paper.

The paper reports no MNIST score; its Figure/Section 4 setup is reproduced: Adam 2e-4,
beta1 0.5, batch 128, weights from N(0, 0.02), BatchNorm, LeakyReLU 0.2 in D, z of 100 dims.
A few thousand steps give readable digits (README).

Variants: `runlocal` (seconds), `conditional` (label concatenated, Mirza & Osindero 2014),
`acgan` (auxiliary classifier, Odena et al. 2017), `projection` (projection discriminator,
Miyato & Koyama 2018; the generator takes the label as `conditional`'s does), `seed=N`;
`diffaug` (DiffAugment's color,translation,cutout on what D sees, Zhao et al. 2020) or `ada`
(adaptive discriminator augmentation, Karras et al. 2020: p steered to E[sign(D(real))] = 0.6),
for training on few images, e.g. with `--config.dataset.split=train[:600]`.
"""

from experiments.common import parse_arg, set_evals, shrink_for_runlocal
from gan_jax.train.families import base_config

VARIANTS = dict(runlocal=False, conditional=False, acgan=False, projection=False, diffaug=False,
                ada=False, seed=0)


def get_config(arg: str | None = None):
  arg = parse_arg(arg, **VARIANTS)
  c = base_config('noise')
  c.seed = arg.seed
  c.dataset.name = 'mnist'
  c.batch_size = 128
  c.latent_dim = 100
  c.loss = 'non_saturating'
  c.ema_decay = 0.999
  conditioning = ('acgan' if arg.acgan else 'projection' if arg.projection else
                  'concat' if arg.conditional else 'none')
  c.generator.update(name='dcgan', ch=64, conditioning=conditioning)
  c.discriminator.update(name='dcgan', ch=64, conditioning=conditioning)
  if conditioning != 'none':  # Checked against the dataset's label count.
    c.generator.num_classes = c.discriminator.num_classes = 10
  c.optim.update(g_lr=2e-4, d_lr=2e-4, g_b1=0.5, d_b1=0.5, g_b2=0.999, d_b2=0.999)
  c.num_steps = 10_000
  c.log_every = 100
  c.eval_every = c.checkpoint_every = 1000
  if arg.diffaug or arg.ada:
    c.augment.name = 'diffaugment' if arg.diffaug else 'ada'
  set_evals(c, 'mnist_cnn')  # Offline: Fréchet distance and score on gan_jax's MNIST classifier.
  if arg.runlocal:
    shrink_for_runlocal(c)
  return c
