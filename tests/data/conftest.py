"""Fixtures for the data tests: tiny image folders, idx files and a fake CelebA built in tmp_path."""
from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganlab.config import DataConfig


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """No test may touch ~/.cache/ganlab: the default cache directory points into tmp_path."""
    monkeypatch.setenv("GANLAB_CACHE", str(tmp_path / "env-cache"))


@pytest.fixture
def cache_dir(tmp_path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def cfg(cache_dir):
    """DataConfig factory with the test's cache directory and no progress noise."""
    def make(**kw) -> DataConfig:
        kw.setdefault("cache_dir", str(cache_dir))
        return DataConfig(**kw)
    return make


def save_image(path: Path, size=(20, 20), color=(255, 0, 0), mode="RGB", fmt=None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path, format=fmt)
    return path


def write_idx(path: Path, arr: np.ndarray, gz: bool = False, magic: bytes | None = None) -> Path:
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    head = magic if magic is not None else bytes([0, 0, 0x08, arr.ndim])
    blob = head + struct.pack(">" + "I" * arr.ndim, *arr.shape) + arr.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(blob) if gz else blob)
    return path


CELEBA_ATTRS = ["Bald", "Eyeglasses", "Male", "Smiling"]
CELEBA_ROWS = [("000001.jpg", [-1, 1, -1, 1]), ("000002.jpg", [1, -1, 1, -1]), ("000003.jpg", [-1, -1, 1, 1])]


def make_celeba(root: Path, rows=CELEBA_ROWS, count=None, images=True) -> Path:
    (root / "img_align_celeba").mkdir(parents=True, exist_ok=True)
    lines = [str(len(rows) if count is None else count), " ".join(CELEBA_ATTRS)]
    for name, vals in rows:
        lines.append(name + " " + " ".join(f"{v:2d}" for v in vals))
        if images:
            save_image(root / "img_align_celeba" / name, size=(89, 109), color=(10 * len(lines), 50, 90))
    (root / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    return root


def shared_data_dir() -> Path:
    """/work/shared/data next to the repository, or $GANLAB_SHARED_DATA."""
    env = os.environ.get("GANLAB_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    d = shared_data_dir()
    if not d.is_dir():
        pytest.skip(f"shared reference data not found at {d} (set GANLAB_SHARED_DATA)")
    return d


@pytest.fixture
def h():
    """The helpers above, as a fixture so test modules need not import conftest."""
    import types
    return types.SimpleNamespace(save_image=save_image, write_idx=write_idx, make_celeba=make_celeba,
                                 CELEBA_ATTRS=CELEBA_ATTRS, CELEBA_ROWS=CELEBA_ROWS)
