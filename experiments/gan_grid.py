"""The original GAN on the 2-D grid of 25 Gaussians, PacGAN protocol (Lin et al. 2018, Table 1).

Published (Table 1, 2D-grid, GAN): 17.3 ± 0.8 modes, 94.8 ± 0.7 % high-quality samples,
reverse KL 0.70 ± 0.07; PacGAN4: 24.8 ± 0.2, 93.6 ± 0.6 %, 0.04 ± 0.01.

Variants (comma-separated): `pack=N` (PacGAN-N), `seed=N`, `runlocal` (seconds), `demo` (a recipe
that learns in half a minute, `make demo`; see `gan_ring.demo_recipe`).
"""

from experiments.common import parse_arg
from experiments.gan_ring import VARIANTS, toy_config


def get_config(arg: str | None = None):
  return toy_config('grid', arg)


def get_sweep(arg: str | None = None):
  """`launch.py --sweep`: learning rates (log-uniform) and pack size 1, 2 or 4, 4 trials each,
  by modes covered, stopping the worst trials early (ASHA). With `runlocal`: packs 1 and 2 only."""
  runlocal = parse_arg(arg, **VARIANTS).runlocal
  return dict(
      params={'optim.g_lr': {'loguniform': (1e-4, 2e-3)},
              'optim.d_lr': {'loguniform': (1e-4, 2e-3)},
              'pack': [1, 2] if runlocal else [1, 2, 4]},
      metric='modes_covered',
      num_trials=2 if runlocal else 12,
      scheduler=None if runlocal else 'asha')
