"""Each loss and regularizer against values computed by hand."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import losses

pytestmark = pytest.mark.quick  # in CI's quick stage on the newest jax (.ci/run)

REAL = jnp.array([2.0, -1.0])
FAKE = jnp.array([0.5, -3.0])


def softplus(x):
  return math.log1p(math.exp(x))


def test_minimax():
  d = (softplus(-2.0) + softplus(1.0)) / 2 + (softplus(0.5) + softplus(-3.0)) / 2
  np.testing.assert_allclose(losses.LOSSES['minimax'].d_loss(REAL, FAKE), d, rtol=1e-6)
  # G minimises log(1 - sigmoid(f)) = -softplus(f).
  g = -(softplus(0.5) + softplus(-3.0)) / 2
  np.testing.assert_allclose(losses.LOSSES['minimax'].g_loss(FAKE), g, rtol=1e-6)
  np.testing.assert_allclose(
      g, np.mean(np.log(1 - 1 / (1 + np.exp(-np.array([0.5, -3.0]))))), rtol=1e-6)


def test_non_saturating():
  loss = losses.LOSSES['non_saturating']
  np.testing.assert_allclose(loss.d_loss(REAL, FAKE), losses.LOSSES['minimax'].d_loss(REAL, FAKE))
  # G minimises -log sigmoid(f) = softplus(-f).
  np.testing.assert_allclose(loss.g_loss(FAKE), (softplus(-0.5) + softplus(3.0)) / 2, rtol=1e-6)


def test_hinge():
  loss = losses.LOSSES['hinge']
  # relu(1 - [2, -1]) = [0, 2]; relu(1 + [0.5, -3]) = [1.5, 0].
  np.testing.assert_allclose(loss.d_loss(REAL, FAKE), 1.0 + 0.75, rtol=1e-6)
  np.testing.assert_allclose(loss.g_loss(FAKE), 1.25, rtol=1e-6)


def test_wasserstein():
  loss = losses.LOSSES['wasserstein']
  np.testing.assert_allclose(loss.d_loss(REAL, FAKE), -1.25 - 0.5, rtol=1e-6)
  np.testing.assert_allclose(loss.g_loss(FAKE), 1.25, rtol=1e-6)


def test_least_squares():
  loss = losses.LOSSES['least_squares']
  # 0.5 * mean([1, 4]) + 0.5 * mean([0.25, 9]).
  np.testing.assert_allclose(loss.d_loss(REAL, FAKE), 1.25 + 2.3125, rtol=1e-6)
  # 0.5 * mean([0.25, 16]).
  np.testing.assert_allclose(loss.g_loss(FAKE), 4.0625, rtol=1e-6)


def test_losses_are_stable_at_extreme_logits():
  big = jnp.array([1e4, -1e4])
  for name, loss in losses.LOSSES.items():
    assert np.isfinite(loss.d_loss(big, big)), name
    assert np.isfinite(loss.g_loss(big)), name


def test_gradient_penalty_linear_critic():
  # critic(x) = x . w has gradient w everywhere: penalty (|w| - 1)^2 = (5 - 1)^2.
  w = jnp.array([3.0, 4.0])
  real, fake = jnp.ones((4, 2)), jnp.zeros((4, 2))
  gp = losses.gradient_penalty(lambda x: x @ w, real, fake, jnp.full((4,), 0.3))
  np.testing.assert_allclose(gp, 16.0, rtol=1e-5)


def test_gradient_penalty_interpolates_per_example():
  # critic(x) = |x|^2 / 2 has gradient x: the norm at x_hat = m * real + (1 - m) * fake.
  real = jnp.array([[2.0, 0.0], [0.0, 4.0]])
  fake = jnp.zeros((2, 2))
  mix = jnp.array([0.5, 0.25])
  gp = losses.gradient_penalty(lambda x: 0.5 * jnp.sum(x ** 2, axis=1), real, fake, mix)
  # |x_hat| = [1, 1]: no penalty; then with mix [1, 1]: |x_hat| = [2, 4] -> ((1)^2 + (3)^2) / 2.
  np.testing.assert_allclose(gp, 0.0, atol=1e-6)
  gp = losses.gradient_penalty(lambda x: 0.5 * jnp.sum(x ** 2, axis=1), real, fake,
                               jnp.ones(2))
  np.testing.assert_allclose(gp, 5.0, rtol=1e-5)


def test_gradient_penalty_on_images():
  # Norms are taken over all non-batch axes: critic = sum of pixels has gradient norm sqrt(H*W*C).
  real = jnp.ones((3, 4, 4, 2))
  gp = losses.gradient_penalty(lambda x: jnp.sum(x, axis=(1, 2, 3)), real, 0 * real,
                               jnp.full((3,), 0.5))
  np.testing.assert_allclose(gp, (math.sqrt(32) - 1) ** 2, rtol=1e-5)


def test_r1_penalty():
  real = jnp.array([[1.0, 2.0], [3.0, 0.0]])
  # critic = |x|^2 / 2: gradient x, squared norms [5, 9].
  r1 = losses.r1_penalty(lambda x: 0.5 * jnp.sum(x ** 2, axis=1), real)
  np.testing.assert_allclose(r1, 7.0, rtol=1e-6)
  np.testing.assert_allclose(losses.r1_penalty(lambda x: x @ jnp.array([3.0, 4.0]), real), 25.0,
                             rtol=1e-6)


@pytest.mark.parametrize('name', sorted(losses.LOSSES))
def test_discriminator_loss_prefers_correct_logits(name):
  loss = losses.LOSSES[name]
  good = loss.d_loss(jnp.array([1.0]), jnp.array([-1.0]))
  bad = loss.d_loss(jnp.array([-1.0]), jnp.array([1.0]))
  assert good < bad
  assert loss.g_loss(jnp.array([1.0])) < loss.g_loss(jnp.array([-1.0]))


def test_class_loss():
  # Cross-entropy: -log softmax([2, 0, 0])[0] and -log softmax([0, 0, 0])[2] = log 3.
  logits = jnp.array([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
  expected = (-(2 - math.log(math.exp(2) + 2)) + math.log(3)) / 2
  np.testing.assert_allclose(losses.class_loss(logits, jnp.array([0, 2])), expected, rtol=1e-6)
