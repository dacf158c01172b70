"""The original GAN on the 2-D ring of 8 Gaussians, PacGAN protocol (Lin et al. 2018, Table 1).

Published (Table 1, 2D-ring, GAN): 6.3 ± 0.5 modes, 98.2 ± 0.2 % high-quality samples,
reverse KL 0.45 ± 0.09; PacGAN4: 7.8 ± 0.1, 95.9 ± 1.4 %, 0.07 ± 0.02.

Variants (comma-separated): `pack=N` (PacGAN-N), `seed=N`, `runlocal` (seconds), `demo` (a minute).
"""

from gan_jax.config import base_config, parse_arg


def toy_config(dataset: str, arg: str | None):
  """The PacGAN Table 1 setup on a toy dataset; shared by gan_ring.py and gan_grid.py."""
  arg = parse_arg(arg, pack=1, seed=0, runlocal=False, demo=False)
  c = base_config()
  c.seed = arg.seed
  c.dataset.name = dataset
  c.dataset.num_train = 100_000
  c.batch_size = 100
  c.pack = arg.pack
  c.latent_dim = 2
  c.loss = 'non_saturating'
  c.ema_decay = 0.0  # The paper scores the generator itself.
  c.generator.update(name='mlp', hidden=(400, 400), activation='relu')
  c.discriminator.update(name='mlp', hidden=(200, 200), activation='maxout', maxout_k=5)
  c.optim.update(g_lr=1e-4, d_lr=1e-4, g_b1=0.8, d_b1=0.8, g_b2=0.999, d_b2=0.999)
  c.num_steps = 400 * c.dataset.num_train // c.batch_size  # 400 epochs.
  c.log_every = 1000
  c.eval_every = 20_000
  c.checkpoint_every = 20_000
  c.eval.num_samples = 2500
  if arg.demo:
    c.num_steps = 4000  # Keeps `make demo`, install included, under 2 minutes on 2 cores.
    c.log_every = 500
    c.eval_every = c.checkpoint_every = 2000
  if arg.runlocal:
    c.num_steps = 20
    c.log_every = 5
    c.eval_every = c.checkpoint_every = 10
    c.eval.num_samples = 500
    c.generator.hidden = (64, 64)
    c.discriminator.hidden = (32, 32)
  return c


def get_config(arg: str | None = None):
  return toy_config('ring', arg)
