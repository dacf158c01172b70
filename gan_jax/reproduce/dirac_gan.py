"""The Dirac-GAN (Mescheder, Geiger & Nowozin 2018, Figs. 1-3 and Sec. 2-4).

The data are a point mass at 0, the generator a point mass at θ, the discriminator D(x) = ψ·x. The
only equilibrium is (θ, ψ) = (0, 0). Each game is gan_jax's own loss and regularizer code
(`gan_jax.losses`) on these logits, trained by gradient descent with simultaneous or alternating
updates from (θ, ψ) = (1, 1). The paper proves: unregularized GANs and WGANs do not converge
(simultaneous updates spiral out, alternating ones circle for ever; Lemmas 2.2-2.4, Fig. 1-2),
nor does WGAN-GP (Sec. 3.2, Fig. 3b); instance noise and zero-centred gradient penalties (R1)
converge for small enough step sizes (Theorems 4.1-4.2, Fig. 3c-d). Closed-form behaviour:
seconds on a CPU, no data.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import losses
from gan_jax.reproduce import Report

PAPER = 'Mescheder, Geiger & Nowozin 2018, "Which Training Methods for GANs do actually Converge?"'
FIGURE = 'Figs. 1-3: Dirac-GAN training dynamics'
BUDGETS = ('short', 'full')
PUBLISHED = 'converges: instance noise, R1; does not: GAN, WGAN, WGAN-GP (both update orders)'

# (name, loss, regularizer, its weight, what the paper shows for (simultaneous, alternating))
GAMES = (
    ('GAN', 'minimax', None, 0.0, ('diverges', 'circles')),
    ('WGAN', 'wasserstein', None, 0.0, ('diverges', 'circles')),
    ('WGAN-GP', 'wasserstein', 'gp', 1.0, ('does not converge',) * 2),
    ('instance noise', 'minimax', 'noise', 0.7, ('converges',) * 2),
    ('R1', 'minimax', 'r1', 1.0, ('converges',) * 2),
)
STEP_SIZE = 0.1
STEPS = {'short': 2_000, 'full': 10_000}
NOISE_SAMPLES = 256  # instance noise: the expectation over noise by a fixed set of draws


def _losses(loss: str, regularizer: str | None, weight: float):
  """d_loss(θ, ψ) and g_loss(θ, ψ) of one game, through gan_jax.losses."""
  game = losses.LOSSES[loss]
  real = jnp.zeros((1, 1))
  noise = (weight * jax.random.normal(jax.random.key(0), (NOISE_SAMPLES, 1))
           if regularizer == 'noise' else jnp.zeros((1, 1)))

  def d_loss(theta, psi):
    critic = lambda x: (psi * x).sum(-1)
    fake = theta + noise
    value = game.d_loss(critic(real + noise), critic(fake))
    if regularizer == 'r1':  # gamma/2 E||grad D(x)||^2 on real data
      value += 0.5 * weight * losses.r1_penalty(critic, real)
    if regularizer == 'gp':  # any mix: the critic is linear
      value += weight * losses.gradient_penalty(critic, real, fake[:1], jnp.full((1,), 0.5))
    return value

  def g_loss(theta, psi):
    return game.g_loss((psi * (theta + noise)).sum(-1))
  return d_loss, g_loss


@functools.partial(jax.jit, static_argnames=('loss', 'regularizer', 'alternating', 'steps'))
def trajectory(loss: str, regularizer: str | None, weight: float, alternating: bool, steps: int,
               step_size: float = STEP_SIZE, start=(1.0, 1.0)) -> jax.Array:
  """[steps + 1, 2] points (θ, ψ) of gradient descent on the game from `start`."""
  d_loss, g_loss = _losses(loss, regularizer, weight)
  d_grad = jax.grad(d_loss, argnums=1)
  g_grad = jax.grad(g_loss, argnums=0)

  def step(point, _):
    theta, psi = point
    new_psi = psi - step_size * d_grad(theta, psi)
    new_theta = theta - step_size * g_grad(theta, new_psi if alternating else psi)
    new = jnp.stack([new_theta, new_psi])
    return new, new
  start = jnp.asarray(start, jnp.float32)
  _, points = jax.lax.scan(step, start, None, length=steps)
  return jnp.concatenate([start[None], points])


def outcome(points: np.ndarray) -> str:
  """converges (ends within 1% of the start's distance to the equilibrium), diverges (the distance
  still grows: its mean over the last quarter of the steps is over 5% above that over the second
  quarter), or circles (neither: bounded, not converging)."""
  distance = np.hypot(*np.asarray(points, np.float64).T)  # inf where the iterates overflowed
  if np.isfinite(distance[-1]) and distance[-1] < 0.01 * distance[0]:
    return 'converges'
  quarter = len(distance) // 4
  late, earlier = distance[-quarter:].mean(), distance[quarter:2 * quarter].mean()
  return 'diverges' if not np.isfinite(late) or late > 1.05 * earlier else 'circles'


def _figure(runs: dict):
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  fig, axes = plt.subplots(2, len(GAMES), figsize=(3 * len(GAMES), 6), squeeze=False)
  for row, alternating in enumerate((False, True)):
    for col, (name, *_rest) in enumerate(GAMES):
      ax = axes[row, col]
      points = runs[name, alternating]
      shown = points[np.all(np.abs(points) < 2.5, axis=1)]
      ax.plot(shown[:, 0], shown[:, 1], lw=0.8)
      ax.plot([1], [1], 'go', ms=4)
      ax.plot([0], [0], 'r*', ms=8)
      ax.set(xlim=(-2.5, 2.5), ylim=(-2.5, 2.5), xlabel='θ', ylabel='ψ' if col == 0 else None,
             title=f'{name}, {"alternating" if alternating else "simultaneous"}\n{outcome(points)}')
      ax.set_aspect('equal')
  fig.tight_layout()
  return fig


def reproduce(budget: str, out: str) -> Report:
  steps = STEPS[budget]
  rows, runs, checks = [], {}, {}
  for name, loss, regularizer, weight, published in GAMES:
    for alternating in (False, True):
      points = np.asarray(trajectory(loss, regularizer, weight, alternating, steps), np.float64)
      runs[name, alternating] = points
      ours, paper = outcome(points), published[alternating]
      order = 'alternating' if alternating else 'simultaneous'
      rows.append([name, order, f'{np.hypot(*points[-1]):.3g}', ours, paper])
      converges = paper == 'converges'
      checks[f'{name} with {order} updates {"converges" if converges else "does not converge"}'] = (
          (ours == 'converges') == converges)
  setting = (f'h = {STEP_SIZE}, {steps:,} steps from (θ, ψ) = (1, 1); instance noise σ = 0.7 '
             f'({NOISE_SAMPLES} fixed draws), R1 γ = 1, WGAN-GP λ = 1')
  return Report(
      title=f'{PAPER}, {FIGURE}',
      columns=['game', 'updates', 'distance to (0, 0) at the end', 'ours', 'the paper'],
      rows=rows,
      protocol=(f'{setting}. Losses and penalties are gan_jax.losses on the logits ψ·x: minimax (the '
                'paper\'s f(t) = -log(1 + exp(-t)), for GAN, instance noise and R1), wasserstein, '
                'r1_penalty (γ/2 ||∇D||² on real data), gradient_penalty. "converges": ends within '
                '1% of the starting distance to (0, 0); "diverges": the distance still grows '
                '(last quarter of the steps > 1.05 × second quarter); "circles": neither.'),
      commands=[f'python -m gan_jax.reproduce dirac_gan --budget {budget} --out {out}'],
      figures={'dirac_gan': _figure(runs)},
      checks=checks)
