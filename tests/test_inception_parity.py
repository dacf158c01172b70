"""The Flax FID Inception equals pytorch-fid's own torch model, weights transplanted by our converter.

pytorch-fid's model is built with random weights (its weight download is stubbed out), so this
runs offline; with the published weights the same converter makes gan_jax's FID pytorch-fid's.
torch, torchvision and pytorch-fid come from the `parity` extra, which `make test` installs.
"""

import os

import jax
import numpy as np
import pytest

if os.environ.get('GAN_JAX_REQUIRE_PARITY'):  # `make test` sets it: a skip there would prove nothing.
  import pytorch_fid.inception  # noqa: F401
torch = pytest.importorskip('torch', reason='install the parity extra: pip install -e ".[parity]"')
pytorch_fid = pytest.importorskip('pytorch_fid', reason='install the parity extra')
import pytorch_fid.fid_score  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from flax import traverse_util  # noqa: E402

from gan_jax.metrics import inception, scores  # noqa: E402
from gan_jax.metrics.pytorch_fid_reference import random_pytorch_fid_inception  # noqa: E402


@pytest.fixture(scope='module')
def torch_models():
  """pytorch-fid's FID Inception with random (but activation-preserving) weights, and its
  `InceptionV3` wrapper (resize, normalisation, pool3) around that same network."""
  return random_pytorch_fid_inception(seed=0)


@pytest.fixture(scope='module')
def flax_params(torch_models):
  net, _ = torch_models
  return traverse_util.unflatten_dict(inception.convert_torch_state_dict(net.state_dict()), sep='/')


@pytest.mark.parametrize('size', [32, 299])
def test_pool3_and_logits_equal_pytorch_fid(torch_models, flax_params, size):
  net, wrapper = torch_models
  images = np.random.default_rng(size).uniform(-1, 1, (3, size, size, 3)).astype(np.float32)
  with torch.no_grad():
    x01 = torch.from_numpy((images.transpose(0, 3, 1, 2) + 1) / 2)
    torch_pool3 = wrapper(x01)[0][:, :, 0, 0].numpy()
    resized = F.interpolate(x01, size=(299, 299), mode='bilinear', align_corners=False)
    torch_logits = net(2 * resized - 1).numpy()
  out = jax.jit(inception.FIDInceptionV3().apply)({'params': flax_params}, images)
  for got, want in ((out['pool3'], torch_pool3), (out['logits'], torch_logits)):
    got = np.asarray(got)
    assert np.abs(want).max() > 1e-2  # The random network did not collapse to zeros.
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_grayscale_is_repeated_over_rgb(flax_params):
  gray = np.random.default_rng(1).uniform(-1, 1, (2, 28, 28, 1)).astype(np.float32)
  apply = jax.jit(inception.FIDInceptionV3().apply)
  np.testing.assert_allclose(apply({'params': flax_params}, gray)['pool3'],
                             apply({'params': flax_params}, np.repeat(gray, 3, -1))['pool3'],
                             rtol=1e-6)


def test_pth_file_converts_to_a_pickle_free_npz(torch_models, tmp_path):
  net, _ = torch_models
  pth = tmp_path / 'random_inception.pth'
  torch.save(net.state_dict(), pth)
  with pytest.raises(inception.InceptionWeightsError, match='sha256'):
    inception.convert_pth(str(pth), str(tmp_path / 'x.npz'))  # Not the published file.
  npz = inception.convert_pth(str(pth), str(tmp_path / 'random.npz'), sha256_prefix=None)
  params = inception.load_params(npz)
  with np.load(npz, allow_pickle=False) as f:
    assert len(f.files) == len(inception.param_shapes())
  np.testing.assert_array_equal(params['Mixed_7c']['branch_pool']['conv']['kernel'],
                                net.Mixed_7c.branch_pool.conv.weight.numpy().transpose(2, 3, 1, 0))


def test_a_pth_path_in_the_config_is_converted_once_beside_it(torch_models, flax_params, tmp_path,
                                                              monkeypatch):
  """`eval.inception_weights=...pth`: resolve_weights converts it into the `.npz` next to it, and
  that file holds the parameters the parity tests compare with pytorch-fid."""
  net, _ = torch_models
  pth = tmp_path / 'weights.pth'
  torch.save(net.state_dict(), pth)
  # The random weights stand in for the published file: its checksum check is the one thing skipped.
  monkeypatch.setattr(inception, 'sha256_file', lambda path: inception.FID_SHA256_PREFIX + '0' * 56)
  npz = inception.resolve_weights(str(pth))
  assert npz == str(tmp_path / 'weights.npz') and os.path.exists(npz)
  jax.tree.map(np.testing.assert_array_equal, inception.load_params(npz), flax_params)
  mtime = os.path.getmtime(npz)
  assert inception.resolve_weights(str(pth)) == npz and os.path.getmtime(npz) == mtime  # Once.


def test_frechet_distance_equals_pytorch_fids():
  rng = np.random.default_rng(0)
  a, b = rng.normal(size=(500, 16)), rng.normal(size=(400, 16)) * 1.3 + 0.2
  mu1, s1 = scores.feature_statistics(a)
  mu2, s2 = scores.feature_statistics(b)
  np.testing.assert_allclose(scores.frechet_distance(mu1, s1, mu2, s2),
                             pytorch_fid.fid_score.calculate_frechet_distance(mu1, s1, mu2, s2),
                             rtol=1e-10)
