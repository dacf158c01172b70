"""Evaluation metrics."""

from gan_jax.metrics.modes import mode_metrics
