"""GAN losses on discriminator logits, and gradient regularizers; each a small pure function."""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array


class GANLoss(NamedTuple):
  """A discriminator loss of (real_logits, fake_logits) and a generator loss of fake_logits."""
  d_loss: Callable[[Array, Array], Array]
  g_loss: Callable[[Array], Array]


# softplus(-x) = -log sigmoid(x), softplus(x) = -log(1 - sigmoid(x)): stable for any logit.
def _bce_d_loss(real: Array, fake: Array) -> Array:
  return jnp.mean(jax.nn.softplus(-real)) + jnp.mean(jax.nn.softplus(fake))


LOSSES: dict[str, GANLoss] = {
    # Goodfellow et al. 2014, eq. 1: G minimises log(1 - D(G(z))); saturates when D wins.
    'minimax': GANLoss(_bce_d_loss, lambda fake: -jnp.mean(jax.nn.softplus(fake))),
    # Goodfellow et al. 2014, sec. 3: G maximises log D(G(z)) instead.
    'non_saturating': GANLoss(_bce_d_loss, lambda fake: jnp.mean(jax.nn.softplus(-fake))),
    # Lim & Ye 2017; Miyato et al. 2018.
    'hinge': GANLoss(
        lambda real, fake: jnp.mean(jax.nn.relu(1.0 - real)) + jnp.mean(jax.nn.relu(1.0 + fake)),
        lambda fake: -jnp.mean(fake)),
    # Arjovsky et al. 2017; the critic is kept Lipschitz by a penalty (gp_weight) or clipping.
    'wasserstein': GANLoss(lambda real, fake: jnp.mean(fake) - jnp.mean(real),
                           lambda fake: -jnp.mean(fake)),
    # Mao et al. 2017, a=0, b=c=1.
    'least_squares': GANLoss(
        lambda real, fake: 0.5 * jnp.mean((real - 1.0) ** 2) + 0.5 * jnp.mean(fake ** 2),
        lambda fake: 0.5 * jnp.mean((fake - 1.0) ** 2)),
}


def class_loss(class_logits: Array, labels: Array) -> Array:
  """AC-GAN's auxiliary loss (Odena et al. 2017): mean cross-entropy of the predicted class."""
  log_probs = jax.nn.log_softmax(class_logits)
  return -jnp.mean(jnp.take_along_axis(log_probs, labels[:, None], axis=1))


def _per_example_grad_norm_sq(critic: Callable[[Array], Array], x: Array) -> Array:
  # Examples are independent in the critic (no batch norm), so the gradient of the sum
  # holds each example's own input gradient.
  grads = jax.grad(lambda x: jnp.sum(critic(x)))(x)
  return jnp.sum(grads.reshape(grads.shape[0], -1) ** 2, axis=1)


def gradient_penalty(critic: Callable[[Array], Array], real: Array, fake: Array,
                     mix: Array) -> Array:
  """WGAN-GP (Gulrajani et al. 2017): E[(||grad critic(x_hat)|| - 1)^2], x_hat on real-fake lines.

  `mix` holds one uniform [0, 1) number per example.
  """
  mix = mix.reshape((-1,) + (1,) * (real.ndim - 1))
  x_hat = mix * real + (1.0 - mix) * fake
  norms = jnp.sqrt(_per_example_grad_norm_sq(critic, x_hat) + 1e-12)
  return jnp.mean((norms - 1.0) ** 2)


def r1_penalty(critic: Callable[[Array], Array], real: Array) -> Array:
  """R1 (Mescheder et al. 2018): E[||grad critic(x)||^2] on real data; weighted by gamma/2."""
  return jnp.mean(_per_example_grad_norm_sq(critic, real))


def path_lengths(ws_grads: Array) -> Array:
  """StyleGAN2's path lengths [N] (Karras et al. 2020, eq. 4): for the gradient of
  sum(image * y) with respect to W [N, num_ws, w_dim] (y: normal noise / sqrt(pixels)), the
  norm over w_dim, its square averaged over the W vectors, square-rooted (the reference's
  pl_grads.square().sum(2).mean(1).sqrt())."""
  return jnp.sqrt(jnp.mean(jnp.sum(jnp.square(ws_grads), axis=2), axis=1))
