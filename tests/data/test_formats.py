"""The labelled formats (csv, celeba, mnist, digits), format detection and their errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ganlab.data import detect_format, load_dataset
from ganlab.data import images as images_mod
from ganlab.errors import DataError

# --------------------------------------------------------------------------- csv

def _tagged(tmp_path, h, text):
    imgs = tmp_path / "images"
    for i in range(5):
        h.save_image(imgs / f"{i}.png", color=(40 * i, 0, 0))
    labels = tmp_path / "tags.csv"
    labels.write_text(text)
    return imgs, labels


def test_csv_attributes_follow_csv_order(tmp_path, cfg, h):
    imgs, labels = _tagged(tmp_path, h, "file,hair,eyes\n3.png,red,blue\n1.png,blonde,green\n"
                                        "4.png, red ,green\n0.png,black,blue\n")
    ds = load_dataset(cfg(source=str(imgs), labels=str(labels), image_size=16), progress=False)
    assert ds.files == ["3.png", "1.png", "4.png", "0.png"]  # 2.png is not in the CSV: ignored
    assert list(ds.attributes) == ["hair", "eyes"]
    hair, eyes = ds.attributes["hair"], ds.attributes["eyes"]
    assert hair.name == "hair" and hair.values == ["black", "blonde", "red"]
    assert hair.codes.tolist() == [2, 1, 2, 0] and hair.codes.dtype == torch.int64
    assert eyes.values == ["blue", "green"] and eyes.codes.tolist() == [0, 1, 1, 0]
    assert ds.data[:, 0, 8, 8].tolist() == [120, 40, 160, 0]
    assert tuple(ds.data.shape) == (4, 3, 16, 16)


def test_csv_is_detected_when_labels_given(tmp_path, cfg, h):
    imgs, labels = _tagged(tmp_path, h, "file,kind\n0.png,a\n1.png,b\n")
    assert detect_format(str(imgs), str(labels)) == "csv"
    ds = load_dataset(cfg(source=str(imgs), labels=str(labels), image_size=16, limit=1), progress=False)
    # values come from the whole CSV, so codes mean the same with or without a limit
    assert ds.files == ["0.png"] and ds.attributes["kind"].values == ["a", "b"]


def test_csv_without_file_column(tmp_path, cfg, h):
    imgs, labels = _tagged(tmp_path, h, "image,hair\n0.png,red\n")
    with pytest.raises(DataError, match=r"tags\.csv.*no 'file' column.*image, hair"):
        load_dataset(cfg(source=str(imgs), labels=str(labels)), progress=False)


def test_csv_naming_missing_files(tmp_path, cfg, h):
    imgs, labels = _tagged(tmp_path, h, "file,hair\n0.png,red\nghost1.png,red\n1.png,red\nghost2.png,blue\n")
    with pytest.raises(DataError) as e:
        load_dataset(cfg(source=str(imgs), labels=str(labels)), progress=False)
    msg = str(e.value)
    assert "2 of 4" in msg and "ghost1.png" in msg and "ghost2.png" in msg and "tags.csv" in msg


def test_csv_empty_tag(tmp_path, cfg, h):
    imgs, labels = _tagged(tmp_path, h, "file,hair,eyes\n0.png,red,blue\n1.png,blonde,\n")
    with pytest.raises(DataError, match=r"line 3 \(1\.png\).*'eyes'"):
        load_dataset(cfg(source=str(imgs), labels=str(labels)), progress=False)


@pytest.mark.parametrize("text, pattern", [
    ("", "empty"),
    ("file,hair\n", "no rows"),
    ("file\n0.png\n", "only a 'file' column"),
    ("file,hair\n0.png,red,extra\n", r"line 2: 3 fields"),
    ("file,hair\n0.png,red\n0.png,blue\n", r"line 3: '0\.png' is listed again"),
])
def test_csv_malformed(tmp_path, cfg, h, text, pattern):
    imgs, labels = _tagged(tmp_path, h, text)
    with pytest.raises(DataError, match=pattern):
        load_dataset(cfg(source=str(imgs), labels=str(labels)), progress=False)


def test_csv_labels_file_missing_or_misplaced(tmp_path, cfg, h):
    imgs, _ = _tagged(tmp_path, h, "file,x\n0.png,a\n")
    with pytest.raises(DataError, match="nolabels.csv"):
        load_dataset(cfg(source=str(imgs), labels=str(tmp_path / "nolabels.csv")), progress=False)
    with pytest.raises(DataError, match="labels"):
        load_dataset(cfg(source=str(imgs), format="csv"), progress=False)
    with pytest.raises(DataError, match="only read with format csv"):
        load_dataset(cfg(source=str(imgs), format="folder", labels=str(tmp_path / "tags.csv")), progress=False)


# --------------------------------------------------------------------------- celeba

@pytest.mark.parametrize("cached", [False, True])
def test_celeba_binary_attributes(tmp_path, cfg, h, cached):
    root = h.make_celeba(tmp_path / "celeba")
    assert detect_format(str(root), None) == "celeba"
    ds = load_dataset(cfg(source=str(root), image_size=32), progress=False)
    if cached:
        before = images_mod.DECODE_COUNT
        ds = load_dataset(cfg(source=str(root), image_size=32), progress=False)
        assert images_mod.DECODE_COUNT == before
    assert tuple(ds.data.shape) == (3, 3, 32, 32)
    assert ds.files == ["img_align_celeba/000001.jpg", "img_align_celeba/000002.jpg", "img_align_celeba/000003.jpg"]
    assert list(ds.attributes) == h.CELEBA_ATTRS
    for j, name in enumerate(h.CELEBA_ATTRS):
        a = ds.attributes[name]
        assert a.values == ["no", "yes"] and a.codes.dtype == torch.int64
        assert a.codes.tolist() == [int(vals[j] == 1) for _, vals in h.CELEBA_ROWS]
    assert ds.name.startswith("celeba:")


def test_celeba_bad_value_and_count(tmp_path, cfg, h):
    root = h.make_celeba(tmp_path / "c1", rows=[("000001.jpg", [1, -1, 2, 1])])
    with pytest.raises(DataError, match=r"list_attr_celeba\.txt line 3 \(000001\.jpg\).*'Male'.*'2'"):
        load_dataset(cfg(source=str(root)), progress=False)
    root = h.make_celeba(tmp_path / "c2", count=5)
    with pytest.raises(DataError, match=r"list_attr_celeba\.txt: line 1 says 5 images but 3"):
        load_dataset(cfg(source=str(root)), progress=False)
    root = h.make_celeba(tmp_path / "c3", rows=[("000001.jpg", [1, -1, 1])])
    with pytest.raises(DataError, match=r"line 3: 3 values for 4 attributes"):
        load_dataset(cfg(source=str(root)), progress=False)


def test_celeba_missing_images(tmp_path, cfg, h):
    root = h.make_celeba(tmp_path / "c")
    (root / "img_align_celeba" / "000002.jpg").unlink()
    with pytest.warns(UserWarning, match=r"1 of the 3 images.*000002\.jpg"):
        ds = load_dataset(cfg(source=str(root), image_size=16), progress=False)
    assert len(ds) == 2 and ds.attributes["Male"].codes.tolist() == [0, 1]
    for f in ("000001.jpg", "000003.jpg"):
        (root / "img_align_celeba" / f).unlink()
    with pytest.raises(DataError, match="none of the 3 images"):
        load_dataset(cfg(source=str(root)), progress=False)
    with pytest.raises(DataError, match="img_align_celeba"):
        load_dataset(cfg(source=str(tmp_path), format="celeba"), progress=False)


# --------------------------------------------------------------------------- mnist

def _digits_arrays(n=12):
    rng = np.random.default_rng(1)
    imgs = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    imgs[:, 10:18, 10:18] = np.arange(n, dtype=np.uint8)[:, None, None] * 20
    return imgs, (np.arange(n) % 10).astype(np.uint8)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_directory(tmp_path, cfg, h, gz):
    imgs, labels = _digits_arrays()
    ext = ".gz" if gz else ""
    h.write_idx(tmp_path / "m" / f"train-images-idx3-ubyte{ext}", imgs, gz=gz)
    h.write_idx(tmp_path / "m" / f"train-labels-idx1-ubyte{ext}", labels, gz=gz)
    assert detect_format(str(tmp_path / "m"), None) == "mnist"
    ds = load_dataset(cfg(source=str(tmp_path / "m"), image_size=32), progress=False)
    assert tuple(ds.data.shape) == (12, 1, 32, 32) and ds.data.dtype == torch.uint8
    a = ds.attributes["digit"]
    assert a.values == [str(d) for d in range(10)] and a.codes.tolist() == labels.astype(int).tolist()
    assert ds.data[:, 0, 16, 16].tolist() == [20 * i for i in range(12)]  # centre patch survives, in order


def test_mnist_images_file_with_limit_and_rgb(tmp_path, cfg, h):
    imgs, labels = _digits_arrays()
    path = h.write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", imgs, gz=True)
    h.write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels)
    assert detect_format(str(path), None) == "mnist"
    ds = load_dataset(cfg(source=str(path), image_size=16, limit=5, channels=3), progress=False)
    assert tuple(ds.data.shape) == (5, 3, 16, 16)
    assert torch.equal(ds.data[:, 0], ds.data[:, 2])
    assert ds.attributes["digit"].codes.tolist() == [0, 1, 2, 3, 4]


def test_mnist_without_labels_is_unlabelled(tmp_path, cfg, h):
    imgs, _ = _digits_arrays()
    path = h.write_idx(tmp_path / "train-images-idx3-ubyte", imgs)
    ds = load_dataset(cfg(source=str(path), image_size=16), progress=False)
    assert len(ds) == 12 and ds.attributes == {}


def test_mnist_bad_magic_and_mismatch(tmp_path, cfg, h):
    imgs, labels = _digits_arrays()
    h.write_idx(tmp_path / "a" / "train-images-idx3-ubyte", imgs, magic=b"\x12\x34\x08\x03")
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.*not an idx file.*0x00000803"):
        load_dataset(cfg(source=str(tmp_path / "a")), progress=False)
    h.write_idx(tmp_path / "b" / "train-images-idx3-ubyte.gz", imgs, gz=True, magic=b"\x00\x00\x0d\x03")
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz.*type 0x0d"):
        load_dataset(cfg(source=str(tmp_path / "b")), progress=False)
    h.write_idx(tmp_path / "c" / "train-images-idx3-ubyte", imgs)
    h.write_idx(tmp_path / "c" / "train-labels-idx1-ubyte", labels[:7])
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte has 7 labels.*12 images"):
        load_dataset(cfg(source=str(tmp_path / "c")), progress=False)
    p = h.write_idx(tmp_path / "d" / "train-images-idx3-ubyte", imgs)
    p.write_bytes(p.read_bytes()[:-100])
    with pytest.raises(DataError, match="truncated"):
        load_dataset(cfg(source=str(tmp_path / "d")), progress=False)


# --------------------------------------------------------------------------- digits, detection

def test_digits(cfg):
    ds = load_dataset(cfg(source="digits", image_size=16), progress=False)
    assert ds.name == "digits" and ds.kind == "images"
    assert tuple(ds.data.shape) == (1797, 1, 16, 16) and ds.data.dtype == torch.uint8
    assert int(ds.data.max()) == 255 and int(ds.data.min()) == 0
    a = ds.attributes["digit"]
    assert a.values == [str(d) for d in range(10)] and a.codes[:10].tolist() == list(range(10))
    small = load_dataset(cfg(source="whatever", format="digits", limit=20, channels=3), progress=False)
    assert tuple(small.data.shape) == (20, 3, 32, 32) and torch.equal(small.data[:, 0], small.data[:, 1])


def test_detect_format(tmp_path, h):
    assert detect_format("digits", None) == "digits"
    assert detect_format("ring8", None) == "ring8"
    assert detect_format("grid25", None) == "grid25"
    h.save_image(tmp_path / "f" / "a.png")
    assert detect_format(str(tmp_path / "f"), None) == "folder"
    with pytest.raises(DataError, match=r"a\.png.*folder, csv, celeba, mnist"):
        detect_format(str(tmp_path / "f" / "a.png"), None)
    with pytest.raises(DataError, match="missing-dir"):
        detect_format(str(tmp_path / "missing-dir"), None)
