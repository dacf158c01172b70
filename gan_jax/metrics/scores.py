"""Sample-quality scores on extracted features: FID, IS, KID, precision/recall, density/coverage."""

from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg

from gan_jax.errors import MetricInputError


def _features(name: str, x: np.ndarray, min_count: int, metric: str) -> np.ndarray:
  x = np.asarray(x)
  if x.ndim != 2:
    raise MetricInputError(f'{metric}: {name} must be [num_samples, dims], got shape {x.shape}')
  if len(x) < min_count:
    raise MetricInputError(f'{metric}: needs at least {min_count} {name}, got {len(x)}')
  if not np.all(np.isfinite(x)):
    raise MetricInputError(f'{metric}: {name} contain NaN or inf')
  return x.astype(np.float64)


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Mean and covariance (unbiased, N-1) in float64, as pytorch-fid computes them."""
  x = _features('features', features, 2, 'feature_statistics')
  return x.mean(axis=0), np.cov(x, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = 1e-6) -> float:
  """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^1/2), computed as pytorch-fid does.

  scipy's `sqrtm` of S1 S2; if that is not finite (singular product), both covariances get `eps`
  on the diagonal; a numerically imaginary root is dropped only when its diagonal is below 1e-3.
  """
  mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
  sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
  if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
    raise MetricInputError(f'frechet_distance: statistics of different sizes, '
                           f'{mu1.shape}/{sigma1.shape} vs {mu2.shape}/{sigma2.shape}')
  diff = mu1 - mu2
  with warnings.catch_warnings():  # A singular product is handled below, as pytorch-fid does.
    warnings.simplefilter('ignore', RuntimeWarning)
    covmean = linalg.sqrtm(sigma1 @ sigma2)
  if not np.isfinite(covmean).all():
    offset = np.eye(sigma1.shape[0]) * eps
    covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
  if np.iscomplexobj(covmean):
    if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
      raise MetricInputError(f'frechet_distance: imaginary component {np.max(np.abs(covmean.imag))}')
    covmean = covmean.real
  return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def fid_from_features(real: np.ndarray, fake: np.ndarray) -> float:
  """Fréchet distance between the Gaussians fitted to two feature sets."""
  return frechet_distance(*feature_statistics(real), *feature_statistics(fake))


def _softmax(logits: np.ndarray) -> np.ndarray:
  z = logits - logits.max(axis=1, keepdims=True)
  e = np.exp(z)
  return e / e.sum(axis=1, keepdims=True)


def inception_score(logits: np.ndarray, splits: int = 10) -> tuple[float, float]:
  """exp(E_x KL(p(y|x) || p(y))) on each of `splits` consecutive parts: (mean, std) over parts.

  Salimans et al. 2016's protocol (50,000 samples, 10 splits, softmax over all logits).
  """
  logits = _features('samples', logits, splits, 'inception_score')
  probs = _softmax(logits)
  scores = []
  for part in np.array_split(probs, splits):
    marginal = part.mean(axis=0, keepdims=True)
    kl = np.sum(part * (np.log(part + 1e-30) - np.log(marginal + 1e-30)), axis=1)
    scores.append(np.exp(kl.mean()))
  return float(np.mean(scores)), float(np.std(scores))


def kernel_inception_distance(real: np.ndarray, fake: np.ndarray, num_subsets: int = 100,
                              subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
  """Unbiased MMD^2 with the kernel (x.y/d + 1)^3, averaged over random subsets (Bińkowski et
  al. 2018): (mean, std). Subsets are drawn without replacement by a fixed seed."""
  real = _features('real samples', real, 2, 'kid')
  fake = _features('generated samples', fake, 2, 'kid')
  m = min(subset_size, len(real), len(fake))
  d = real.shape[1]
  rng = np.random.default_rng(seed)
  mmds = []
  for _ in range(num_subsets):
    x = real[rng.choice(len(real), m, replace=False)]
    y = fake[rng.choice(len(fake), m, replace=False)]
    k_xx = (x @ x.T / d + 1) ** 3
    k_yy = (y @ y.T / d + 1) ** 3
    k_xy = (x @ y.T / d + 1) ** 3
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    mmds.append(within - 2 * k_xy.mean())
  return float(np.mean(mmds)), float(np.std(mmds))


def _pairwise_distances(x: np.ndarray, y: np.ndarray) -> np.ndarray:
  sq = np.sum(x * x, axis=1)[:, None] + np.sum(y * y, axis=1)[None] - 2 * x @ y.T
  return np.sqrt(np.maximum(sq, 0))


CHUNK = 1024  # Rows of a distance matrix computed at once.


def _chunks(n: int):
  return (slice(i, min(i + CHUNK, n)) for i in range(0, n, CHUNK))


def _kth_neighbour_radii(x: np.ndarray, k: int) -> np.ndarray:
  """Distance from each point to its k-th nearest neighbour in the same set (itself excluded).
  In row chunks, so that 50,000 points never need a 50,000^2 matrix."""
  radii = np.empty(len(x))
  for rows in _chunks(len(x)):
    dist = _pairwise_distances(x[rows], x)
    dist[np.arange(dist.shape[0]), np.arange(rows.start, rows.stop)] = np.inf
    radii[rows] = np.partition(dist, k - 1, axis=1)[:, k - 1]
  return radii


def _fraction_within(points: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> float:
  """Fraction of `points` within (<=) the radius of at least one of `centres`."""
  inside = [np.any(_pairwise_distances(points[rows], centres) <= radii[None], axis=1)
            for rows in _chunks(len(points))]
  return float(np.concatenate(inside).mean())


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> dict[str, float]:
  """Improved precision and recall (Kynkäänniemi et al. 2019): a sample is in a manifold when it
  lies within (<=) some point's k-th nearest-neighbour radius of that set."""
  real = _features('real samples', real, k + 1, 'precision_recall')
  fake = _features('generated samples', fake, k + 1, 'precision_recall')
  return {'precision': _fraction_within(fake, real, _kth_neighbour_radii(real, k)),
          'recall': _fraction_within(real, fake, _kth_neighbour_radii(fake, k))}


def density_coverage(real: np.ndarray, fake: np.ndarray, k: int = 5) -> dict[str, float]:
  """Density and coverage (Naeem et al. 2020), with strict `<` as in their `prdc` package."""
  real = _features('real samples', real, k + 1, 'density_coverage')
  fake = _features('generated samples', fake, k + 1, 'density_coverage')
  real_radii = _kth_neighbour_radii(real, k)
  inside_count, covered = 0, np.zeros(len(real), bool)
  for rows in _chunks(len(real)):
    inside = _pairwise_distances(real[rows], fake) < real_radii[rows, None]  # [real, fake]
    inside_count += inside.sum()
    covered[rows] = inside.any(axis=1)
  return {'density': float(inside_count / (k * len(fake))), 'coverage': float(covered.mean())}


def intra_class_fid(real: np.ndarray, real_labels: np.ndarray, fake: np.ndarray,
                    fake_labels: np.ndarray) -> float:
  """Mean over classes of the Fréchet distance between that class's real and generated features
  (Miyato & Koyama 2018)."""
  classes = np.unique(real_labels)
  missing = sorted(set(classes.tolist()) - set(np.unique(fake_labels).tolist()))
  if missing:
    raise MetricInputError(f'intra_fid: no generated samples of classes {missing}')
  return float(np.mean([fid_from_features(real[real_labels == c], fake[fake_labels == c])
                        for c in classes]))


# Image-to-image scores: outputs against their targets, image by image.

def _image_pairs(outputs: np.ndarray, targets: np.ndarray, crop: int,
                 metric: str) -> tuple[np.ndarray, np.ndarray]:
  """Both sets in [0, 1], `crop` pixels cut from every border (super-resolution's convention)."""
  outputs, targets = np.asarray(outputs, np.float32), np.asarray(targets, np.float32)
  if outputs.shape != targets.shape or outputs.ndim != 4:
    raise MetricInputError(f'{metric}: outputs {outputs.shape} and targets {targets.shape} must be '
                           'images [N, H, W, C] of one shape')
  if 2 * crop >= min(outputs.shape[1:3]):
    raise MetricInputError(f'{metric}: a crop of {crop} pixels leaves nothing of '
                           f'{outputs.shape[1]}x{outputs.shape[2]} images')
  window = (slice(None), slice(crop, outputs.shape[1] - crop), slice(crop, outputs.shape[2] - crop))
  return (np.clip(outputs[window], -1, 1) + 1) / 2, (targets[window] + 1) / 2


def luma_y(images: np.ndarray) -> np.ndarray:
  """The Y of Y'CbCr (ITU-R BT.601, studio range, as MATLAB's rgb2ycbcr and BasicSR) of RGB
  images in [0, 1], in [0, 1]; grey images unchanged."""
  if images.shape[-1] == 1:
    return images
  return (16 + images @ np.array([65.481, 128.553, 24.966], np.float32))[..., None] / 255


def psnr(outputs: np.ndarray, targets: np.ndarray, crop: int = 0) -> dict[str, float]:
  """Mean over images of the PSNR in dB (peak 1 on [0, 1] images), on all channels and on Y."""
  import dm_pix  # Here: it imports chex and its test utilities (a second); only psnr/ssim need it.
  a, b = _image_pairs(outputs, targets, crop, 'psnr')
  return {'psnr': float(np.mean(dm_pix.psnr(a, b))),
          'psnr_y': float(np.mean(dm_pix.psnr(luma_y(a), luma_y(b))))}


def ssim(outputs: np.ndarray, targets: np.ndarray, crop: int = 0) -> dict[str, float]:
  """Mean over images of the SSIM (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5,
  K1 0.01, K2 0.03), on all channels (their mean) and on Y."""
  import dm_pix
  a, b = _image_pairs(outputs, targets, crop, 'ssim')
  return {'ssim': float(np.mean(dm_pix.ssim(a, b))),
          'ssim_y': float(np.mean(dm_pix.ssim(luma_y(a), luma_y(b))))}


def colorfulness(images: np.ndarray) -> float:
  """Mean over images of Hasler & Süsstrunk's (2003) colourfulness M = sigma_rgyb + 0.3 mu_rgyb,
  on [0, 255] values (rg = R - G, yb = (R + G) / 2 - B); 0 for grey images. Judged against the
  real images' value, not as higher-is-better."""
  images = np.asarray(images, np.float64)
  if images.ndim != 4 or images.shape[-1] != 3:
    raise MetricInputError(f'colorfulness: expected RGB images [N, H, W, 3], got {images.shape}')
  rgb = (np.clip(images, -1, 1) + 1) * 127.5
  rg = rgb[..., 0] - rgb[..., 1]
  yb = 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
  axes = (1, 2)
  sigma = np.sqrt(rg.var(axis=axes) + yb.var(axis=axes))
  mu = np.sqrt(rg.mean(axis=axes) ** 2 + yb.mean(axis=axes) ** 2)
  return float(np.mean(sigma + 0.3 * mu))
