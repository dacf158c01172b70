"""The original GAN on the 2-D grid of 25 Gaussians, PacGAN protocol (Lin et al. 2018, Table 1).

Published (Table 1, 2D-grid, GAN): 17.3 ± 0.8 modes, 94.8 ± 0.7 % high-quality samples,
reverse KL 0.70 ± 0.07; PacGAN4: 24.8 ± 0.2, 93.6 ± 0.6 %, 0.04 ± 0.01.

Variants (comma-separated): `pack=N` (PacGAN-N), `seed=N`, `runlocal` (seconds), `demo` (a recipe
that learns in half a minute, `make demo`; see `gan_ring.demo_recipe`).
"""

from experiments.gan_ring import toy_config


def get_config(arg: str | None = None):
  return toy_config('grid', arg)
