"""Mode-collapse metrics on 2-D mixtures (VEEGAN/PacGAN protocol): coverage, quality, reverse KL."""

from __future__ import annotations

import numpy as np

# What mode_metrics returns, and whether lower is better for each.
MODE_METRICS = {'modes_covered': False, 'high_quality_fraction': False, 'reverse_kl': True}


def mode_metrics(samples: np.ndarray, centers: np.ndarray, std: float,
                 quality_stds: float = 3.0) -> dict[str, float]:
  """Scores generated samples against the mixture's mode centres.

  A sample is high quality when it lies within `quality_stds` standard deviations of its
  nearest centre. A mode is covered once at least one high-quality sample is nearest to it.
  Reverse KL is KL(p || uniform), p the histogram of high-quality samples over the modes
  (NaN when no sample is high quality).
  """
  samples = np.asarray(samples, np.float64).reshape(len(samples), -1)
  dist = np.linalg.norm(samples[:, None, :] - centers[None, :, :], axis=-1)
  nearest = np.argmin(dist, axis=1)
  good = dist[np.arange(len(samples)), nearest] <= quality_stds * std
  counts = np.bincount(nearest[good], minlength=len(centers))
  if counts.sum():
    p = counts[counts > 0] / counts.sum()
    reverse_kl = float(np.sum(p * np.log(p * len(centers))))
  else:
    reverse_kl = float('nan')
  return dict(zip(MODE_METRICS, (float(np.count_nonzero(counts)), float(good.mean()), reverse_kl)))
