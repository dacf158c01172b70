"""Training and evaluation where TensorFlow is not installed: the same logs, events, figures and
checkpoints as where it is."""

import io
import json
import os
import subprocess
import sys

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest
from PIL import Image

from conftest import ROOT
from test_train import assert_image_run

TIMING = ('steps_per_sec', 'uptime')


def _log_rows(workdir):
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    rows = [json.loads(line) for line in f]
  return [{k: v for k, v in row.items() if k not in TIMING} for row in rows]


def _events(workdir):
  """(step, tag, summary value) of every summary in the run's one event file, timings left out."""
  from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
  from google.protobuf.json_format import MessageToDict
  from tensorboard.compat.proto import event_pb2
  from tensorboard.plugins.hparams import plugin_data_pb2
  files = [f for f in os.listdir(workdir) if f.startswith('events.out.tfevents')]
  assert len(files) == 1, files
  out = []
  for record in RawEventFileLoader(os.path.join(workdir, files[0])).Load():
    event = event_pb2.Event.FromString(record)
    for value in event.summary.value:
      if value.tag == '_hparams_/session_start_info':  # The config, and when the run started.
        hparams = MessageToDict(plugin_data_pb2.HParamsPluginData.FromString(
            value.metadata.plugin_data.content))
        del hparams['sessionStartInfo']['startTimeSecs']
        out.append((event.step, value.tag, hparams))
      elif value.tag not in TIMING:
        out.append((event.step, value.tag, value.SerializeToString()))
  return out


def _checkpoint(workdir, step):
  return ocp.StandardCheckpointer().restore(os.path.join(workdir, 'checkpoints', str(step),
                                                         'default'))


def test_training_without_tensorflow_writes_what_training_with_it_writes(tmp_path, tfds_dir):
  """cgan_cifar:runlocal (a tfds dataset, samples, Fréchet distance and CAS) where TensorFlow cannot
  be imported, and where it can: neither process loads it, and both write the same logs, events,
  figures and checkpoints."""
  runs = [('cgan_cifar:runlocal', 'cgan_cifar')]
  for way, flag in (('without', []), ('with', ['--keep'])):
    result = subprocess.run(
        [sys.executable, 'tests/without_tensorflow.py', *flag, tfds_dir,
         *[a for experiment, name in runs for a in (experiment, str(tmp_path / way / name))]],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'TensorFlow modules loaded: []' in result.stdout, (way, result.stdout[-2000:])

  for experiment, name in runs:
    a, b = tmp_path / 'with' / name, tmp_path / 'without' / name
    assert _log_rows(a) == _log_rows(b)
    events_a, events_b = _events(a), _events(b)
    tags = {tag for _, tag, _ in events_a}
    assert {'d_loss', 'samples', 'eval/cas', 'eval/fd_cifar10_cnn',
            '_hparams_/session_start_info'} <= tags, tags
    assert events_a == events_b
    with open(a / 'samples_0000004.png', 'rb') as fa, open(b / 'samples_0000004.png', 'rb') as fb:
      assert fa.read() == fb.read()
    jax.tree.map(np.testing.assert_array_equal, _checkpoint(a, 4), _checkpoint(b, 4))
  assert_image_run(tmp_path / 'with' / 'cgan_cifar', 'cgan_cifar', 'runlocal', True)


@pytest.mark.quick
def test_tensorboard_writer_is_read_back_by_tensorboard(tmp_path):
  """The events gan_jax writes without TensorFlow are what TensorBoard's own reader shows."""
  from tensorboard.backend.event_processing import event_accumulator
  from gan_jax.train.writers import TensorBoardWriter
  writer = TensorBoardWriter(str(tmp_path))
  writer.write_hparams({'optim.g_lr': 2e-4, 'loss': 'hinge', 'pack': 2, 'ema': True})
  writer.write_scalars(1, {'d_loss': 1.25, 'g_loss': np.float32(0.5)})
  writer.write_scalars(2, {'d_loss': 1.0})
  image = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3) * 3
  writer.write_images(2, {'samples': image[None]})
  writer.write_texts(2, {'eval/fd_protocol': 'fd of 64 samples'})
  writer.close()
  events = event_accumulator.EventAccumulator(str(tmp_path), size_guidance={'tensors': 0})
  events.Reload()
  scalars = {tag: [(e.step, float(np.asarray(_array(e.tensor_proto))))
                   for e in events.Tensors(tag)] for tag in ('d_loss', 'g_loss')}
  assert scalars == {'d_loss': [(1, 1.25), (2, 1.0)], 'g_loss': [(1, 0.5)]}
  assert events.SummaryMetadata('d_loss').plugin_data.plugin_name == 'scalars'
  text = events.Tensors('eval/fd_protocol')[0]
  assert text.step == 2 and _array(text.tensor_proto).item() == b'fd of 64 samples'
  [png] = events.Images('samples')
  np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(png.encoded_image_string))), image)
  assert (png.step, png.height, png.width) == (2, 4, 6)


def _array(proto):
  """A summary tensor as numpy."""
  from tensorboard.util import tensor_util
  return tensor_util.make_ndarray(proto)
