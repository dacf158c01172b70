"""Runs `launch.py ARGS` in a process where torch cannot be imported, as on a machine with the
plain install (`pip install -e .`), and says which torch modules were loaded.

  python tests/without_torch.py --config experiments/cgan_cifar.py:runlocal --workdir DIR ...

torch stays installed in the test environment (the parity extra), so it is hidden the way
tests/without_tensorflow.py hides TensorFlow.
"""

import os
import sys

HIDDEN = ('torch', 'torchvision', 'pytorch_fid', 'triton', 'functorch')

if __name__ == '__main__':
  tests = os.path.dirname(os.path.abspath(__file__))
  sys.path[:0] = [os.path.dirname(tests), tests]
  from without_tensorflow import hide
  hide(HIDDEN)
  import launch
  sys.argv = ['launch.py', *sys.argv[1:]]
  try:
    launch._run()
  finally:
    loaded = sorted(m for m in sys.modules if m.partition('.')[0] in HIDDEN)
    print(f'torch modules loaded: {loaded}', file=sys.stderr)
