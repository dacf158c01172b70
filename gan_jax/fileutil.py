"""File helpers shared by dataset preparation, decoded datasets, metric weights and cached
statistics."""

import hashlib
import os

import numpy as np


def cache_dir() -> str:
  """gan_jax's cache: Inception weights, real-data features (`stats/`) and decoded datasets
  (`decoded/`). `$GAN_JAX_CACHE`, else ~/.cache/gan_jax; any of it can be deleted."""
  return os.environ.get('GAN_JAX_CACHE', os.path.join(os.path.expanduser('~'), '.cache', 'gan_jax'))


def sha256_file(path: str) -> str:
  """Hex sha256 of a file, read in 1 MiB blocks."""
  digest = hashlib.sha256()
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      digest.update(block)
  return digest.hexdigest()


def save_npz(path: str, **arrays: np.ndarray) -> None:
  """np.savez that readers never see half-written, even with several processes writing the
  same file at once (a private temporary name per process, then an atomic rename)."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  tmp = f'{path}.{os.getpid()}.tmp.npz'
  np.savez(tmp, **arrays)
  os.replace(tmp, path)
