"""The on-disk cache: a second load decodes nothing, and anything that changes the result changes the key."""
from __future__ import annotations

import json
import os
import warnings

import numpy as np
import pytest
import torch

from ganlab.data import images as images_mod
from ganlab.data import load_dataset


def _folder(tmp_path, h, n=4):
    d = tmp_path / "d"
    for i in range(n):
        h.save_image(d / f"{i}.png", color=(30 * i, 10, 10))
    return d


def _forbid_decoding(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("decoded an image although the data set is cached")
    monkeypatch.setattr(images_mod, "load_image", boom)
    monkeypatch.setattr(images_mod, "fit", boom)


def test_second_load_decodes_nothing(tmp_path, cfg, cache_dir, h, monkeypatch):
    d = _folder(tmp_path, h)
    first = load_dataset(cfg(source=str(d), image_size=16), progress=False)
    entries = sorted(p.name for p in cache_dir.iterdir())
    assert len(entries) == 3 and [e.split(".", 1)[1] for e in entries] == ["codes.npy", "json", "npy"]
    assert not any(p.name.endswith(".tmp") for p in cache_dir.iterdir())
    before = images_mod.DECODE_COUNT
    _forbid_decoding(monkeypatch)
    second = load_dataset(cfg(source=str(d), image_size=16), progress=False)
    assert images_mod.DECODE_COUNT == before
    assert torch.equal(first.data, second.data) and first.files == second.files and first.name == second.name


def test_cached_labels_and_skipped_warning_survive(tmp_path, cfg, h, monkeypatch):
    imgs = tmp_path / "images"
    for i in range(3):
        h.save_image(imgs / f"{i}.png", color=(50 * i, 0, 0))
    (imgs / "bad.png").write_text("broken")
    labels = tmp_path / "tags.csv"
    labels.write_text("file,colour\n0.png,black\nbad.png,red\n2.png,red\n")
    with pytest.warns(UserWarning, match="bad.png"):
        first = load_dataset(cfg(source=str(imgs), labels=str(labels), image_size=16), progress=False)
    _forbid_decoding(monkeypatch)
    with pytest.warns(UserWarning, match="bad.png"):
        second = load_dataset(cfg(source=str(imgs), labels=str(labels), image_size=16), progress=False)
    assert second.files == first.files == ["0.png", "2.png"]
    a = second.attributes["colour"]
    assert a.values == ["black", "red"] and a.codes.tolist() == [0, 1] and a.codes.dtype == torch.int64


def test_changes_that_invalidate_the_key(tmp_path, cfg, cache_dir, h):
    d = _folder(tmp_path, h)
    base = dict(source=str(d), image_size=16)

    def decodes(**kw) -> int:
        before = images_mod.DECODE_COUNT
        load_dataset(cfg(**{**base, **kw}), progress=False)
        return images_mod.DECODE_COUNT - before

    assert decodes() == 4
    assert decodes() == 0
    assert decodes(image_size=32) == 4          # image size
    assert decodes(channels=1) == 4             # channels
    assert decodes(limit=2) == 2                # limit
    assert decodes() == 0
    h.save_image(d / "1.png", size=(21, 21), color=(1, 2, 3))  # content (size) of one file
    assert decodes() == 4
    st = os.stat(d / "2.png")
    os.utime(d / "2.png", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # only the mtime
    assert decodes() == 4
    h.save_image(d / "9.png")  # a new file
    assert decodes() == 5
    assert decodes() == 0
    assert len(list(cache_dir.glob("*.json"))) == 7


def test_labels_content_changes_the_key(tmp_path, cfg, h):
    imgs = tmp_path / "images"
    for i in range(2):
        h.save_image(imgs / f"{i}.png")
    labels = tmp_path / "tags.csv"
    labels.write_text("file,x\n0.png,a\n1.png,b\n")
    st = os.stat(labels)
    c = cfg(source=str(imgs), labels=str(labels), image_size=16)
    assert load_dataset(c, progress=False).attributes["x"].codes.tolist() == [0, 1]
    labels.write_text("file,x\n0.png,b\n1.png,a\n")  # same size; restore the mtime too
    os.utime(labels, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert load_dataset(c, progress=False).attributes["x"].codes.tolist() == [1, 0]


def test_cache_dir_from_environment(tmp_path, h, monkeypatch):
    from ganlab.config import DataConfig
    d = _folder(tmp_path, h, n=2)
    monkeypatch.setenv("GANLAB_CACHE", str(tmp_path / "from-env"))
    load_dataset(DataConfig(source=str(d), image_size=16), progress=False)
    assert len(list((tmp_path / "from-env").glob("folder-*.json"))) == 1


def test_mnist_is_cached(tmp_path, cfg, h, monkeypatch):
    arr = np.random.default_rng(0).integers(0, 256, (6, 28, 28), dtype=np.uint8)
    h.write_idx(tmp_path / "m" / "train-images-idx3-ubyte.gz", arr, gz=True)
    first = load_dataset(cfg(source=str(tmp_path / "m"), image_size=32), progress=False)
    _forbid_decoding(monkeypatch)
    second = load_dataset(cfg(source=str(tmp_path / "m"), image_size=32), progress=False)
    assert torch.equal(first.data, second.data)


def test_broken_cache_entry_is_rebuilt(tmp_path, cfg, cache_dir, h):
    d = _folder(tmp_path, h)
    first = load_dataset(cfg(source=str(d), image_size=16), progress=False)
    meta = next(cache_dir.glob("*.json"))
    m = json.loads(meta.read_text())
    m["shape"] = [1, 2, 3, 4]
    meta.write_text(json.dumps(m))
    before = images_mod.DECODE_COUNT
    again = load_dataset(cfg(source=str(d), image_size=16), progress=False)
    assert images_mod.DECODE_COUNT - before == 4 and torch.equal(first.data, again.data)
    next(cache_dir.glob("*[0-9a-f].npy")).write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="cache"):
        third = load_dataset(cfg(source=str(d), image_size=16), progress=False)
    assert torch.equal(first.data, third.data)


def test_unwritable_cache_still_loads(tmp_path, cfg, h):
    d = _folder(tmp_path, h, n=2)
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("x")
    with pytest.warns(UserWarning, match="could not write the data cache"):
        ds = load_dataset(cfg(source=str(d), image_size=16, cache_dir=str(blocker / "sub")), progress=False)
    assert len(ds) == 2


def _cut(p):
    p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2])


def _random(p):
    p.write_bytes(np.random.default_rng(0).bytes(max(64, p.stat().st_size)))


DAMAGE = {
    "images cut short": ("*[0-9a-f].npy", _cut),
    "images random bytes": ("*[0-9a-f].npy", _random),
    "images empty": ("*[0-9a-f].npy", lambda p: p.write_bytes(b"")),
    "images missing": ("*[0-9a-f].npy", lambda p: p.unlink()),
    "codes cut short": ("*.codes.npy", _cut),
    "codes missing": ("*.codes.npy", lambda p: p.unlink()),
    "metadata random bytes": ("*.json", _random),
    "metadata cut short": ("*.json", _cut),
    "metadata not a mapping": ("*.json", lambda p: p.write_text("[1, 2]")),
    "metadata wrong file count": ("*.json", lambda p: p.write_text(json.dumps(
        {**json.loads(p.read_text()), "files": []}))),
    "images of another entry": ("*[0-9a-f].npy", lambda p: np.save(p, np.zeros((2, 1, 16, 16), np.uint8))),
}


@pytest.mark.parametrize("pattern, damage", DAMAGE.values(), ids=list(DAMAGE))
def test_a_damaged_cache_entry_is_ignored_and_rebuilt(tmp_path, cfg, cache_dir, h, pattern, damage):
    """Whatever happened to an entry (a kill while another tool wrote, a disk error, an edit), loading never
    crashes: the entry is ignored, decoded again and written whole, and the next load uses it."""
    d = _folder(tmp_path, h, n=4)
    first = load_dataset(cfg(source=str(d), labels=None, image_size=16, channels=1), progress=False)
    damage(next(cache_dir.glob(pattern)))
    before = images_mod.DECODE_COUNT
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an unreadable entry is reported with a warning; a mismatched one is not
        again = load_dataset(cfg(source=str(d), labels=None, image_size=16, channels=1), progress=False)
    assert images_mod.DECODE_COUNT - before == 4 and torch.equal(first.data, again.data)
    before = images_mod.DECODE_COUNT
    third = load_dataset(cfg(source=str(d), labels=None, image_size=16, channels=1), progress=False)
    assert images_mod.DECODE_COUNT == before and torch.equal(first.data, third.data)  # the rebuilt entry is used
