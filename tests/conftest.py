"""Test setup: 8 virtual CPU devices (set before jax is imported) and the repository on sys.path."""

import contextlib
import fcntl
import os
import sys

# The tests are dominated by compiling many tiny programs, not by running them: LLVM's
# optimization passes off cut the suite's time by a third (numerics are XLA's, unchanged).
# Training, benchmarks and `make demo` keep XLA's defaults.
_flags = os.environ.get('XLA_FLAGS', '')
if 'xla_backend_optimization_level' not in _flags:
  _flags += ' --xla_backend_optimization_level=0'


def _jaxlib_before(version: tuple[int, int]) -> bool:
  import importlib.metadata
  try:
    installed = importlib.metadata.version('jaxlib')
  except importlib.metadata.PackageNotFoundError:
    return False
  return tuple(int(part) for part in installed.split('.')[:2]) < version


# XLA:CPU's older fusion emitters compile these programs in about 2/3 of the time of its MLIR
# ones (RESULTS.md, "The test suite"). jaxlib 0.11 dropped the older ones, and XLA aborts on a
# flag it does not know, so the flag is given to the jaxlib versions that have it.
if 'xla_cpu_use_fusion_emitters' not in _flags and _jaxlib_before((0, 11)):
  _flags += ' --xla_cpu_use_fusion_emitters=false'
os.environ['XLA_FLAGS'] = (_flags + ' --xla_force_host_platform_device_count=8').strip()


def subprocess_env(devices: int) -> dict[str, str]:
  """The environment of a subprocess with `devices` virtual CPU devices and the tests' other XLA
  flags (the optimization level, and the compilation cache's entries that depend on it)."""
  flags = os.environ['XLA_FLAGS'].replace('xla_force_host_platform_device_count=8',
                                          f'xla_force_host_platform_device_count={devices}')
  return dict(os.environ, XLA_FLAGS=flags)

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
# Tests compile the same programs many times (each run, resume, evaluate and launch subprocess
# builds its step again): JAX's persistent compilation cache, new and empty for each test session
# (the xdist workers and subprocesses inherit it), compiles each once.
if 'JAX_COMPILATION_CACHE_DIR' not in os.environ:
  import tempfile
  os.environ['JAX_COMPILATION_CACHE_DIR'] = _COMPILE_CACHE = tempfile.mkdtemp(prefix='gan_jax_compile_')
  os.environ['JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS'] = '0.1'
  os.environ['JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES'] = '0'
else:
  _COMPILE_CACHE = None
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Real-data features cached by the evaluators, and Inception weights: never the user's cache.
os.environ.setdefault('GAN_JAX_CACHE', os.path.join(ROOT, '.cache', 'gan_jax_test'))
sys.path.insert(0, ROOT)

import importlib.util  # noqa: E402

import pytest  # noqa: E402

# The parity extra brings torch and triton into the test process. Importing triton after
# TensorFlow segfaults (triton 3.8.0, tensorflow-cpu 2.21.0); before it, both work. pytorch-fid
# imports triton (through torch._dynamo) long after the tests have imported TensorFlow.
if importlib.util.find_spec('triton') is not None:
  import triton.runtime.autotuner  # noqa: E402,F401

# A folder with the original dataset files (on the development and CI machines, ../shared/data
# beside the checkout); without it the tests download the datasets through tfds.
RAW_DATA = os.environ.get('GAN_JAX_RAW_DATA', os.path.join(os.path.dirname(ROOT), 'shared', 'data'))


@contextlib.contextmanager
def refused_network():
  """Any attempt to reach the network raises OSError inside this block."""
  import socket

  def refuse(*args, **kwargs):
    raise OSError('network access attempted in an offline test')
  saved = socket.socket.connect, socket.create_connection, socket.getaddrinfo
  socket.socket.connect = socket.create_connection = socket.getaddrinfo = refuse
  try:
    yield
  finally:
    socket.socket.connect, socket.create_connection, socket.getaddrinfo = saved


def _prepared(data_dir: str, names: tuple[str, ...]) -> str:
  """`data_dir` holding the tfds datasets `names` as ArrayRecord, each built once: from the
  original files in RAW_DATA with the network refused when that folder exists, else downloaded
  by tfds as on a user's machine. Each dataset has its own lock, and the two `make test` workers
  take the names in opposite orders: they build two datasets at once, then each waits for the
  other's."""
  from gan_jax.data import prepare
  import tensorflow_datasets as tfds
  os.makedirs(data_dir, exist_ok=True)
  worker = os.environ.get('PYTEST_XDIST_WORKER', 'gw0')
  for name in names[::-1] if int(worker[2:] or 0) % 2 else names:
    with open(os.path.join(data_dir, f'.prepare.{name}.lock'), 'w') as lock:
      fcntl.flock(lock, fcntl.LOCK_EX)
      builder = tfds.builder(name, data_dir=data_dir, file_format='array_record')
      if builder.is_prepared():
        continue
      if os.path.isdir(RAW_DATA):
        with refused_network():
          prepare.prepare(name, RAW_DATA, data_dir, 'array_record')
      else:
        builder.download_and_prepare()
  return data_dir


def _as_tfrecord(array_record_dir: str, data_dir: str, name: str) -> str:
  """`data_dir` holding dataset `name` of `array_record_dir` as TFRecord: the same serialized
  examples in the same order, shard by shard, and the same metadata but for the file format (as
  `tfds convert_format` writes it, without its Beam dependency)."""
  import json
  import shutil
  import tensorflow as tf
  from array_record.python.array_record_module import ArrayRecordReader
  os.makedirs(data_dir, exist_ok=True)
  with open(os.path.join(data_dir, f'.convert.{name}.lock'), 'w') as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    [version] = os.listdir(os.path.join(array_record_dir, name))
    source, dest = (os.path.join(d, name, version) for d in (array_record_dir, data_dir))
    if os.path.isfile(os.path.join(dest, 'dataset_info.json')):
      return data_dir
    tmp = dest + '.tmp'
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    for file in sorted(os.listdir(source)):
      if '.array_record-' in file:
        reader = ArrayRecordReader(os.path.join(source, file))
        with tf.io.TFRecordWriter(os.path.join(tmp, file.replace('.array_record-', '.tfrecord-'))) as out:
          for record in reader.read_all():
            out.write(record)
        reader.close()
      elif file == 'dataset_info.json':
        with open(os.path.join(source, file)) as f:
          info = json.load(f)
        with open(os.path.join(tmp, file), 'w') as f:
          json.dump(dict(info, fileFormat='tfrecord'), f)
      else:
        shutil.copyfile(os.path.join(source, file), os.path.join(tmp, file))
    os.replace(tmp, dest)
  return data_dir


_TFDS_ROOT = os.environ.get('GAN_JAX_TEST_TFDS', os.path.join(ROOT, '.cache', 'tfds'))


@pytest.fixture(scope='session')
def tfds_dir():
  """mnist and cifar10 as `gan_jax.data.prepare` and gan_jax's downloads store them: ArrayRecord,
  read through tfds's data sources without TensorFlow."""
  return _prepared(os.path.join(_TFDS_ROOT, 'array_record'), ('mnist', 'cifar10'))


@pytest.fixture(scope='session')
def tfds_tfrecord_dir(tfds_dir):
  """mnist stored as TFRecord (tfds's own default), which gan_jax reads through tf.data."""
  return _as_tfrecord(tfds_dir, os.path.join(_TFDS_ROOT, 'tfrecord'), 'mnist')


# pytorch-fid's release file is torch's older (non-zip) serialization.
RELEASE_LAYOUT = dict(_use_new_zipfile_serialization=False)


@pytest.fixture(scope='session')
def release_like_pth(tmp_path_factory) -> str:
  """pytorch-fid's FID Inception with random weights, saved as its release file is (the older
  layout), named as a mirror would name it: `pt_inception-<tag>-<sha256 prefix>.pth`."""
  import hashlib
  torch = pytest.importorskip('torch', reason='install the parity extra: pip install -e ".[parity]"')
  from gan_jax.metrics.pytorch_fid_reference import random_pytorch_fid_inception
  net, _ = random_pytorch_fid_inception(seed=0)
  folder = tmp_path_factory.mktemp('served')
  path = folder / 'weights.pth'
  torch.save(net.state_dict(), path, **RELEASE_LAYOUT)
  with open(path, 'rb') as f:
    digest = hashlib.sha256(f.read()).hexdigest()
  named = folder / f'pt_inception-random-{digest[:8]}.pth'
  os.rename(path, named)
  return str(named)


@pytest.fixture
def weights_server(release_like_pth):
  """An HTTP server on 127.0.0.1 serving the folder of `release_like_pth`; yields its URL and the
  paths requested from it."""
  import functools
  import http.server
  import threading
  requested = []

  class Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
      requested.append(self.path)

  handler = functools.partial(Handler, directory=os.path.dirname(release_like_pth))
  server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
  threading.Thread(target=server.serve_forever, daemon=True).start()
  yield f'http://127.0.0.1:{server.server_port}/{os.path.basename(release_like_pth)}', requested
  server.shutdown()
  server.server_close()


# The longest tests (end-to-end runs, multi-device steps) first: the two `make test` workers
# then end together, instead of one of them running a minute-long test alone at the end.
_LONGEST_FIRST = ('test_sweep.py', 'test_train.py', 'test_paired.py', 'test_cycle.py', 'test_multiprocess.py',
                  'test_step.py',
                  'test_evaluators.py', 'test_fid_weights.py')


def pytest_collection_modifyitems(items):
  def rank(item):
    module = os.path.basename(str(item.path))
    return _LONGEST_FIRST.index(module) if module in _LONGEST_FIRST else len(_LONGEST_FIRST)
  items.sort(key=rank)


def pytest_sessionfinish(session, exitstatus):
  if _COMPILE_CACHE is not None:  # The process that made the cache (the xdist controller) removes it.
    import shutil
    shutil.rmtree(_COMPILE_CACHE, ignore_errors=True)


class RandomImages:
  """A stand-in image dataset with labels, so that step tests need no prepared data:
  `batch(step)` is {'x': [updates, samples, *shape] uniform in [-1, 1], 'label': [updates,
  samples]}, drawn from `step`."""

  def __init__(self, shape: tuple[int, ...] = (28, 28, 1), updates: int = 1, samples: int = 16,
               num_classes: int = 10):
    self.shape, self.updates, self.samples, self.num_classes = shape, updates, samples, num_classes

  def batch(self, step: int) -> dict:
    import numpy as np
    rng = np.random.default_rng(step)
    n = (self.updates, self.samples)
    return {'x': rng.uniform(-1, 1, n + tuple(self.shape)).astype(np.float32),
            'label': rng.integers(0, self.num_classes, n).astype(np.int32)}
