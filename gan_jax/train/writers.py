"""A clu `MetricWriter` that appends one JSON object per logged step to `metrics.jsonl`."""

from __future__ import annotations

import json
import math
import os
from typing import Any, Mapping

import numpy as np
from clu import metric_writers


def _plain(value: Any) -> Any:
  value = np.asarray(value).item() if np.ndim(value) == 0 else np.asarray(value).tolist()
  if isinstance(value, float) and not math.isfinite(value):
    return str(value)  # JSON has no NaN or Infinity.
  return value


class JsonlWriter(metric_writers.MetricWriter):
  """Scalars written for the same step (losses, steps/s, eval metrics) merge into one line.

  On resume from step k, lines of steps after k (written after that checkpoint) are dropped,
  since the resumed run writes them again.
  """

  def __init__(self, path: str, resume_step: int = 0):
    self.path = path
    self._step: int | None = None
    self._row: dict[str, Any] = {}
    if os.path.exists(path):
      with open(path) as f:
        rows = [line for line in f if line.strip() and json.loads(line)['step'] <= resume_step]
      with open(path, 'w') as f:
        f.writelines(rows)

  def write_scalars(self, step: int, scalars: Mapping[str, Any]) -> None:
    if step != self._step:
      self.flush()
      self._step = int(step)
    self._row.update({k: _plain(v) for k, v in scalars.items()})

  def write_texts(self, step: int, texts: Mapping[str, str]) -> None:
    """Text (how an eval metric was computed) joins the step's row as strings."""
    self.write_scalars(step, {})
    self._row.update({k: str(v) for k, v in texts.items()})

  def flush(self) -> None:
    if self._row:
      with open(self.path, 'a') as f:
        f.write(json.dumps({'step': self._step, **self._row}) + '\n')
      self._row = {}

  def close(self) -> None:
    self.flush()

  # Only scalars and texts go into the JSON log; everything else goes to TensorBoard.
  def write_summaries(self, step, values, metadata=None): pass
  def write_images(self, step, images): pass
  def write_videos(self, step, videos): pass
  def write_audios(self, step, audios, *, sample_rate): pass
  def write_histograms(self, step, arrays, num_buckets=None): pass
  def write_hparams(self, hparams): pass


def read_jsonl(path: str) -> list[dict[str, Any]]:
  """The rows of a metrics.jsonl file."""
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]
