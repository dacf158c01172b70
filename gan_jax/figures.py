"""Figures written at evaluation time, as RGB arrays for TensorBoard and PNG files."""

from __future__ import annotations

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def toy_samples(samples: np.ndarray, data: np.ndarray, centers: np.ndarray,
                title: str) -> np.ndarray:
  """Generated 2-D samples over the training data, mode centres marked: [H, W, 3] uint8."""
  fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
  ax.scatter(data[:, 0], data[:, 1], s=2, c='0.75', label='data', rasterized=True)
  ax.scatter(samples[:, 0], samples[:, 1], s=2, c='tab:blue', alpha=0.6, label='generated')
  ax.scatter(centers[:, 0], centers[:, 1], s=60, marker='x', c='tab:red', label='mode centres')
  lim = 1.5 * np.abs(centers).max()
  ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect='equal', title=title)
  ax.legend(loc='upper right', fontsize=7, markerscale=2)
  fig.tight_layout()
  fig.canvas.draw()
  image = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
  plt.close(fig)
  return image


def image_grid(images: np.ndarray, rows: int, pad: int = 2) -> np.ndarray:
  """Images in [-1, 1], [rows * cols, H, W, C], tiled row by row: [H', W', 3] uint8."""
  n, h, w, c = images.shape
  cols = n // rows
  images = np.clip((images[:rows * cols] + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)
  if c == 1:
    images = np.repeat(images, 3, axis=-1)
  grid = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), 255, np.uint8)
  for i, image in enumerate(images):
    r, q = divmod(i, cols)
    grid[pad + r * (h + pad):(r + 1) * (h + pad), pad + q * (w + pad):(q + 1) * (w + pad)] = image
  return grid


def save_png(path: str, image: np.ndarray) -> None:
  plt.imsave(path, image)


def translation_rows(sources: np.ndarray, outputs: np.ndarray, targets: np.ndarray,
                     columns: int = 2) -> np.ndarray:
  """Rows of source | output | target (each in [-1, 1]), `columns` triples per row; grey
  images shown in RGB, smaller sources (super-resolution) enlarged by pixel repetition."""
  h, w, c = targets.shape[1:]
  if sources.shape[1] != h:
    factor = h // sources.shape[1]
    sources = sources.repeat(factor, axis=1).repeat(factor, axis=2)
  to_rgb = lambda x: np.repeat(x, 3, axis=-1) if x.shape[-1] == 1 and c == 3 else x
  sources = to_rgb(sources)
  if sources.shape[-1] != c:  # e.g. a colour source for a grey target: show its luma.
    sources = sources.mean(axis=-1, keepdims=True)
  n = len(targets) // columns * columns
  triples = np.stack([sources[:n], outputs[:n], targets[:n]], axis=1)  # [n, 3, H, W, C]
  return image_grid(triples.reshape(-1, h, w, c), n // columns)
