"""On-disk cache of decoded data sets, three files per entry:

- ``<format>-<key>.npy``: the uint8 images [N, C, S, S];
- ``<format>-<key>.codes.npy``: attribute codes [A, N] in the smallest integer type that holds them;
- ``<format>-<key>.json``: attribute names and values, file names, skipped files.

The key hashes everything the decoded result depends on: format, absolute source path, label files
(path and content), image size, channels, limit and every source file's name, size and mtime. Both
files are written to a temporary name in the cache directory and moved into place with
``os.replace``, the JSON last, so a reader never sees a half-written entry.

A data set too large to hold in memory (``data.loading``) is read as a memory map of its ``.npy``
(``load(..., mmap=True)``), and decoded straight into a memory-mapped temporary file (:class:`NewImages`).
An entry is never changed in place, so a map of it stays valid while a later run replaces it.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Iterable, Optional

import numpy as np

# Bump when decoding changes (resampling, cropping, channel conversion) so old entries are not reused.
CACHE_VERSION = 2
ENV_VAR = "GANLAB_CACHE"


def cache_root(cache_dir: Optional[str] = None) -> Path:
    """``cache_dir``, else $GANLAB_CACHE, else ~/.cache/ganlab."""
    d = cache_dir or os.environ.get(ENV_VAR) or "~/.cache/ganlab"
    return Path(d).expanduser()


def make_key(params: dict[str, Any], stats: Iterable[tuple[str, int, int]],
             content_hashes: Optional[dict[str, str]] = None) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"version": CACHE_VERSION, **params}, sort_keys=True, default=str).encode())
    # names are hashed as the file system's bytes: a name that is not UTF-8 ('caf\udce9') is a name too
    for path, digest in sorted((content_hashes or {}).items()):
        h.update(f"\0labels\0{path}\0{digest}\n".encode("utf-8", "surrogateescape"))
    for name, size, mtime_ns in stats:
        h.update(f"{name}\0{size}\0{mtime_ns}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()[:32]


def _paths(root: Path, stem: str) -> tuple[Path, Path, Path]:
    return root / f"{stem}.npy", root / f"{stem}.codes.npy", root / f"{stem}.json"


def load(root: Path, stem: str, mmap: bool = False) -> Optional[tuple[np.ndarray, np.ndarray, dict]]:
    """(images, codes [A, N] int64, metadata) of a complete, consistent entry, or None. ``mmap``: the images are
    a read-only memory map of the file (nothing is read until rows are indexed)."""
    npy, codes_path, meta_path = _paths(root, stem)
    if not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        data = np.load(npy, mmap_mode="r" if mmap else None, allow_pickle=False)
        codes = np.load(codes_path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        warnings.warn(f"ignoring unreadable cache entry {meta_path}: {e}", UserWarning, stacklevel=3)
        return None
    if not isinstance(meta, dict):
        warnings.warn(f"ignoring cache entry {meta_path}: it does not hold the entry's description", UserWarning,
                      stacklevel=3)
        return None
    n_attr = len(meta.get("attributes", []))
    if (meta.get("version") != CACHE_VERSION or list(data.shape) != meta.get("shape") or data.dtype != np.uint8
            or codes.shape != (n_attr, len(data)) or len(meta.get("files", [])) != len(data)):
        return None
    return data, codes.astype(np.int64), meta


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a cache is as readable as any other file
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _compact(codes: np.ndarray) -> np.ndarray:
    top = int(codes.max()) if codes.size else 0
    for dtype in (np.uint8, np.uint16, np.int32):
        if top <= np.iinfo(dtype).max:
            return codes.astype(dtype)
    return codes.astype(np.int64)


class NewImages:
    """The images file of an entry being decoded, for a set too large to decode in memory: ``array`` is a writable
    memory map of a temporary ``.npy`` in the cache folder, its disk space reserved up front (a full disk is an
    OSError here, not a crash while decoding). ``save(..., images=this)`` moves it into place; ``discard``
    deletes it."""

    def __init__(self, root: Path, stem: str, shape: tuple[int, ...]):
        root.mkdir(parents=True, exist_ok=True)
        self.root, self.stem, self.path = root, stem, None
        self.array = self._create(shape)

    def _create(self, shape: tuple[int, ...]) -> np.ndarray:
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=f".{self.stem}.npy.", suffix=".tmp")
        os.close(fd)
        try:
            array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
            _reserve(tmp)
        except BaseException:
            _unlink(tmp)
            raise
        self.discard()
        self.path = Path(tmp)
        return array

    def keep(self, rows: np.ndarray, chunk: int = 1024) -> np.ndarray:
        """Only the images ``rows`` (those whose files could be read), in a new temporary file."""
        old = self.array
        old_path, self.path = self.path, None  # _create must not delete the file it copies from
        try:
            self.array = self._create((len(rows), *old.shape[1:]))
            for lo in range(0, len(rows), chunk):
                self.array[lo:lo + chunk] = old[rows[lo:lo + chunk]]
        finally:
            _unlink(old_path)
        return self.array

    def discard(self) -> None:
        if self.path is not None:
            _unlink(self.path)
            self.path = None


def _reserve(path) -> None:
    """Allocate the file's blocks now: writing a memory map of a sparse file on a full disk kills the process."""
    if not hasattr(os, "posix_fallocate"):
        return
    fd = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, os.fstat(fd).st_size)
    except OSError as e:
        if e.errno not in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):  # a file system that cannot: go on
            raise
    finally:
        os.close(fd)


def _unlink(path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def save(root: Path, stem: str, data: np.ndarray, codes: np.ndarray, meta: dict,
         images: Optional[NewImages] = None) -> Optional[Path]:
    """Store an entry; on failure (read-only disk, full disk) warn and return None — the load still works.

    ``codes`` is [A, N]: one row per entry of ``meta["attributes"]``. ``images``: ``data`` is ``images.array``,
    already in its file, which is moved into place instead of written.
    """
    npy, codes_path, meta_path = _paths(root, stem)
    meta = {**meta, "version": CACHE_VERSION, "shape": list(data.shape)}
    try:
        root.mkdir(parents=True, exist_ok=True)
        if images is not None:
            os.chmod(images.path, 0o644)
            os.replace(images.path, npy)
            images.path = None
        else:
            _atomic_write(npy, lambda f: np.save(f, np.ascontiguousarray(data), allow_pickle=False))
        _atomic_write(codes_path, lambda f: np.save(f, _compact(codes), allow_pickle=False))
        _atomic_write(meta_path, lambda f: f.write(json.dumps(meta).encode()))
    except OSError as e:
        if images is not None:  # the file goes; its memory map (the data set) stays readable until dropped
            images.discard()
        warnings.warn(f"could not write the data cache in {root} ({e}); the next run decodes again",
                      UserWarning, stacklevel=3)
        return None
    return npy
