"""Small loads of the real reference data in ../shared/data; skipped when it is absent."""
from __future__ import annotations

import torch

from ganlab.data import detect_format, load_dataset
from ganlab.data import images as images_mod


def test_anime_faces_csv(shared_data, cfg, monkeypatch):
    root = shared_data / "anime-faces"
    c = cfg(source=str(root / "images"), labels=str(root / "tags.csv"), image_size=64, limit=64)
    ds = load_dataset(c, progress=False)
    assert tuple(ds.data.shape) == (64, 3, 64, 64) and ds.data.dtype == torch.uint8
    assert ds.files[:3] == ["2.jpg", "3.jpg", "4.jpg"]  # CSV order
    assert len(ds.attributes["hair"].values) == 12 and len(ds.attributes["eyes"].values) == 11
    assert ds.attributes["hair"].values[ds.attributes["hair"].codes[0]] == "blonde"
    assert ds.attributes["eyes"].values[ds.attributes["eyes"].codes[0]] == "pink"
    assert 40 < ds.data.float().mean() < 220 and ds.data.float().std() > 20
    before = images_mod.DECODE_COUNT
    again = load_dataset(c, progress=False)
    assert images_mod.DECODE_COUNT == before and torch.equal(again.data, ds.data)


def test_celeba_10k(shared_data, cfg):
    root = shared_data / "celeba-10k"
    assert detect_format(str(root), None) == "celeba"
    ds = load_dataset(cfg(source=str(root), image_size=32, limit=64), progress=False)
    assert tuple(ds.data.shape) == (64, 3, 32, 32)
    assert len(ds.attributes) == 40 and ds.attributes["Smiling"].values == ["no", "yes"]
    # 000001.jpg in list_attr_celeba.txt: Smiling 1, Male -1
    assert ds.attributes["Smiling"].codes[0] == 1 and ds.attributes["Male"].codes[0] == 0
    assert ds.files[0] == "img_align_celeba/000001.jpg"


def test_mnist(shared_data, cfg):
    ds = load_dataset(cfg(source=str(shared_data / "mnist"), image_size=32, limit=64), progress=False)
    assert tuple(ds.data.shape) == (64, 1, 32, 32)
    assert ds.attributes["digit"].codes[:5].tolist() == [5, 0, 4, 1, 9]  # canonical MNIST order
    assert ds.data[:, :, :2].float().mean() < 5  # black borders, white strokes
    assert ds.data.max() == 255
