"""pytorch-fid's own Inception built offline with random weights: the reference for parity and speed."""

from __future__ import annotations

import numpy as np


def random_pytorch_fid_inception(seed: int = 0):
  """(fid_inception_v3 network, pytorch-fid's `InceptionV3([3])` wrapper around that same network),
  eval mode, with weights that keep 94 layers' activations in range (He-scaled convolutions,
  BatchNorm statistics near 1). pytorch-fid's weight download is stubbed out while they are
  built, so this runs offline. Needs the parity extra (torch, torchvision, pytorch-fid)."""
  import pytorch_fid.inception as pfi
  import torch
  import torchvision

  inception3 = torchvision.models.inception.Inception3
  saved = pfi.load_state_dict_from_url, inception3.load_state_dict, pfi.fid_inception_v3
  pfi.load_state_dict_from_url = lambda *a, **k: {}
  inception3.load_state_dict = lambda self, *a, **k: None
  try:
    net = pfi.fid_inception_v3()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
      for name, p in net.state_dict().items():
        if name.endswith('num_batches_tracked'):
          continue
        if p.ndim > 1:
          fan_in = int(np.prod(p.shape[1:]))
          p.copy_(torch.randn(p.shape, generator=gen) * np.sqrt(2.0 / fan_in))
        elif name.endswith(('running_var', 'bn.weight')):
          p.copy_(torch.rand(p.shape, generator=gen) + 0.5)
        else:
          p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
    pfi.fid_inception_v3 = lambda: net  # The wrapper builds its blocks around this network.
    wrapper = pfi.InceptionV3([3])
  finally:
    pfi.load_state_dict_from_url, inception3.load_state_dict, pfi.fid_inception_v3 = saved
  return net.eval(), wrapper.eval()
