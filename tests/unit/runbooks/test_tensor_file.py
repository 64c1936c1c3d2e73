"""The embedding table is mapped from its safetensors file: the same numbers the safetensors
library reads, bad files refused with a clear error, and pages a bulk read touched released."""

from __future__ import annotations

import gc
import json
import re
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from app.runbooks.tensor_file import TensorFileError, map_tensor


def resident_kib(path: Path) -> int:
    """This process's resident pages of its mappings of `path` (/proc/self/smaps)."""
    total, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            inside = line.endswith(str(path))
        elif inside and line.startswith("Rss:"):
            total += int(line.split()[1])
    return total


def test_the_mapped_tensors_are_the_ones_the_safetensors_library_reads(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    tensors: dict[str, np.ndarray] = {
        "embedding.weight": rng.standard_normal((1000, 64)).astype(np.float16),
        "other": rng.standard_normal((3, 5)).astype(np.float32)}
    path = tmp_path / "model.safetensors"
    save_file(tensors, str(path))
    for name, expected in tensors.items():
        mapped = map_tensor(path, name).array
        assert mapped.dtype == expected.dtype and mapped.shape == expected.shape
        assert np.array_equal(mapped, expected)
        assert not mapped.flags.writeable  # a view of the file, never written through


def _write(path: Path, header: object, data: bytes = b"") -> Path:
    raw = json.dumps(header).encode()
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + data)
    return path


@pytest.mark.parametrize(("header", "data", "says"), [
    ({"t": {"dtype": "F16", "shape": [2, 2], "data_offsets": [0, 8]}}, b"\0" * 8, "no F16/F32 "
     "tensor 'embedding.weight'"),
    ({"embedding.weight": {"dtype": "I32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8,
     "no F16/F32 tensor"),
    ({"embedding.weight": {"dtype": "F16", "shape": [2, 2], "data_offsets": [0, 8]}}, b"\0" * 4,
     "does not fit"),
    ({"embedding.weight": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 8]}}, b"\0" * 8,
     "does not fit"),
])
def test_a_file_that_does_not_hold_the_tensor_is_refused_by_name(
    tmp_path: Path, header: object, data: bytes, says: str,
) -> None:
    path = _write(tmp_path / "bad.safetensors", header, data)
    with pytest.raises(TensorFileError, match=says):
        map_tensor(path, "embedding.weight")


def test_a_file_that_is_not_safetensors_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"\xff" * 64)  # a header length far past the file's end
    with pytest.raises(TensorFileError, match="not a safetensors file"):
        map_tensor(path, "embedding.weight")
    path.write_bytes(b"\x04\0\0\0\0\0\0\0{no}")
    with pytest.raises(TensorFileError, match="no F16/F32 tensor"):
        map_tensor(path, "embedding.weight")


def test_rows_are_read_from_the_file_and_a_bulk_read_is_released(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    table = (np.arange(4096 * 256) % 2039).reshape(4096, 256).astype(np.float16)
    save_file({"embedding.weight": table}, str(path))  # 2 MiB
    tensor = map_tensor(path, "embedding.weight")
    assert resident_kib(path) == 0  # opening reads nothing
    ids = [4095, 0, 17, 17, 2048]
    rows = tensor.rows(ids)
    assert rows.dtype == np.float16 and np.array_equal(rows, table[ids])
    assert resident_kib(path) == 0  # a question's rows: none mapped into the process
    with pytest.raises(IndexError):
        tensor.rows([0, 4096])  # past the table: never the bytes after it
    assert np.array_equal(tensor.array, table)  # a bulk read, through the mapping
    assert resident_kib(path) >= 2048
    tensor.release()
    assert resident_kib(path) == 0
    assert np.array_equal(tensor.array[5], table[5])  # still readable after


def test_a_tensor_no_longer_used_closes_its_file(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    save_file({"embedding.weight": np.ones((64, 8), dtype=np.float16)}, str(path))
    fds = len(list(Path("/proc/self/fd").iterdir()))
    for _ in range(50):
        assert map_tensor(path, "embedding.weight").rows([3]).shape == (1, 8)
    gc.collect()
    assert len(list(Path("/proc/self/fd").iterdir())) <= fds
