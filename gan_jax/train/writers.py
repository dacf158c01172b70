"""Where a run's logs go: the console, TensorBoard event files and `metrics.jsonl`.

clu's metric writers import TensorFlow (its TensorBoard writer is tf.summary's), and training must
neither need nor import TensorFlow; so the event files are written with TensorBoard's summary
protos and record framing on a plain file, and the writers share the small interface of
clu's `MetricWriter` (write_scalars, write_images, write_texts, write_hparams, flush, close).
TensorBoard's modules are imported where an event is written: they take 0.4 s to import, which
commands that log nothing (evaluate, translate) need not pay.
"""

from __future__ import annotations

import io
import json
import math
import os
import socket
import time
from typing import Any, Mapping, Sequence

import numpy as np
from absl import logging


def _plain(value: Any) -> Any:
  value = np.asarray(value).item() if np.ndim(value) == 0 else np.asarray(value).tolist()
  if isinstance(value, float) and not math.isfinite(value):
    return str(value)  # JSON has no NaN or Infinity.
  return value


class MetricWriter:
  """A sink for a run's logs; each writer keeps what it can show and ignores the rest."""

  def write_scalars(self, step: int, scalars: Mapping[str, Any]) -> None:
    pass

  def write_images(self, step: int, images: Mapping[str, np.ndarray]) -> None:
    """uint8 images [N, H, W, C] (C = 1 or 3) per name."""

  def write_texts(self, step: int, texts: Mapping[str, str]) -> None:
    pass

  def write_hparams(self, hparams: Mapping[str, Any]) -> None:
    pass

  def flush(self) -> None:
    pass

  def close(self) -> None:
    self.flush()


class LoggingWriter(MetricWriter):
  """Scalars and texts to the absl log, one line per call: `[step] name=value, ...`."""

  def write_scalars(self, step, scalars):
    if scalars:
      logging.info('[%d] %s', step, ', '.join(f'{k}={_plain(v)}' for k, v in sorted(scalars.items())))

  def write_texts(self, step, texts):
    for key, text in sorted(texts.items()):
      logging.info('[%d] %s: %s', step, key, text)

  def write_hparams(self, hparams):
    logging.info('[hparams] %s', ', '.join(f'{k}={v}' for k, v in sorted(hparams.items())))


class TensorBoardWriter(MetricWriter):
  """TensorBoard event files (`events.out.tfevents.*`) in `logdir`, written without TensorFlow:
  scalars and texts as the tensor summaries tf.summary writes, images as PNG image summaries,
  the config as the HParams plugin's session summary."""

  def __init__(self, logdir: str):
    # TensorBoard's own EventFileWriter opens files through `tensorboard.compat.tf`, which imports
    # TensorFlow wherever it is installed; its RecordWriter frames records on a plain file.
    from tensorboard.compat.proto import event_pb2
    from tensorboard.summary.writer.record_writer import RecordWriter
    name = f'events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}.0'
    self._records = RecordWriter(open(os.path.join(logdir, name), 'ab'))
    self._write(event_pb2.Event(wall_time=time.time(), file_version='brain.Event:2'))

  def _write(self, event) -> None:
    self._records.write(event.SerializeToString())

  def _add(self, step: int, values: Sequence[Any]) -> None:
    from tensorboard.compat.proto import event_pb2, summary_pb2
    self._write(event_pb2.Event(wall_time=time.time(), step=int(step),
                                summary=summary_pb2.Summary(value=list(values))))

  def write_scalars(self, step, scalars):
    from tensorboard.compat.proto import summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2
    from tensorboard.plugins.scalar import metadata
    self._add(step, [summary_pb2.Summary.Value(
        tag=key, metadata=metadata.create_summary_metadata('', ''),
        tensor=tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[float(value)],
                                      tensor_shape=tensor_shape_pb2.TensorShapeProto()))
        for key, value in scalars.items()])

  def write_images(self, step, images):
    from PIL import Image
    from tensorboard.compat.proto import summary_pb2
    values = []
    for key, batch in images.items():
      for i, image in enumerate(np.asarray(batch)):
        png = io.BytesIO()
        Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(png, format='PNG')
        values.append(summary_pb2.Summary.Value(
            tag=key if len(batch) == 1 else f'{key}/image/{i}',
            image=summary_pb2.Summary.Image(height=image.shape[0], width=image.shape[1],
                                            colorspace=image.shape[-1],
                                            encoded_image_string=png.getvalue())))
    self._add(step, values)

  def write_texts(self, step, texts):
    from tensorboard.compat.proto import summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2
    from tensorboard.plugins.text import metadata
    self._add(step, [summary_pb2.Summary.Value(
        tag=key, metadata=metadata.create_summary_metadata('', ''),
        tensor=tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=[str(text).encode()],
                                      tensor_shape=tensor_shape_pb2.TensorShapeProto()))
        for key, text in texts.items()])

  def write_hparams(self, hparams):
    from tensorboard.compat.proto import event_pb2
    from tensorboard.plugins.hparams import summary_v2
    values = {k: v if isinstance(v, (bool, int, float, str)) else str(v)
              for k, v in hparams.items()}
    self._write(event_pb2.Event(wall_time=time.time(), step=0, summary=summary_v2.hparams_pb(values)))

  def flush(self):
    self._records.flush()

  def close(self):
    if not self._records.closed:
      self._records.close()


class JsonlWriter(MetricWriter):
  """One JSON object per logged step in `metrics.jsonl`: scalars written for the same step
  (losses, steps/s, eval metrics) and texts (how an eval metric was computed) merge into one line.

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

  def write_scalars(self, step, scalars):
    if step != self._step:
      self.flush()
      self._step = int(step)
    self._row.update({k: _plain(v) for k, v in scalars.items()})

  def write_texts(self, step, texts):
    self.write_scalars(step, {})
    self._row.update({k: str(v) for k, v in texts.items()})

  def flush(self):
    if self._row:
      with open(self.path, 'a') as f:
        f.write(json.dumps({'step': self._step, **self._row}) + '\n')
      self._row = {}


class MultiWriter(MetricWriter):
  """Writes to each of `writers` in turn."""

  def __init__(self, writers: Sequence[MetricWriter]):
    self.writers = list(writers)

  def write_scalars(self, step, scalars):
    for w in self.writers:
      w.write_scalars(step, scalars)

  def write_images(self, step, images):
    for w in self.writers:
      w.write_images(step, images)

  def write_texts(self, step, texts):
    for w in self.writers:
      w.write_texts(step, texts)

  def write_hparams(self, hparams):
    for w in self.writers:
      w.write_hparams(hparams)

  def flush(self):
    for w in self.writers:
      w.flush()

  def close(self):
    for w in self.writers:
      w.close()


def create_writer(workdir: str, is_main: bool, resume_step: int) -> MetricWriter:
  """The console everywhere; on the main process also TensorBoard events and `metrics.jsonl`."""
  if not is_main:
    return LoggingWriter()
  return MultiWriter([LoggingWriter(), TensorBoardWriter(workdir),
                      JsonlWriter(os.path.join(workdir, 'metrics.jsonl'), resume_step)])


class Progress:
  """Steps per second since the last report and seconds since the start (`steps_per_sec`,
  `uptime`), written every `every_steps` steps and at the last; the first call only starts the
  clock, so the step that compiles is not counted."""

  def __init__(self, writer: MetricWriter, num_steps: int, every_steps: int):
    self.writer, self.num_steps, self.every_steps = writer, num_steps, every_steps
    self._start = time.monotonic()
    self._last: tuple[int, float] | None = None

  def __call__(self, step: int) -> None:
    now = time.monotonic()
    if self._last is None:
      self._last = (step, now)
      return
    if step % self.every_steps and step != self.num_steps:
      return
    steps_per_sec = (step - self._last[0]) / max(now - self._last[1], 1e-9)
    self._last = (step, now)
    self.writer.write_scalars(step, {'steps_per_sec': steps_per_sec,
                                     'uptime': now - self._start})
    eta = (self.num_steps - step) / steps_per_sec
    logging.info('%.1f steps/s, %.1f%% (%d/%d), ETA %dm%02ds', steps_per_sec,
                 100 * step / self.num_steps, step, self.num_steps, eta // 60, eta % 60)


def read_jsonl(path: str) -> list[dict[str, Any]]:
  """The rows of a metrics.jsonl file."""
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]
