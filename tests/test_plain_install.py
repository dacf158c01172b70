"""The plain install (`pip install -e .`, neither TensorFlow nor torch): the headline command
downloads and converts the Inception weights, trains and scores, and writes the same logs, events,
figures and checkpoints as where both are installed."""

import io
import json
import math
import os
import subprocess
import sys

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest
from PIL import Image

from conftest import ROOT
from gan_jax.metrics import inception

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


def test_plain_install_runs_the_headline_command_and_writes_what_a_full_install_writes(
    weights_server, release_like_pth, tfds_dir, tmp_path, monkeypatch):
  """`launch.py --config experiments/cgan_cifar.py:runlocal` with its Fréchet distance on the
  Inception (the full config's) and CAS, on a fresh cache, in a process where TensorFlow and torch
  cannot be imported: it loads neither, downloads the weights once and converts them to what torch
  reads; the same run where both are installed (this process) writes the same logs, events,
  figures and checkpoints."""
  import plain_install
  from experiments import cgan_cifar
  torch = pytest.importorskip('torch')
  url, requested = weights_server
  cache = tmp_path / 'cache'
  monkeypatch.setenv('GAN_JAX_CACHE', str(cache))
  monkeypatch.setenv('GAN_JAX_INCEPTION_URL', url)
  monkeypatch.delenv(inception.WEIGHTS_ENV, raising=False)
  overrides = {'dataset.data_dir': tfds_dir, 'evals.fd.extractor': 'inception',
               'eval.best_metric': 'fid', 'evals.fd.num_samples': 16, 'evals.fd.num_real': 16}
  result = subprocess.run(
      [sys.executable, 'tests/plain_install.py', '--cas', '--config',
       'experiments/cgan_cifar.py:runlocal', '--workdir', str(tmp_path / 'plain'),
       *[f'--config.{k}={v}' for k, v in overrides.items()]],
      cwd=ROOT, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'hidden modules loaded: []' in result.stderr
  assert requested == [f'/{os.path.basename(url)}']  # Downloaded once.
  plain, full = tmp_path / 'plain', tmp_path / 'full'
  last = _log_rows(plain)[-1]
  assert last['step'] == 4 and math.isfinite(last['eval/fid']) and last['eval/fid'] > 0
  assert 'FID InceptionV3 pool3' in last['eval/fid_protocol']
  # The converted weights are those torch reads, array for array.
  npz = cache / (os.path.splitext(os.path.basename(url))[0] + '.npz')
  want = inception.convert_torch_state_dict(torch.load(release_like_pth, weights_only=True))
  with np.load(npz, allow_pickle=False) as f:
    assert sorted(f.files) == sorted(want)
    for name in want:
      np.testing.assert_array_equal(f[name], want[name], err_msg=name)

  import launch
  config = plain_install.with_cas(cgan_cifar.get_config('runlocal'))
  for path, value in overrides.items():
    group, _, field = path.rpartition('.')
    config[group][field] = value
  assert launch.train(config, str(full)) == 0
  assert requested == [f'/{os.path.basename(url)}']  # The converted weights were read back.
  assert _log_rows(full) == _log_rows(plain)
  events_full, events_plain = _events(full), _events(plain)
  tags = {tag for _, tag, _ in events_full}
  assert {'d_loss', 'samples', 'eval/cas', 'eval/fid', '_hparams_/session_start_info'} <= tags, tags
  assert events_full == events_plain
  with open(full / 'samples_0000004.png', 'rb') as fa, open(plain / 'samples_0000004.png', 'rb') as fb:
    assert fa.read() == fb.read()
  jax.tree.map(np.testing.assert_array_equal, _checkpoint(full, 4), _checkpoint(plain, 4))


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
