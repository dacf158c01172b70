"""Builds the tfds datasets mnist, fashion_mnist and cifar10 from local raw files, with no network.

  python -m gan_jax.data.prepare --raw DIR --data_dir ~/tensorflow_datasets

Preparing a dataset is the one step that needs TensorFlow (tfds extracts and encodes with it):
`pip install -e '.[prepare]'`. The ArrayRecord files it writes (the default) are then read for
training and evaluation without TensorFlow.

tfds reuses a download found under `download_dir/get_dl_fname(url, sha256)` when an INFO file
lies beside it. This places each verified raw file there (for cifar10, the `.tar.gz` of
`cifar-10-batches-bin/` that tfds downloads), then lets tfds build the dataset as usual.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tarfile
import time

from gan_jax.errors import PrepareError
from gan_jax.fileutil import sha256_file

RAW_FOLDERS = {'mnist': 'mnist', 'fashion_mnist': 'fashion-mnist',
               'cifar10': 'cifar-10-batches-bin'}
# sha256 of the official extracted CIFAR-10 binary batches (the archive tfds lists cannot be
# rebuilt bit for bit, so the files inside it are checked instead).
CIFAR10_FILES = {
    'data_batch_1.bin': 'cee916563c9f80d84e3cc88e17fdc0941787f1244f00a67874d45b261883ada5',
    'data_batch_2.bin': 'a591ca11fa1708a91ee40f54b3da4784ccd871ecf2137de63f51ada8b3fa57ed',
    'data_batch_3.bin': 'bbe8596564c0f86427f876058170b84dac6670ddf06d79402899d93ceea26f67',
    'data_batch_4.bin': '014e562d6e23c72197cc727519169a60359f5eccd8945ad5a09d710285ff4e48',
    'data_batch_5.bin': '755304fc0b379caeae8c14f0dac912fbc7d6cd469eb67a1029a08a39453a9add',
    'test_batch.bin': '8e2eb146ae340b09e24670f29cabc6326dba54da8789dab6768acf480273f65b',
    'batches.meta.txt': None,
}


def _checked(path: str, sha256: str | None) -> str:
  if not os.path.isfile(path):
    raise PrepareError(f'{path}: missing')
  if sha256 and sha256_file(path) != sha256:
    raise PrepareError(f'{path}: sha256 differs from the official file ({sha256})')
  return path


def _cifar10_archive(raw_dir: str, dest: str) -> None:
  """Writes the tar.gz tfds expects, holding `cifar-10-batches-bin/`, from verified batches."""
  folder = os.path.join(raw_dir, RAW_FOLDERS['cifar10'])
  paths = {name: _checked(os.path.join(folder, name), sha) for name, sha in CIFAR10_FILES.items()}
  tmp = dest + '.tmp'
  with tarfile.open(tmp, 'w:gz', compresslevel=1) as tar:
    for name, path in paths.items():
      tar.add(path, arcname=f'cifar-10-batches-bin/{name}')
  os.replace(tmp, dest)


def place_downloads(name: str, raw_dir: str, download_dir: str) -> list[str]:
  """Puts the raw files of dataset `name` where tfds looks for its downloads; returns them."""
  import tensorflow_datasets as tfds
  from tensorflow_datasets.core.download import resource

  if name not in RAW_FOLDERS:
    raise PrepareError(f'{name}: no offline source; known: {sorted(RAW_FOLDERS)}')
  url_infos = tfds.builder_cls(name).url_infos
  os.makedirs(download_dir, exist_ok=True)
  placed = []
  for url, info in url_infos.items():
    dest = os.path.join(download_dir, resource.get_dl_fname(url, info.checksum))
    if not os.path.exists(dest):
      if name == 'cifar10':
        _cifar10_archive(raw_dir, dest)
      else:
        source = _checked(os.path.join(raw_dir, RAW_FOLDERS[name], info.filename), info.checksum)
        shutil.copyfile(source, dest + '.tmp')
        os.replace(dest + '.tmp', dest)
    resource.write_info_file(url=url, path=resource.epath.Path(dest), dataset_name=name,
                             original_fname=info.filename, url_info=info)
    placed.append(dest)
  return placed


def prepare(name: str, raw_dir: str, data_dir: str, file_format: str = 'array_record') -> str:
  """Builds tfds dataset `name` in `data_dir` from the raw files in `raw_dir`, as `file_format`:
  array_record (random access, read without TensorFlow, in memory or example by example with
  `config.dataset.read = 'stream'`) or tfrecord (read into memory through tf.data, which needs
  TensorFlow); returns its path."""
  import tensorflow_datasets as tfds

  download_dir = os.path.join(data_dir, 'downloads')
  place_downloads(name, raw_dir, download_dir)
  builder = tfds.builder(name, data_dir=data_dir, file_format=file_format)
  builder.download_and_prepare(download_dir=download_dir)
  return builder.data_dir


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--raw', required=True, help='folder holding mnist/, fashion-mnist/ and '
                      'cifar-10-batches-bin/')
  parser.add_argument('--data_dir', required=True, help='the tfds data directory to build into')
  parser.add_argument('--datasets', default='mnist,fashion_mnist,cifar10')
  parser.add_argument('--file_format', default='array_record', choices=('array_record', 'tfrecord'),
                      help='array_record (default): random access, read without TensorFlow; '
                      'tfrecord: read through tf.data, which needs TensorFlow')
  args = parser.parse_args(argv)
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  from gan_jax.data.images import PREPARE_EXTRA, tensorflow_missing
  if tensorflow_missing():
    sys.exit(f'error: preparing a tfds dataset needs TensorFlow, which is not installed: '
             f'{PREPARE_EXTRA}')
  for name in args.datasets.split(','):
    start = time.time()
    try:
      path = prepare(name, args.raw, args.data_dir, args.file_format)
    except PrepareError as e:
      sys.exit(f'error: {e}')
    print(f'{name}: built in {path} ({time.time() - start:.0f}s)')


if __name__ == '__main__':
  main()
