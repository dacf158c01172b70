"""FID's Inception weights without torch: pytorch-fid's `.pth` read by gan_jax's restricted reader,
and bad weight files (the headline command without torch: tests/test_plain_install.py).

torch (the parity extra, which `make test` installs) only writes the files and reads them back
as the reference; gan_jax never imports it.
"""

import collections
import hashlib
import os
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest

if os.environ.get('GAN_JAX_REQUIRE_PARITY'):  # `make test` sets it: a skip there would prove nothing.
  import torch  # noqa: F401
torch = pytest.importorskip('torch', reason='install the parity extra: pip install -e ".[parity]"')

from conftest import ROOT  # noqa: E402
from gan_jax.metrics import inception, pth  # noqa: E402
from test_bad_input import one_error_line  # noqa: E402

# pytorch-fid's weights date from May 2019 (its PR #16), before torch 1.6 made the zip layout
# torch.save's default: the published file is in the older layout, as these test files are.


def _tensors() -> collections.OrderedDict:
  """Tensors of every storage type a reader must know, with views, offsets and shared storages."""
  gen = torch.Generator().manual_seed(0)
  shared = torch.arange(20, dtype=torch.float32)
  out = collections.OrderedDict(
      weight=torch.randn(3, 4, generator=gen),
      transposed=torch.randn(5, 6, generator=gen).t(),       # strides (1, 6)
      offset_view=shared[5:10], shared=shared,               # one storage, two tensors
      strided=torch.randn(4, 6, generator=gen)[::2, 1::3],   # offset and strides together
      int64=torch.randint(0, 100, (7,), generator=gen), int32=torch.arange(3, dtype=torch.int32),
      uint8=torch.arange(4, dtype=torch.uint8), int8=torch.arange(-2, 2, dtype=torch.int8),
      int16=torch.arange(3, dtype=torch.int16), float64=torch.randn(2, generator=gen).double(),
      float16=torch.randn(4, generator=gen).half(),
      bfloat16=torch.randn(4, generator=gen).bfloat16(),
      empty=torch.zeros(0, 3), scalar=torch.tensor(3.5), flag=torch.tensor([True, False]))
  bn = torch.nn.BatchNorm2d(3)
  out.update({f'bn.{k}': v for k, v in bn.state_dict().items()})  # with num_batches_tracked
  return out


@pytest.mark.parametrize('zipped', [True, False], ids=['zip layout', 'older layout'])
def test_reader_equals_torch_load_weights_only(tmp_path, zipped):
  path = tmp_path / 'tensors.pth'
  torch.save(_tensors(), path, _use_new_zipfile_serialization=zipped)
  want = torch.load(path, weights_only=True)
  got = pth.load_state_dict(str(path))
  assert list(got) == list(want)
  for name, tensor in want.items():
    expected = (tensor.float().numpy() if tensor.dtype == torch.bfloat16 else tensor.numpy())
    assert got[name].shape == expected.shape, name
    assert str(got[name].dtype) == str(tensor.dtype).removeprefix('torch.'), name
    np.testing.assert_array_equal(got[name].astype(expected.dtype), expected, err_msg=name)


def _payload_file(tmp_path, zipped: bool, marker) -> str:
  """A `.pth` whose pickle calls os.system to create `marker` when loaded by plain pickle."""

  class Payload:
    def __reduce__(self):
      return os.system, (f'touch {marker}',)

  data = pickle.dumps(collections.OrderedDict(weight=Payload()), protocol=2)
  path = str(tmp_path / f'payload_{zipped}.pth')
  if zipped:
    with zipfile.ZipFile(path, 'w') as z:
      z.writestr('archive/data.pkl', data)
      z.writestr('archive/version', '3\n')
  else:  # The older layout: its first pickle is the payload.
    with open(path, 'wb') as f:
      f.write(data)
  return path


@pytest.mark.parametrize('zipped', [True, False], ids=['zip layout', 'older layout'])
def test_a_pickle_naming_another_global_is_refused_and_runs_nothing(tmp_path, zipped):
  marker = tmp_path / 'ran'
  path = _payload_file(tmp_path, zipped, marker)
  with pytest.raises(pth.PthError) as error:
    pth.load_state_dict(path)
  message = str(error.value)
  assert message.startswith(f'{path}: refused: its pickle names posix.system')
  assert 'nothing in it was run' in message and '\n' not in message
  assert not marker.exists()
  with pytest.raises(pth.PthError, match="refused"):  # Through the converter, the same line.
    inception.convert_pth(path, str(tmp_path / 'w.npz'), sha256_prefix=None)
  assert not marker.exists() and not (tmp_path / 'w.npz').exists()
  # The payload is live: plain pickle runs it, so the refusal above is what kept it from running.
  with zipfile.ZipFile(path) if zipped else open(path, 'rb') as f:
    pickle.loads(f.read('archive/data.pkl') if zipped else f.read())
  assert marker.exists()


@pytest.mark.parametrize('cut', [0.5, 0.999])
def test_a_truncated_pth_is_one_line(release_like_pth, tmp_path, cut):
  zipped = tmp_path / 'zipped.pth'
  torch.save(collections.OrderedDict(w=torch.ones(1000)), zipped)
  for source in (release_like_pth, zipped):
    with open(source, 'rb') as f:
      data = f.read()
    path = tmp_path / f'truncated_{os.path.basename(source)}'
    path.write_bytes(data[:int(len(data) * cut)])
    with pytest.raises(pth.PthError) as error:
      pth.load_state_dict(str(path))
    assert str(error.value).startswith(f'{path}: truncated or not a PyTorch state dict (')
    assert str(error.value).endswith('download it again') and '\n' not in str(error.value)


def test_a_pth_whose_sha256_is_not_the_one_its_name_carries_is_one_line(release_like_pth,
                                                                       tmp_path, monkeypatch):
  wrong = tmp_path / 'pt_inception-2015-12-05-6726825d.pth'  # The release's name, other bytes.
  os.link(release_like_pth, wrong)
  monkeypatch.setenv('GAN_JAX_CACHE', str(tmp_path))
  monkeypatch.delenv(inception.WEIGHTS_ENV, raising=False)
  with pytest.raises(inception.InceptionWeightsError) as error:
    inception.resolve_weights('', download=False)
  digest = hashlib.sha256(wrong.read_bytes()).hexdigest()[:8]
  assert str(error.value) == (f'{wrong}: sha256 {digest}... is not the 6726825d... its name '
                              'promises (truncated or another file): delete it and download it again')
  assert not (tmp_path / inception.FID_WEIGHTS_NPZ).exists()


def test_offline_the_message_is_short_with_the_url_and_both_ways_out(tmp_path, monkeypatch):
  monkeypatch.setenv('GAN_JAX_CACHE', str(tmp_path))
  monkeypatch.delenv(inception.WEIGHTS_ENV, raising=False)
  monkeypatch.delenv(inception.URL_ENV, raising=False)
  monkeypatch.setattr(inception, 'FID_WEIGHTS_URL',  # Nothing listens there: offline, always.
                      'http://127.0.0.1:9/mseitzer/pt_inception-2015-12-05-6726825d.pth')
  for download in (True, False):
    with pytest.raises(inception.InceptionWeightsError) as error:
      inception.resolve_weights('', download=download)
    message = str(error.value)
    # At most 300 characters with a user's cache folder in place of pytest's long one.
    assert len(message.replace(str(tmp_path), '/home/user/.cache/gan_jax')) <= 300, message
    assert '\n' not in message
    assert inception.FID_WEIGHTS_URL in message and f'in {tmp_path}/' in message
    assert 'extractor="cifar10_cnn"' in message
  assert os.listdir(tmp_path) == []  # No half-written download is left.


def test_a_config_file_without_get_config_is_one_line(tmp_path):
  path = tmp_path / 'my_config.py'
  path.write_text('batch_size = 64\n')
  for config in (str(path), f'{path}:runlocal'):
    result = subprocess.run(
        [sys.executable, 'launch.py', '--config', config, '--workdir', str(tmp_path / 'run')],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert one_error_line(result.stderr) == (
        f'error: --config: {path} defines no get_config(arg); a config file returns its '
        'ConfigDict from get_config(arg), as experiments/*.py do')
  assert not (tmp_path / 'run').exists()
