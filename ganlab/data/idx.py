"""Reading the idx format of MNIST / Fashion-MNIST (optionally gzipped).

Layout: magic = two zero bytes, a type byte (0x08 = unsigned byte), the number of dimensions;
then one big-endian uint32 per dimension; then the data, row-major.
"""
from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import Optional

import numpy as np

from ganlab.errors import DataError

UBYTE = 0x08


def _open(path: Path):
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gz else open(path, "rb")


def _read_exact(f, n: int, path: Path, what: str) -> bytes:
    try:
        b = f.read(n)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: cannot read the idx {what}: {e}") from None
    if len(b) != n:
        raise DataError(f"{path}: truncated idx file: expected {n} bytes of {what}, found {len(b)}")
    return b


def _header(f, path: Path, ndim: int) -> tuple[int, ...]:
    magic = _read_exact(f, 4, path, "header")
    expected = f"0x0000{UBYTE:02x}{ndim:02x}"
    if magic[0] != 0 or magic[1] != 0 or magic[3] == 0:
        raise DataError(f"{path}: not an idx file (magic number 0x{magic.hex()}; expected {expected})")
    if magic[2] != UBYTE or magic[3] != ndim:
        raise DataError(f"{path}: idx magic number 0x{magic.hex()} means type 0x{magic[2]:02x} with {magic[3]} "
                        f"dimension(s); expected {expected} (unsigned bytes, {ndim} dimension(s))")
    dims = np.frombuffer(_read_exact(f, 4 * ndim, path, "dimensions"), dtype=">u4")
    return tuple(int(d) for d in dims)


def read_shape(path: Path, ndim: int) -> tuple[int, ...]:
    """The dimensions stored in the header (cheap: reads 4 + 4 * ndim bytes)."""
    with _open(path) as f:
        return _header(f, path, ndim)


def read_idx(path: Path, ndim: int, count: Optional[int] = None) -> np.ndarray:
    """uint8 array of shape dims (or the first ``count`` items of it)."""
    with _open(path) as f:
        dims = _header(f, path, ndim)
        n = dims[0] if count is None else min(count, dims[0])
        item = int(np.prod(dims[1:], dtype=np.int64)) if ndim > 1 else 1
        data = _read_exact(f, n * item, path, "data")
    return np.frombuffer(data, dtype=np.uint8).reshape((n,) + dims[1:]).copy()
