"""Folder format and the image pipeline: decode, channels, resize + centre crop, bad files, limits, errors."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from ganlab.data import images as images_mod
from ganlab.data import load_dataset
from ganlab.errors import DataError


def test_flat_folder_is_unlabelled_rgb(tmp_path, cfg, h):
    for i, c in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255)]):
        h.save_image(tmp_path / "d" / f"im{i}.png", size=(30, 30), color=c)
    h.save_image(tmp_path / "d" / "upper.JPG", size=(30, 30), color=(200, 200, 200), fmt="JPEG")
    (tmp_path / "d" / "notes.txt").write_text("not an image, not an image name: ignored silently")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = load_dataset(cfg(source=str(tmp_path / "d"), image_size=16), progress=False)
    assert ds.kind == "images" and ds.data.dtype == torch.uint8
    assert tuple(ds.data.shape) == (4, 3, 16, 16) and ds.image_shape == (3, 16, 16) and len(ds) == 4
    assert ds.attributes == {}
    assert ds.files == ["im0.png", "im1.png", "im2.png", "upper.JPG"]  # sorted by name, case-insensitive ext
    assert ds.name == f"folder:{(tmp_path / 'd').resolve()}"
    assert ds.data[0, :, 8, 8].tolist() == [255, 0, 0]
    assert ds.data[2, :, 8, 8].tolist() == [0, 0, 255]


def test_class_subfolders_give_sorted_class_attribute(tmp_path, cfg, h):
    for cls, n in [("dog", 2), ("cat", 3), ("bird", 1)]:
        for i in range(n):
            h.save_image(tmp_path / "d" / cls / f"{i}.png")
    (tmp_path / "d" / "empty").mkdir()  # no images: not a class
    ds = load_dataset(cfg(source=str(tmp_path / "d"), image_size=16), progress=False)
    a = ds.attributes["class"]
    assert list(ds.attributes) == ["class"]
    assert a.values == ["bird", "cat", "dog"]
    assert a.codes.dtype == torch.int64
    assert a.codes.tolist() == [0, 1, 1, 1, 2, 2]
    assert ds.files[0] == "bird/0.png" and ds.files[-1] == "dog/1.png"
    for f, c in zip(ds.files, a.codes.tolist(), strict=True):
        assert f.split("/")[0] == a.values[c]


def test_loose_images_beside_class_folders_warn_and_are_unlabelled(tmp_path, cfg, h):
    h.save_image(tmp_path / "d" / "a.png")
    h.save_image(tmp_path / "d" / "sub" / "b.png")
    with pytest.warns(UserWarning, match="sub"):
        ds = load_dataset(cfg(source=str(tmp_path / "d"), image_size=16), progress=False)
    assert ds.files == ["a.png"] and ds.attributes == {}


def test_centre_crop_of_wide_image_keeps_middle(tmp_path, cfg):
    # 40x20: left half red, right half blue; the centred 20x20 square is half red, half blue.
    im = Image.new("RGB", (40, 20), (255, 0, 0))
    im.paste((0, 0, 255), (20, 0, 40, 20))
    # white border strips at the far left and right that the crop must remove
    im.paste((255, 255, 255), (0, 0, 5, 20))
    im.paste((255, 255, 255), (35, 0, 40, 20))
    (tmp_path / "d").mkdir()
    im.save(tmp_path / "d" / "wide.png")
    ds = load_dataset(cfg(source=str(tmp_path / "d"), image_size=16), progress=False)
    x = ds.data[0].int()
    assert x.shape == (3, 16, 16)
    left, right = x[:, :, :6], x[:, :, 10:]
    assert (left[0] >= 250).all() and (left[2] <= 5).all()      # red
    assert (right[2] >= 250).all() and (right[0] <= 5).all()    # blue
    assert not ((x[0] > 200) & (x[1] > 200) & (x[2] > 200)).any()  # no white border survived


def test_tall_image_crop_and_upscale(tmp_path, cfg):
    im = Image.new("L", (10, 30), 0)
    im.paste(255, (0, 10, 10, 20))  # middle third white
    (tmp_path / "d").mkdir()
    im.save(tmp_path / "d" / "tall.png")
    ds = load_dataset(cfg(source=str(tmp_path / "d"), image_size=32, channels=1), progress=False)
    assert tuple(ds.data.shape) == (1, 1, 32, 32)
    x = ds.data[0, 0]
    # only the white middle square remains; bicubic blends the outermost rows with the black beyond
    assert x[2:-2].min() >= 250 and x[[0, -1]].min() > 100


def test_channels_grey_and_rgb(tmp_path, cfg, h):
    h.save_image(tmp_path / "d" / "x.png", color=(255, 0, 0))
    grey = load_dataset(cfg(source=str(tmp_path / "d"), image_size=16, channels=1), progress=False)
    assert tuple(grey.data.shape) == (1, 1, 16, 16)
    assert int(grey.data[0, 0, 8, 8]) == 76  # ITU-R 601 luma of pure red
    h.save_image(tmp_path / "g" / "y.png", color=128, mode="L")
    rgb = load_dataset(cfg(source=str(tmp_path / "g"), image_size=16), progress=False)
    assert tuple(rgb.data.shape) == (1, 3, 16, 16) and rgb.data[0, :, 3, 3].tolist() == [128, 128, 128]


def test_transparent_pixels_become_white(tmp_path, cfg, h):
    h.save_image(tmp_path / "d" / "t.png", color=(0, 0, 0, 0), mode="RGBA")
    ds = load_dataset(cfg(source=str(tmp_path / "d"), image_size=16), progress=False)
    assert (ds.data == 255).all()


def test_jpeg_draft_and_large_image(tmp_path, cfg):
    rng = np.random.default_rng(0)
    arr = np.zeros((400, 600, 3), np.uint8)
    arr[:, :300] = (0, 200, 0)
    arr[:, 300:] = (200, 0, 200)
    arr += rng.integers(0, 10, arr.shape, dtype=np.uint8)
    (tmp_path / "d").mkdir()
    Image.fromarray(arr).save(tmp_path / "d" / "big.jpg", quality=95)
    ds = load_dataset(cfg(source=str(tmp_path / "d"), image_size=16), progress=False)
    x = ds.data[0].int()
    assert abs(int(x[1, 8, 2]) - 204) < 20 and int(x[0, 8, 2]) < 30
    assert abs(int(x[0, 8, 13]) - 204) < 20 and int(x[1, 8, 13]) < 30


def test_exif_orientation_is_applied(tmp_path, cfg):
    im = Image.new("RGB", (40, 20), (255, 0, 0))
    im.paste((0, 0, 255), (20, 0, 40, 20))  # stored: red left, blue right
    exif = Image.Exif()
    exif[0x0112] = 3  # rotate 180 on display: blue left, red right
    (tmp_path / "d").mkdir()
    im.save(tmp_path / "d" / "rot.jpg", exif=exif, quality=95)
    ds = load_dataset(cfg(source=str(tmp_path / "d"), image_size=16), progress=False)
    assert int(ds.data[0, 2, 8, 1]) > 200 and int(ds.data[0, 0, 8, 14]) > 200


def test_bad_files_are_skipped_with_one_warning(tmp_path, cfg, h):
    d = tmp_path / "d"
    for i in range(3):
        h.save_image(d / f"good{i}.png", color=(0, 0, 250))
    full = h.save_image(d / "trunc.jpg", size=(64, 64), color=(1, 2, 3), fmt="JPEG")
    full.write_bytes(full.read_bytes()[:200])
    (d / "fake.png").write_text("this is text, not a png")
    (d / "empty.gif").write_bytes(b"")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = load_dataset(cfg(source=str(d), image_size=16), progress=False)
    ours = [w for w in caught if issubclass(w.category, UserWarning) and "skipped" in str(w.message)]
    assert len(ours) == 1
    msg = str(ours[0].message)
    assert "skipped 3 of 6" in msg
    for name in ("trunc.jpg", "fake.png", "empty.gif"):
        assert name in msg
    assert ds.files == ["good0.png", "good1.png", "good2.png"]
    assert tuple(ds.data.shape) == (3, 3, 16, 16) and (ds.data[:, 2] == 250).all()


def test_only_bad_files_is_an_error(tmp_path, cfg):
    d = tmp_path / "d"
    d.mkdir()
    (d / "a.png").write_text("nope")
    (d / "b.jpg").write_bytes(b"\xff\xd8\xff")
    with pytest.raises(DataError, match=r"none of the 2 image files.*a\.png"):
        load_dataset(cfg(source=str(d), image_size=16), progress=False)


def test_limit_applies_before_decoding(tmp_path, cfg, h):
    for i in range(10):
        h.save_image(tmp_path / "d" / f"{i:02d}.png", color=(i * 20, 0, 0))
    before = images_mod.DECODE_COUNT
    ds = load_dataset(cfg(source=str(tmp_path / "d"), image_size=16, limit=4), progress=False)
    assert images_mod.DECODE_COUNT - before == 4
    assert ds.files == ["00.png", "01.png", "02.png", "03.png"]
    assert ds.data[:, 0, 5, 5].tolist() == [0, 20, 40, 60]


def test_parallel_decode_keeps_order(tmp_path, h):
    paths = [h.save_image(tmp_path / f"{i:03d}.png", size=(12, 12), color=(i, 255 - i, 7)) for i in range(150)]
    out, errors = images_mod.decode_files(paths, 16, 3, progress=False, workers=3)
    assert errors == {}
    assert out[:, 0, 4, 4].tolist() == list(range(150))
    assert out[:, 1, 4, 4].tolist() == [255 - i for i in range(150)]


def test_missing_path_empty_path_and_empty_folder(tmp_path, cfg):
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError, match="nowhere"):
        load_dataset(cfg(source=str(missing)), progress=False)
    with pytest.raises(DataError, match="nowhere"):
        load_dataset(cfg(source=str(missing), format="folder"), progress=False)
    with pytest.raises(DataError, match="empty"):
        load_dataset(cfg(source=""), progress=False)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("x")
    with pytest.raises(DataError, match=r"no image files.*empty"):
        load_dataset(cfg(source=str(tmp_path / "empty")), progress=False)


@pytest.mark.parametrize("size", [0, 8, 48, 256])
def test_unsupported_image_size(tmp_path, cfg, h, size):
    h.save_image(tmp_path / "d" / "a.png")
    with pytest.raises(DataError, match=r"16, 32, 64, 128") as e:
        load_dataset(cfg(source=str(tmp_path / "d"), image_size=size), progress=False)
    assert str(size) in str(e.value)


def test_bad_channels_and_limit(tmp_path, cfg, h):
    h.save_image(tmp_path / "d" / "a.png")
    with pytest.raises(DataError, match="channels"):
        load_dataset(cfg(source=str(tmp_path / "d"), channels=2), progress=False)
    with pytest.raises(DataError, match="limit"):
        load_dataset(cfg(source=str(tmp_path / "d"), limit=0), progress=False)
