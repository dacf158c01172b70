"""Test setup: 8 virtual CPU devices (set before jax is imported) and the repository on sys.path."""

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


def _prepared(data_dir: str, names: tuple[str, ...], file_format: str) -> str:
  """`data_dir` holding the tfds datasets `names` stored as `file_format`, built once: from the
  original files in RAW_DATA when that folder exists, else downloaded by tfds as on a user's
  machine. `make test` runs two pytest workers: one builds, the other waits for it."""
  from gan_jax.data import prepare
  import tensorflow_datasets as tfds
  os.makedirs(data_dir, exist_ok=True)
  with open(os.path.join(data_dir, '.prepare.lock'), 'w') as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    for name in names:
      builder = tfds.builder(name, data_dir=data_dir, file_format=file_format)
      if builder.is_prepared():
        continue
      if os.path.isdir(RAW_DATA):
        prepare.prepare(name, RAW_DATA, data_dir, file_format)
      else:
        builder.download_and_prepare()
  return data_dir


_TFDS_ROOT = os.environ.get('GAN_JAX_TEST_TFDS', os.path.join(ROOT, '.cache', 'tfds'))


@pytest.fixture(scope='session')
def tfds_dir():
  """mnist and cifar10 as `gan_jax.data.prepare` and gan_jax's downloads store them: ArrayRecord,
  read through tfds's data sources without TensorFlow."""
  return _prepared(os.path.join(_TFDS_ROOT, 'array_record'), ('mnist', 'cifar10'), 'array_record')


@pytest.fixture(scope='session')
def tfds_tfrecord_dir():
  """mnist stored as TFRecord (tfds's own default), which gan_jax reads through tf.data."""
  return _prepared(_TFDS_ROOT, ('mnist',), 'tfrecord')


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
