"""data.loading / data.max_memory on the data side: which sets are memory-mapped, and a streamed set decoded
straight into its cache file gives the same data as the in-memory decode (unreadable files, idx arrays,
interruptions and an unwritable cache included)."""
from __future__ import annotations

import errno
import os

import numpy as np
import pytest
import torch

from ganlab.data import images as images_mod
from ganlab.data import load_dataset
from ganlab.data.budget import GIB, available_ram, choose_loading, memory_budget, size_text


def test_choose_loading():
    assert choose_loading("memory", 1e-9, 10 ** 12) == (False, "data.loading=memory")
    assert choose_loading("stream", None, 1) == (True, "data.loading=stream")
    assert choose_loading("auto", 1.0, GIB + 1) == (True, "over data.max_memory=1 GiB")
    assert choose_loading("auto", 1.0, GIB) == (False, "within data.max_memory=1 GiB")
    limit, what = memory_budget(None)
    assert 0 < limit <= available_ram() // 2 + 2 ** 20 and what.startswith("half the available RAM, ")
    assert memory_budget(0.5) == (GIB // 2, "data.max_memory=0.5 GiB")
    assert [size_text(n) for n in (100, 48 * 1024, 3 * 2 ** 20, int(2.15 * GIB))] == [
        "1 KiB", "48 KiB", "3.0 MiB", "2.1 GiB"]


def _folder(tmp_path, h, n=6, broken=True):
    d = tmp_path / "d"
    for i in range(n):
        h.save_image(d / f"{i}.png", size=(20, 24), color=(40 * i, 255 - 40 * i, 7 * i))
    if broken:
        (d / "3b.png").write_bytes(b"not an image")
    return d


def _no_temporary_files(cache):
    return not any(p.name.endswith(".tmp") for p in cache.iterdir())


def test_a_streamed_decode_drops_unreadable_files_as_the_in_memory_one_does(tmp_path, cfg, h):
    d = _folder(tmp_path, h)
    sets = {}
    for loading in ("stream", "memory"):
        with pytest.warns(UserWarning, match="skipped 1 of 7 image files"):
            sets[loading] = load_dataset(cfg(source=str(d), image_size=16, loading=loading,
                                             cache_dir=str(tmp_path / loading)), progress=False)
        assert _no_temporary_files(tmp_path / loading)
    stream, memory = sets["stream"], sets["memory"]
    assert stream.mapped and not memory.mapped and stream.loading_reason == "data.loading=stream"
    assert len(stream) == 6 and stream.files == memory.files and torch.equal(stream.data, memory.data)
    with pytest.warns(UserWarning, match="skipped 1 of 7"):  # and from the cache
        again = load_dataset(cfg(source=str(d), image_size=16, loading="auto", max_memory=1e-9,
                                 cache_dir=str(tmp_path / "stream")), progress=False)
    assert again.mapped and again.loading_reason.startswith("over data.max_memory") and torch.equal(
        again.data, memory.data)


def test_idx_arrays_stream_too(tmp_path, cfg, h):
    arr = np.random.default_rng(1).integers(0, 256, (10, 28, 28), dtype=np.uint8)
    h.write_idx(tmp_path / "m" / "train-images-idx3-ubyte", arr)
    stream, memory = (load_dataset(cfg(source=str(tmp_path / "m"), image_size=16, loading=loading,
                                       cache_dir=str(tmp_path / loading)), progress=False)
                      for loading in ("stream", "memory"))
    assert stream.mapped and not memory.mapped and torch.equal(stream.data, memory.data)


def test_an_interrupted_streamed_decode_leaves_nothing(tmp_path, cfg, h, monkeypatch):
    d = _folder(tmp_path, h, broken=False)
    real, calls = images_mod.load_image, []

    def interrupted(*a, **k):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(images_mod, "load_image", interrupted)
    cache = tmp_path / "cache"
    with pytest.raises(KeyboardInterrupt):
        load_dataset(cfg(source=str(d), image_size=16, loading="stream", cache_dir=str(cache)), progress=False)
    assert list(cache.iterdir()) == []
    monkeypatch.setattr(images_mod, "load_image", real)
    assert len(load_dataset(cfg(source=str(d), image_size=16, loading="stream", cache_dir=str(cache)),
                            progress=False)) == 6


@pytest.mark.parametrize("fault", ["read-only cache", "full disk"])
def test_a_streamed_set_whose_cache_cannot_be_written_is_decoded_into_memory(tmp_path, cfg, h, monkeypatch,
                                                                             fault):
    d = _folder(tmp_path, h, broken=False)
    cache = tmp_path / "cache"
    if fault == "read-only cache":
        (tmp_path / "file-not-dir").write_text("x")
        cache = tmp_path / "file-not-dir" / "sub"
    else:
        def full(fd, offset, length):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        monkeypatch.setattr(os, "posix_fallocate", full, raising=False)
    with pytest.warns(UserWarning, match="could not write the data cache") as said:
        ds = load_dataset(cfg(source=str(d), image_size=16, loading="stream", cache_dir=str(cache)), progress=False)
    assert any("decoding" in str(w.message) and "into memory" in str(w.message) for w in said)
    # with room for the ordinary write of the entry after all, the set is mapped from it
    assert len(ds) == 6 and ds.mapped == (fault == "full disk")
    if cache.is_dir():
        assert _no_temporary_files(cache)
    memory = load_dataset(cfg(source=str(d), image_size=16, loading="memory", cache_dir=str(tmp_path / "m")),
                          progress=False)
    assert torch.equal(ds.data, memory.data)
