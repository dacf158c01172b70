"""Runs `launch.py ARGS` as on a machine with the plain install (`pip install -e .`), where neither
TensorFlow nor torch can be imported, and says which of their modules were loaded.

  python tests/plain_install.py [--cas] --config experiments/cgan_cifar.py:runlocal --workdir DIR ...

Both stay installed in the test environment (the test and parity extras), so they are hidden the
way an uninstalled package is: the path finder no longer finds them (`import tensorflow` raises
ModuleNotFoundError and `importlib.util.find_spec` returns None, which is what tfds and etils
check). `--cas` adds a CAS evaluator (`with_cas`), so that every kind of evaluator writes logs.
"""

import importlib.machinery
import os
import sys

HIDDEN = ('tensorflow', 'tf_keras', 'keras', 'torch', 'torchvision', 'pytorch_fid', 'triton',
          'functorch')


def hide(packages: tuple[str, ...]) -> None:
  """Makes `packages` unimportable in this process, as if they were not installed."""

  class PathFinderWithout(importlib.machinery.PathFinder):

    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
      if fullname.partition('.')[0] in packages:
        return None
      return super().find_spec(fullname, path, target)

  sys.meta_path[sys.meta_path.index(importlib.machinery.PathFinder)] = PathFinderWithout


def with_cas(config):
  """`config` that also scores CAS: a classifier trained on 64 samples, tested on 256 real images."""
  config.evals.cas = {'metric': 'cas', 'num_samples': 64, 'num_real': 256}
  return config


if __name__ == '__main__':
  hide(HIDDEN)
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  import launch
  argv = [a for a in sys.argv if a != '--cas']
  launch.parse_flags(argv)
  config = with_cas(launch._CONFIG.value) if '--cas' in sys.argv else launch._CONFIG.value
  try:
    code = launch.train(config, launch._WORKDIR.value)
  finally:
    loaded = sorted(m for m in sys.modules if m.partition('.')[0] in HIDDEN)
    print(f'hidden modules loaded: {loaded}', file=sys.stderr)
  sys.exit(code)
