"""Runs experiments as `launch.py` does, in a process where TensorFlow cannot be imported
(or, with --keep, where it can), and says which TensorFlow modules were loaded.

  python tests/without_tensorflow.py [--keep] DATA_DIR EXPERIMENT:ARG WORKDIR [EXPERIMENT:ARG WORKDIR ...]

TensorFlow stays installed in the test environment, so it is hidden the way an uninstalled package
is: the path finder no longer finds it (`import tensorflow` raises ModuleNotFoundError and
`importlib.util.find_spec` returns None, which is what tfds and etils check).
"""

import importlib.machinery
import os
import sys

HIDDEN = ('tensorflow', 'tf_keras', 'keras')


def hide(packages: tuple[str, ...]) -> None:
  """Makes `packages` unimportable in this process, as if they were not installed."""

  class PathFinderWithout(importlib.machinery.PathFinder):

    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
      if fullname.partition('.')[0] in packages:
        return None
      return super().find_spec(fullname, path, target)

  sys.meta_path[sys.meta_path.index(importlib.machinery.PathFinder)] = PathFinderWithout


def config_for(experiment: str, data_dir: str):
  """The config the no-TensorFlow test runs both ways: the experiment's, reading `data_dir`;
  cgan_cifar also scores CAS (so every evaluator kind writes its logs)."""
  import importlib
  module, _, arg = experiment.partition(':')
  config = importlib.import_module(f'experiments.{module}').get_config(arg or None)
  config.dataset.data_dir = data_dir
  if module == 'cgan_cifar':
    config.evals.cas = {'metric': 'cas', 'num_samples': 64, 'num_real': 256}
  return config


if __name__ == '__main__':
  args = sys.argv[1:]
  if args[0] == '--keep':
    args = args[1:]
  else:
    hide(HIDDEN)
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  sys.path.insert(0, root)
  import launch
  data_dir, *runs = args
  for experiment, workdir in zip(runs[::2], runs[1::2]):
    if launch.train(config_for(experiment, data_dir), workdir):
      sys.exit(1)
  loaded = sorted(m for m in sys.modules if m.partition('.')[0] in HIDDEN)
  print(f'TensorFlow modules loaded: {loaded}')
