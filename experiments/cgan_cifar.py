"""Class-conditional SNGAN on CIFAR-10: conditional-BatchNorm ResNet generator, projection
discriminator with spectral normalization, hinge loss (Miyato & Koyama 2018).

Published for CIFAR-10 (conditional, projection; Table 1 of Miyato & Koyama): FID 17.5,
intra-FID 23.4, Inception score 8.62. Evaluators here: FID, IS and intra-FID every 10k steps. Setup: batch 64, Adam lr 2e-4,
beta1 0, beta2 0.9, 5 discriminator updates per generator update, 100k generator updates,
linear learning-rate decay. Samples come from the EMA generator.

Variants: `runlocal` (seconds), `seed=N`.
"""

from experiments.common import parse_arg
from experiments.sngan_cifar import VARIANTS, sngan_cifar_config


def get_config(arg: str | None = None):
  c = sngan_cifar_config(arg, conditional=True)
  if not parse_arg(arg, **VARIANTS).runlocal:  # The conditional setup trains twice as long.
    c.num_steps = 100_000
    c.eval_every = c.checkpoint_every = 10_000
    # The paper's intra-FID: 5,000 samples per class against that class's 5,000 training images.
    c.evals.intra_fid = dict(metric='intra_fd', every=c.get_ref('eval_every'), num_samples=50_000)
  return c


def get_sweep(arg: str | None = None):
  """`launch.py --sweep`: both learning rates (log-uniform around the paper's 2e-4), the
  discriminator updates per generator update, and each Adam beta1; 24 trials (8 per n_critic),
  by the FID (the CIFAR-10 classifier's Fréchet distance with `runlocal`), stopping the worst
  early (ASHA)."""
  return dict(
      params={'optim.g_lr': {'loguniform': (5e-5, 1e-3)},
              'optim.d_lr': {'loguniform': (5e-5, 1e-3)},
              'n_critic': [1, 2, 5],
              'optim.g_b1': {'choice': (0.0, 0.5)},
              'optim.d_b1': {'choice': (0.0, 0.5)}},
      metric=get_config(arg).eval.best_metric,
      num_trials=24,
      scheduler='asha')
