"""One tensor of a safetensors file, read in place instead of into the heap (issue 14).

The embedding model's table is 16 MB of float16 rows, and a question reads a few dozen of them.
Read into memory (safetensors' `get_tensor`), all 16 MB were anonymous memory in every worker.
Here the file is opened once and:
- a few rows (a question's tokens) are read with one `pread` each: nothing of the table becomes
  resident in the worker (only in the page cache, which the node's pods running the same image
  share and the kernel can reclaim). Through a mapping, each row's page fault would also map
  its 64 KiB neighbourhood (the kernel's fault-around): measured, 108 distinct questions left
  10 of the 16 MB resident;
- many rows (an index build embeds every word of every runbook) are read through a read-only
  mapping, whose pages `release()` then drops from the worker.

The format (https://huggingface.co/docs/safetensors): an 8-byte little-endian header length,
a JSON header mapping each tensor's name to its dtype, shape and byte range (relative to the
end of the header), then the raw little-endian data. Only the dtypes of a float table are read.
"""

from __future__ import annotations

import json
import math
import mmap
import os
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

_DTYPES: dict[str, np.dtype[Any]] = {"F16": np.dtype("<f2"), "F32": np.dtype("<f4")}
_MAX_HEADER = 100_000_000  # bytes: the safetensors library refuses a longer header


class TensorFileError(ValueError):
    """The file is not a safetensors file holding this tensor in a readable dtype."""


@dataclass
class MappedTensor:
    array: npt.NDArray[Any]  # read-only view of the mapping: for bulk reads
    _map: mmap.mmap
    _fd: int
    _offset: int  # of row 0 in the file

    def rows(self, ids: list[int]) -> npt.NDArray[Any]:
        """Rows `ids` (a copy, in order), read from the file, not through the mapping."""
        if ids and not 0 <= min(ids) <= max(ids) < self.array.shape[0]:
            raise IndexError(f"rows {min(ids)}-{max(ids)} of a table of {self.array.shape[0]}")
        size = self.array.strides[0]
        data = b"".join(os.pread(self._fd, size, self._offset + i * size) for i in ids)
        return np.frombuffer(data, dtype=self.array.dtype).reshape(len(ids), -1)

    def release(self) -> None:
        """Drop the mapping's pages this process has touched (they stay in the page cache):
        after a bulk read the worker keeps none of the table resident."""
        self._map.madvise(mmap.MADV_DONTNEED)


def map_tensor(path: Path, name: str) -> MappedTensor:
    with path.open("rb") as f:
        size = path.stat().st_size
        length = int.from_bytes(f.read(8), "little")
        if not 0 < length <= min(_MAX_HEADER, size - 8):
            raise TensorFileError(f"{path}: not a safetensors file (header length {length})")
        try:
            header = json.loads(f.read(length))
            entry = header[name]
            dtype = _DTYPES[entry["dtype"]]
            shape = tuple(int(n) for n in entry["shape"])
            start, end = (int(n) for n in entry["data_offsets"])
        except (ValueError, KeyError, TypeError) as exc:
            raise TensorFileError(f"{path}: no F16/F32 tensor {name!r} ({exc!r})") from exc
        offset = 8 + length + start
        if not (0 <= start <= end and offset + (end - start) <= size
                and end - start == math.prod(shape) * dtype.itemsize):
            raise TensorFileError(f"{path}: tensor {name!r}: byte range {start}-{end} does not "
                                  f"fit the file or the shape {shape}")
        if len(shape) != 2:
            raise TensorFileError(f"{path}: tensor {name!r} has shape {shape}, not rows")
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        fd = os.dup(f.fileno())  # for pread; closed when the tensor is collected
    array = np.frombuffer(mapped, dtype=dtype, count=math.prod(shape), offset=offset)
    tensor = MappedTensor(array.reshape(shape), mapped, fd, offset)
    weakref.finalize(tensor, os.close, fd)  # (the mapping closes with its last array view)
    return tensor
