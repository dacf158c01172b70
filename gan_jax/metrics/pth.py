"""Reads a PyTorch state dict (`torch.save` of a dict of tensors, a `.pth`) into NumPy arrays,
without torch and without running anything the file names.

A `.pth` is a pickle of the dict whose tensors point at raw storages: in torch >= 1.6's zip
layout, `<archive>/data.pkl` and one file `<archive>/data/<key>` per storage; in the older layout,
four pickles (magic number, protocol, system info, the dict), the list of storage keys, then each
storage as an int64 element count followed by its bytes. The pickle is read by an unpickler that
admits exactly the globals a state dict of tensors needs (`_ALLOWED`), as torch's own
`torch.load(weights_only=True)` does inside torch; any other global is refused before it is
called, so a crafted file cannot run code. Arrays are built from the storages with NumPy: dtype,
shape, strides and offset, bounds-checked.

Written here rather than taken from a library: none of the maintained readers of `.pth` files
works without torch (safetensors reads its own format; tinygrad's `torch_load` brings a tensor
framework and admits every global).
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile
from typing import Any, BinaryIO, Callable, NamedTuple

import ml_dtypes
import numpy as np

from gan_jax.errors import UserError

# torch's storage classes by the name a pickle gives them, and the element type each holds.
STORAGE_DTYPES = {
    'FloatStorage': np.float32, 'DoubleStorage': np.float64, 'HalfStorage': np.float16,
    'BFloat16Storage': ml_dtypes.bfloat16, 'LongStorage': np.int64, 'IntStorage': np.int32,
    'ShortStorage': np.int16, 'CharStorage': np.int8, 'ByteStorage': np.uint8,
    'BoolStorage': np.bool_,
}
_LEGACY_MAGIC = 0x1950a86a20f9469cfc6c
_LEGACY_PROTOCOL = 1001


class PthError(UserError, ValueError):
  """A `.pth` file is not a readable state dict of tensors; the message names the file."""


class _Refused(Exception):
  """The pickle names a global outside `_ALLOWED`."""


class _NotAStateDict(Exception):
  """The pickle holds something other than a dict of tensors."""


class _StorageType:
  """Stands for `torch.<Name>Storage` in the pickle: only its element type is used."""

  def __init__(self, name: str):
    self.name, self.dtype = name, np.dtype(STORAGE_DTYPES[name])


class _Storage:
  """One storage's bytes, read when the first tensor on it is rebuilt."""

  def __init__(self, key: str, dtype: np.dtype, numel: int, read: Callable[[str], bytes]):
    self.key, self.dtype, self.numel, self._read, self._array = key, dtype, numel, read, None

  def array(self) -> np.ndarray:
    if self._array is None:
      data = self._read(self.key)
      if len(data) != self.numel * self.dtype.itemsize:
        raise ValueError(f'storage {self.key} holds {len(data)} bytes, not the '
                         f'{self.numel} x {self.dtype.itemsize} its tensors need')
      self._array = np.frombuffer(data, self.dtype)
    return self._array


class _Tensor(NamedTuple):
  """A tensor as its pickle describes it; its storage's bytes may come later in the file."""
  storage: '_Storage'
  offset: int
  size: tuple
  stride: tuple

  def array(self) -> np.ndarray:
    """The tensor as an array, copied out of its storage, bounds-checked."""
    offset, size, stride = self.offset, tuple(self.size), tuple(self.stride)
    if len(size) != len(stride) or any(not isinstance(v, int) or v < 0
                                       for v in (offset, *size, *stride)):
      raise ValueError(f'a tensor with a malformed offset, shape or stride: '
                       f'{offset}, {size}, {stride}')
    base = self.storage.array()
    if all(size):  # An empty tensor reads nothing.
      last = offset + sum((n - 1) * s for n, s in zip(size, stride))
      if last >= base.size:
        raise ValueError(f'a tensor reads element {last} of storage {self.storage.key}, '
                         f'which has {base.size}')
    strides = tuple(s * base.itemsize for s in stride)
    return np.lib.stride_tricks.as_strided(base[offset:], size, strides).copy()


def _rebuild_tensor_v2(storage: _Storage, offset: int, size: tuple, stride: tuple,
                       requires_grad: bool, backward_hooks: Any, metadata: Any = None) -> _Tensor:
  """`torch._utils._rebuild_tensor_v2`, deferred until the storages are read."""
  del requires_grad, backward_hooks, metadata
  if not (isinstance(storage, _Storage) and isinstance(size, tuple)
          and isinstance(stride, tuple)):
    raise ValueError('a tensor whose storage, shape or strides are malformed')
  return _Tensor(storage, offset, size, stride)


# Everything a pickled state dict of CPU tensors names, and what each name becomes here.
_ALLOWED: dict[tuple[str, str], Any] = {
    ('collections', 'OrderedDict'): collections.OrderedDict,
    ('torch._utils', '_rebuild_tensor_v2'): _rebuild_tensor_v2,
    **{('torch', name): _StorageType(name) for name in STORAGE_DTYPES},
}


class _StateDictUnpickler(pickle.Unpickler):
  """Resolves only `_ALLOWED` names; storages come from `read(key)`."""

  def __init__(self, file: BinaryIO, read: Callable[[str], bytes]):
    super().__init__(file)
    self._read, self.storages = read, {}

  def find_class(self, module: str, name: str) -> Any:
    try:
      return _ALLOWED[module, name]
    except KeyError:
      raise _Refused(f'{module}.{name}') from None

  def persistent_load(self, pid: Any) -> _Storage:
    # zip layout: ('storage', type, key, location, numel); older layout: ... numel, view).
    if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] in ('storage', b'storage')):
      raise ValueError(f'an unknown persistent id {str(pid)[:60]}')
    storage_type, key, _location, numel = pid[1:5]
    if not isinstance(storage_type, _StorageType) or not isinstance(numel, int):
      raise ValueError(f'a malformed storage reference {str(pid)[:60]}')
    if len(pid) == 6 and pid[5] is not None:
      raise ValueError('a storage view (written by torch before 1.0), which this reader does not read')
    key = key.decode() if isinstance(key, bytes) else str(key)
    if key not in self.storages:
      self.storages[key] = _Storage(key, storage_type.dtype, numel, self._read)
    return self.storages[key]


def _arrays(result: Any) -> dict[str, np.ndarray]:
  if not (isinstance(result, dict) and all(isinstance(k, str) and isinstance(v, _Tensor)
                                           for k, v in result.items())):
    raise _NotAStateDict(type(result).__name__)
  return {k: v.array() for k, v in result.items()}


def _from_zip(f: BinaryIO) -> dict:
  with zipfile.ZipFile(f) as z:
    pickles = [n for n in z.namelist() if n.endswith('/data.pkl') and n.count('/') == 1]
    if len(pickles) != 1:
      raise ValueError(f'a zip without exactly one <archive>/data.pkl ({len(pickles)} found)')
    root = pickles[0][:-len('data.pkl')]
    if root + 'byteorder' in z.namelist() and z.read(root + 'byteorder') != b'little':
      raise ValueError('big-endian storages, which this reader does not read')
    unpickler = _StateDictUnpickler(io.BytesIO(z.read(pickles[0])),
                                    lambda key: z.read(f'{root}data/{key}'))
    return _arrays(unpickler.load())  # While the zip is open.


def _from_legacy(f: BinaryIO) -> dict:
  def header() -> Any:
    return _StateDictUnpickler(f, lambda key: b'').load()
  if header() != _LEGACY_MAGIC or header() != _LEGACY_PROTOCOL:
    raise ValueError('neither a zip nor torch\'s older layout (wrong magic number)')
  sys_info = header()
  if not (isinstance(sys_info, dict) and sys_info.get('little_endian', True)):
    raise ValueError('big-endian storages, which this reader does not read')
  blobs: dict[str, bytes] = {}
  unpickler = _StateDictUnpickler(f, blobs.__getitem__)
  result = unpickler.load()
  keys = header()
  if not isinstance(keys, list) or sorted(map(str, keys)) != sorted(unpickler.storages):
    raise ValueError('its list of storage keys does not match its tensors')
  for key in map(str, keys):
    storage = unpickler.storages[key]
    head = f.read(8)
    if len(head) != 8 or struct.unpack('<q', head)[0] != storage.numel:
      raise ValueError(f'storage {key}: its element count does not match its tensors')
    blobs[key] = f.read(storage.numel * storage.dtype.itemsize)
  return _arrays(result)


def load_state_dict(path: str) -> dict[str, np.ndarray]:
  """`torch.load(path, weights_only=True)` for a state dict of CPU tensors, as NumPy arrays
  (torch's dtype kept; bfloat16 as ml_dtypes.bfloat16). Raises `PthError` naming the file for
  a global outside a state dict's, a truncated or corrupt file, or anything but a dict of tensors."""
  try:
    with open(path, 'rb') as f:
      zipped = f.read(4) == b'PK\x03\x04'
      f.seek(0)
      result = _from_zip(f) if zipped else _from_legacy(f)
  except _NotAStateDict as e:
    raise PthError(f'{path}: holds a {e} that is not a state dict of tensors') from None
  except _Refused as e:
    raise PthError(f'{path}: refused: its pickle names {e}, which a file of weights never '
                   'needs; nothing in it was run. Use the file from its original source') from None
  except OSError as e:
    raise PthError(f'{path}: cannot be read ({e.strerror or e})') from None
  except (pickle.UnpicklingError, zipfile.BadZipFile, EOFError, ValueError, TypeError, KeyError,
          IndexError, AttributeError, struct.error, MemoryError, RecursionError) as e:
    raise PthError(f'{path}: truncated or not a PyTorch state dict ({type(e).__name__}: '
                   f'{str(e)[:100]}); download it again') from None
  return result
