"""One reader per data format. A reader lists the items (and their labels) without decoding any image,
so the loader can apply ``limit`` and look the data up in the cache before the expensive part.
"""
from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from ganlab.config import DATA_FORMATS, POINT_SETS
from ganlab.errors import DataError, printable

from . import idx
from .images import IMAGE_EXTENSIONS, entry_kind, list_images

BUILTIN = ("digits",) + POINT_SETS
CELEBA_ATTR = "list_attr_celeba.txt"
CELEBA_IMAGES = "img_align_celeba"
_IDX_IMAGES = re.compile(r"images[-.]idx3-ubyte(\.gz)?$")
_IDX_ANY = re.compile(r"idx[13]-ubyte(\.gz)?$")
_SHOW = 5  # how many names an error message lists


@dataclass
class RawAttribute:
    name: str
    values: list[str]
    codes: np.ndarray  # int64, one per item of the source


@dataclass
class Source:
    """What a reader found: items in load order, their labels, and what identifies them for the cache."""

    format: str
    name: str
    root: Path  # item names are relative to this
    items: list[str]
    attributes: list[RawAttribute]
    default_channels: int
    stats: list[tuple[str, int, int]]  # (name, size, mtime_ns) of every file the data depends on
    content_hashes: dict[str, str] = field(default_factory=dict)  # label files: absolute path -> sha256
    read_arrays: Optional[Callable[[int], np.ndarray]] = None  # array formats: the first n raw images


def _few(names: list[str]) -> str:
    shown = ", ".join(names[:_SHOW])
    return shown + (f", ... ({len(names) - _SHOW} more)" if len(names) > _SHOW else "")


def _categorical(name: str, column: list[str]) -> RawAttribute:
    values = sorted(set(column))
    index = {v: i for i, v in enumerate(values)}
    return RawAttribute(name, values, np.fromiter((index[v] for v in column), dtype=np.int64, count=len(column)))


def _stat(st: os.stat_result) -> tuple[int, int]:
    return st.st_size, st.st_mtime_ns


def resolve(path: str, what: str = "data path") -> Path:
    if path is None or str(path).strip() == "":
        raise DataError(f"{what} is empty: give a directory or file, or a built-in data set ({', '.join(BUILTIN)})")
    p = Path(str(path)).expanduser()
    if not p.exists():
        if p.is_symlink():
            raise DataError(f"{what} '{p}' is a symbolic link that leads nowhere (a loop, or its target "
                            f"{os.readlink(p)} is missing)")
        raise DataError(f"{what} '{p}' does not exist (resolved to {p.absolute()})")
    return p.resolve()


# --------------------------------------------------------------------------- detection

def _has_idx_images(d: Path) -> bool:
    return any(_IDX_IMAGES.search(n) for n in os.listdir(d))


def detect_format(source: str, labels: Optional[str] = None) -> str:
    """The format ``source`` (with optional ``labels``) is in; raises DataError when it cannot tell."""
    if isinstance(source, str) and source.strip() in BUILTIN:
        return source.strip()
    if labels is not None and str(labels).strip() != "":
        return "csv"
    p = resolve(source)
    if p.is_dir():
        if (p / CELEBA_ATTR).is_file():
            return "celeba"
        if _has_idx_images(p):
            return "mnist"
        return "folder"
    if _IDX_ANY.search(p.name):
        return "mnist"
    raise DataError(
        f"cannot tell the format of '{p}': it is a file, and only an idx images file (name ending in "
        "idx3-ubyte or idx3-ubyte.gz) can be used as a file. Give a directory of images (format folder), "
        f"a CSV of tags with data.labels (csv), a CelebA directory with {CELEBA_ATTR} (celeba), an MNIST "
        f"directory (mnist), or a built-in data set ({', '.join(BUILTIN)}). Formats: {', '.join(DATA_FORMATS)}")


# --------------------------------------------------------------------------- built-in digits

def read_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 8x8 digits as uint8 [N, 8, 8] (0..16 scaled to 0..255) and labels [N]."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:  # pragma: no cover - sklearn is a dependency
        raise ImportError("the built-in 'digits' data set needs scikit-learn: pip install scikit-learn") from e
    d = load_digits()
    images = np.clip(np.rint(d.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)
    return images, d.target.astype(np.int64)


# --------------------------------------------------------------------------- folder

def read_folder(source: str) -> Source:
    root = resolve(source)
    if not root.is_dir():
        raise DataError(f"data path '{root}' is a file; format folder needs a directory of images")
    loose: list[tuple[str, os.stat_result]] = []
    classes: dict[str, list[tuple[str, os.stat_result]]] = {}
    with os.scandir(root) as it:
        entries = sorted(it, key=lambda e: e.name)
    for e in entries:
        if e.name.startswith("."):
            continue
        kind = entry_kind(e)  # None for symlink loops and links to nothing: skipped like any non-image
        if kind == "dir":
            found = list_images(Path(e.path))
            if found:
                classes[e.name] = [(f"{e.name}/{rel}", st) for rel, st in found]
        elif kind == "file" and e.name.lower().endswith(IMAGE_EXTENSIONS):
            loose.append((e.name, e.stat()))
    exts = ", ".join(x.lstrip(".") for x in IMAGE_EXTENSIONS)
    if not loose and not classes:
        raise DataError(f"no image files ({exts}) in '{root}' or its subfolders")
    attributes: list[RawAttribute] = []
    if loose:
        if classes:
            warnings.warn(f"'{root}' has {len(loose)} images of its own and subfolders of images "
                          f"({_few(sorted(classes))}); using only its own images, unlabelled, and ignoring the "
                          "subfolders. Move the loose images into a subfolder to label images by folder.",
                          UserWarning, stacklevel=5)
        found = loose
    else:
        found = sorted((f for fs in classes.values() for f in fs), key=lambda f: f[0])
        top = [rel.split("/", 1)[0] for rel, _ in found]
        attributes.append(_categorical("class", top))
    items = [rel for rel, _ in found]
    return Source("folder", f"folder:{printable(root)}", root, items, attributes, 3,
                  [(rel, *_stat(st)) for rel, st in found])


# --------------------------------------------------------------------------- csv of tags

def read_tags_csv(source: str, labels: str) -> Source:
    root = resolve(source)
    if not root.is_dir():
        raise DataError(f"data path '{root}' is a file; format csv needs the directory the CSV's paths start from")
    lpath = resolve(labels, "labels file")
    if not lpath.is_file():
        raise DataError(f"labels file '{lpath}' is a directory; give the CSV file")
    raw = lpath.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"labels file '{lpath}' is not UTF-8 text: {e}") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise DataError(f"labels file '{lpath}' is empty; it needs a header line: file,<attribute>,...") from None
    except csv.Error as e:
        raise DataError(f"labels file '{lpath}': not valid CSV: {e}") from None
    header = [h.strip() for h in header]
    if "file" not in header:
        raise DataError(f"labels file '{lpath}' has no 'file' column (columns: {', '.join(header) or 'none'}); "
                        f"it needs a 'file' column of image paths relative to '{root}' and one column per attribute")
    if "" in header:
        raise DataError(f"labels file '{lpath}': column {header.index('') + 1} of the header has no name")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise DataError(f"labels file '{lpath}': column name(s) used twice: {', '.join(dupes)}")
    fcol = header.index("file")
    cols = [(i, h) for i, h in enumerate(header) if i != fcol]
    if not cols:
        raise DataError(f"labels file '{lpath}' has only a 'file' column; add one column per attribute "
                        "(or use format folder for unlabelled images)")
    files: list[str] = []
    columns: list[list[str]] = [[] for _ in cols]
    first_line: dict[str, int] = {}
    try:
        for row in reader:
            line = reader.line_num
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != len(header):
                raise DataError(f"labels file '{lpath}' line {line}: {len(row)} fields, but the header has "
                                f"{len(header)} ({', '.join(header)})")
            name = row[fcol].strip()
            if not name:
                raise DataError(f"labels file '{lpath}' line {line}: the 'file' column is empty")
            if name in first_line:
                raise DataError(f"labels file '{lpath}' line {line}: '{name}' is listed again "
                                f"(first on line {first_line[name]})")
            first_line[name] = line
            for k, (i, h) in enumerate(cols):
                v = row[i].strip()
                if not v:
                    raise DataError(f"labels file '{lpath}' line {line} ({name}): empty value in column '{h}'; "
                                    "every image needs a tag in every column")
                columns[k].append(v)
            files.append(name)
    except csv.Error as e:
        raise DataError(f"labels file '{lpath}' line {reader.line_num}: not valid CSV: {e}") from None
    if not files:
        raise DataError(f"labels file '{lpath}' has a header but no rows")
    stats, missing = [], []
    for name in files:
        try:
            st = os.stat(root / name)
        except OSError:
            missing.append(name)
            continue
        stats.append((name, *_stat(st)))
    if missing:
        raise DataError(f"labels file '{lpath}': {len(missing)} of {len(files)} files it names do not exist "
                        f"under '{root}': {_few(missing)}")
    attributes = [_categorical(h, col) for (_, h), col in zip(cols, columns, strict=True)]
    return Source("csv", f"csv:{printable(root)}", root, files, attributes, 3, stats,
                  content_hashes={str(lpath): hashlib.sha256(raw).hexdigest()})


# --------------------------------------------------------------------------- CelebA

def read_celeba(source: str) -> Source:
    root = resolve(source)
    attr, imgdir = root / CELEBA_ATTR, root / CELEBA_IMAGES
    if not attr.is_file() or not imgdir.is_dir():
        raise DataError(f"'{root}' is not a CelebA directory: it needs {CELEBA_ATTR} and the folder "
                        f"{CELEBA_IMAGES}/ (missing: "
                        f"{', '.join(str(p.name) for p in (attr, imgdir) if not p.exists())})")
    raw = attr.read_bytes()
    lines = raw.decode("utf-8", errors="replace").splitlines()
    if len(lines) < 2:
        raise DataError(f"{attr}: expected a count line and a line of attribute names, found {len(lines)} line(s)")
    try:
        count = int(lines[0].strip())
    except ValueError:
        raise DataError(f"{attr} line 1: expected the number of images, got {lines[0].strip()[:40]!r}") from None
    names = lines[1].split()
    if not names:
        raise DataError(f"{attr} line 2: expected the attribute names, found an empty line")
    files, rows, line_of = [], [], []
    for no, line in enumerate(lines[2:], start=3):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != len(names) + 1:
            raise DataError(f"{attr} line {no}: {len(parts) - 1} values for {len(names)} attributes")
        files.append(parts[0])
        rows.append(parts[1:])
        line_of.append(no)
    if len(files) != count:
        raise DataError(f"{attr}: line 1 says {count} images but {len(files)} are listed")
    if not files:
        raise DataError(f"{attr} lists no images")
    table = np.array(rows, dtype="U3")
    yes = table == "1"
    bad = ~(yes | (table == "-1") | (table == "0"))
    if bad.any():
        r, c = map(int, np.argwhere(bad)[0])
        raise DataError(f"{attr} line {line_of[r]} ({files[r]}): attribute '{names[c]}' is {table[r, c]!r}; "
                        "allowed values are 1 (yes) and -1 or 0 (no)")
    present = {}
    with os.scandir(imgdir) as it:
        for e in it:
            present[e.name] = e
    keep, stats, missing = [], [], []
    for i, f in enumerate(files):
        e = present.get(f)
        if e is None:
            missing.append(f)
            continue
        keep.append(i)
        stats.append((f"{CELEBA_IMAGES}/{f}", *_stat(e.stat())))
    if not keep:
        raise DataError(f"none of the {len(files)} images listed in {attr} is in {imgdir} "
                        f"(first listed: {_few(files)})")
    if missing:
        warnings.warn(f"{len(missing)} of the {len(files)} images listed in {attr} are not in {imgdir}; "
                      f"using the {len(keep)} that are (missing: {_few(missing)})", UserWarning, stacklevel=5)
    yes = yes[keep]
    attributes = [RawAttribute(n, ["no", "yes"], yes[:, j].astype(np.int64)) for j, n in enumerate(names)]
    return Source("celeba", f"celeba:{printable(root)}", root, [s[0] for s in stats], attributes, 3, stats,
                  content_hashes={str(attr): hashlib.sha256(raw).hexdigest()})


# --------------------------------------------------------------------------- MNIST idx

def _labels_beside(images: Path) -> Optional[Path]:
    base = images.name[:-3] if images.name.endswith(".gz") else images.name
    lname = re.sub(r"images([-.])idx3", r"labels\1idx1", base)
    if lname == base:
        return None
    for cand in (images.with_name(lname), images.with_name(lname + ".gz")):
        if cand.is_file():
            return cand
    return None


def _find_idx_images(root: Path) -> Path:
    cands = sorted(p for p in root.iterdir() if p.is_file() and _IDX_IMAGES.search(p.name))
    train = [p for p in cands if p.name.startswith("train")]
    pick = train or cands
    if not pick:
        raise DataError(f"no idx images file in '{root}': expected train-images-idx3-ubyte or "
                        "train-images-idx3-ubyte.gz (MNIST / Fashion-MNIST names)")
    if not train and len(cands) > 1:
        raise DataError(f"'{root}' has several idx images files ({_few([p.name for p in cands])}) and none starts "
                        "with 'train'; give the path of the one to use")
    return sorted(pick, key=lambda p: p.name.endswith(".gz"))[0]  # the uncompressed copy if both exist


def read_mnist(source: str) -> Source:
    path = resolve(source)
    images = _find_idx_images(path) if path.is_dir() else path
    dims = idx.read_shape(images, 3)
    n = dims[0]
    attributes, stats = [], [(images.name, *_stat(images.stat()))]
    labels = _labels_beside(images)
    if labels is not None:
        codes = idx.read_idx(labels, 1).astype(np.int64)
        if len(codes) != n:
            raise DataError(f"{labels} has {len(codes)} labels but {images} has {n} images")
        k = max(10, int(codes.max()) + 1 if len(codes) else 10)
        attributes.append(RawAttribute("digit", [str(i) for i in range(k)], codes))
        stats.append((labels.name, *_stat(labels.stat())))
    return Source("mnist", f"mnist:{printable(images)}", images.parent, [str(i) for i in range(n)], attributes, 1,
                  stats, read_arrays=lambda count: idx.read_idx(images, 3, count))


def open_source(fmt: str, source: str, labels: Optional[str]) -> Source:
    if fmt == "folder":
        return read_folder(source)
    if fmt == "csv":
        if labels is None or str(labels).strip() == "":
            raise DataError("format csv needs data.labels: the CSV with a 'file' column and one column per attribute")
        return read_tags_csv(source, labels)
    if fmt == "celeba":
        return read_celeba(source)
    if fmt == "mnist":
        return read_mnist(source)
    raise DataError(f"format {fmt!r} is not a file format; choose one of: folder, csv, celeba, mnist")
