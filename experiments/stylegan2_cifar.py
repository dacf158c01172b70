"""StyleGAN2 on CIFAR-10 32x32 as the StyleGAN2-ADA paper trains it (Karras et al. 2020,
"Training Generative Adversarial Networks with Limited Data", stylegan2-ada-pytorch's
`cfg_specs['cifar']`): batch 64, minibatch-std groups of 32, 512 channels at every resolution,
a mapping network of 2 layers, D `orig`, Adam lr 0.0025 betas (0, 0.99), R1 gamma 0.01 every 16
steps, no path-length regularization, no style mixing, EMA half-life 500 kimg with ramp-up 0.05,
100,000 kimg (1,562,500 steps). FID of 50,000 samples against the training set: the paper's
Table 2 reports 5.59 (ADA, unconditional; 2.92 conditional) from the full data.

Variants: `runlocal` (seconds on a CPU); `conditional` (label embedding in G, projection in D);
`ada` (p steered to E[sign(D(real))] = 0.6, 500 kimg to move p by 1) or `diffaug` (DiffAugment
color,translation,cutout); `data=N` (the first N training images: the paper's limited-data
settings); `small` (128 channels, the size this repository's CPU results use); `seed=N`.

The minibatch-std group is 32 consecutive examples of the global batch, so each device's batch
must hold whole groups: 1 or 2 devices take the paper's batch of 64; on 8 devices give
`--config.batch_size=256` or `--config.discriminator.mbstd_group=8`.
"""

from experiments.common import parse_arg, set_evals, shrink_for_runlocal
from gan_jax.train.families import base_config

VARIANTS = dict(runlocal=False, conditional=False, ada=False, diffaug=False, data=0, small=False,
                seed=0)


def get_config(arg: str | None = None):
  arg = parse_arg(arg, **VARIANTS)
  c = base_config('style')
  c.seed = arg.seed
  c.dataset.name = 'cifar10'
  if arg.data:
    c.dataset.split = f'train[:{arg.data}]'
  c.batch_size = 64
  c.latent_dim = 512
  c.loss = 'non_saturating'
  conditioning = 'class' if arg.conditional else 'none'
  c.generator.update(name='stylegan2', conditioning=conditioning, map_layers=2,
                     channel_base=32768, channel_max=512, w_dim=512)
  c.discriminator.update(name='stylegan2', conditioning=conditioning, architecture='orig',
                         channel_base=32768, channel_max=512, mbstd_group=32)
  if arg.conditional:  # Checked against the dataset's label count.
    c.generator.num_classes = c.discriminator.num_classes = 10
  c.optim.update(g_lr=0.0025, d_lr=0.0025, g_b1=0.0, d_b1=0.0, g_b2=0.99, d_b2=0.99)
  c.r1_gamma, c.d_reg_interval = 0.01, 16
  c.pl_weight, c.mixing_prob = 0.0, 0.0
  c.ema_kimg, c.ema_rampup = 500.0, 0.05
  c.num_steps = 100_000_000 // c.batch_size
  c.log_every = 100
  c.eval_every = c.checkpoint_every = 10_000
  if arg.ada or arg.diffaug:
    c.augment.name = 'ada' if arg.ada else 'diffaugment'
  if arg.small:
    c.latent_dim = c.generator.w_dim = 128
    c.generator.channel_max = c.discriminator.channel_max = 128
  set_evals(c, 'inception', num_samples=50_000)
  if arg.runlocal:
    shrink_for_runlocal(c)
    c.latent_dim = c.generator.w_dim = 16
    c.generator.channel_max = c.discriminator.channel_max = 16
    c.batch_size = 16  # two per device on 8 devices: groups of 2
    c.discriminator.mbstd_group = 2
    c.ema_kimg = 0.01
  return c
