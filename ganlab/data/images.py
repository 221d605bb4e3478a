"""Decoding image files and fitting them to a square: resize the short side, centre-crop, fix the channels.

Files are decoded on a thread pool: Pillow releases the GIL while it decodes and resamples, and
threads start instantly and share the output array (measured on the 11,418 anime faces on 2 cores:
serial 5.3 s, 2 threads 4.3 s, 2 forked processes 4.2 s, 2 spawned processes 4.9 s; forking a
process that has torch loaded is also unsafe, so threads it is).
"""
from __future__ import annotations

import math
import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from tqdm import tqdm

IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png", ".webp")
RESAMPLE = Image.Resampling.BICUBIC  # convolution-based in Pillow, so antialiased when downscaling
_EXIF_ORIENTATION = 0x0112

# Number of images made by this module (decoded from a file or resized from an array) since import.
# Tests read it to prove that a cached load decodes nothing.
DECODE_COUNT = 0
_count_lock = threading.Lock()


def _count(n: int) -> None:
    global DECODE_COUNT
    with _count_lock:
        DECODE_COUNT += n


def is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def default_workers() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


def _to_8bit(im: Image.Image) -> Image.Image:
    """16- and 32-bit grey images as 8-bit grey, scaled (Pillow's own conversion clips everything above 255 to
    white). 32-bit integer images are read as 16-bit data when they hold values above 255."""
    a = np.asarray(im)
    if im.mode.startswith("I;16"):
        a = a.astype(np.uint16) >> 8
    elif im.mode == "I":
        a = (a.clip(0, 65535) >> 8) if a.size and a.max() > 255 else a.clip(0, 255)
    else:  # "F": floats, taken as 0..1 when they are, else 0..255
        a = a * 255 if a.size and np.nanmax(a) <= 1 else a
        a = np.nan_to_num(a).clip(0, 255).round()
    return Image.fromarray(a.astype(np.uint8), "L")


def fit(im: Image.Image, size: int, channels: int) -> np.ndarray:
    """Convert ``im`` to grey/RGB, scale its short side to ``size``, centre-crop: uint8 [C, size, size]."""
    if im.mode.startswith("I") or im.mode == "F":
        im = _to_8bit(im)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")  # transparent pixels over white, as they look in a viewer
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, im)
    mode = "L" if channels == 1 else "RGB"
    if im.mode != mode:
        im = im.convert(mode)
    w, h = im.size
    side = min(w, h)
    left, top = (w - side) / 2, (h - side) / 2
    # Resampling just the centred square box equals resize-then-crop, but only computes the output pixels.
    im = im.resize((size, size), RESAMPLE, box=(left, top, left + side, top + side), reducing_gap=3.0)
    a = np.asarray(im)
    return a[None] if channels == 1 else a.transpose(2, 0, 1)


def check_pixels(im: Image.Image) -> None:
    """Refuse an image whose header claims more than PIL's ``Image.MAX_IMAGE_PIXELS`` before anything is decoded:
    a decompression bomb (a small file that would unpack to gigabytes). Pillow itself only warns up to twice
    the limit, and then decodes."""
    limit = Image.MAX_IMAGE_PIXELS
    w, h = im.size
    if limit and w * h > limit:
        raise Image.DecompressionBombError(f"{w}x{h} = {w * h} pixels, over the limit of {limit}; not decoded")


def load_image(path: str | os.PathLike, size: int, channels: int, info: Optional[dict] = None) -> np.ndarray:
    """Decode one image file and fit it (see :func:`fit`). Raises on unreadable/truncated files and refuses
    decompression bombs unread (:func:`check_pixels`). ``info``, when given, receives ``side``: the short side
    of the image in the file."""
    try:
        im = Image.open(path)
    except UnidentifiedImageError:
        if os.path.getsize(path) == 0:
            raise UnidentifiedImageError("empty file (0 bytes)") from None
        raise
    with im:
        check_pixels(im)
        if info is not None:
            info["side"] = min(im.size)
        if im.format == "JPEG":
            # Let libjpeg decode at 1/2, 1/4 or 1/8 scale while the result still covers size x size.
            im.draft("L" if channels == 1 else "RGB", (size, size))
        orientation = 1
        if im.format != "JPEG" or "exif" in im.info:  # a JPEG without an APP1 block has no EXIF to parse
            try:
                orientation = im.getexif().get(_EXIF_ORIENTATION, 1)
            except Exception:  # broken EXIF must not cost the image
                orientation = 1
        im.load()
        if orientation not in (1, None):
            im = ImageOps.exif_transpose(im)
        return fit(im, size, channels)


def _describe(e: BaseException) -> str:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
    msg = msg if len(msg) <= 80 else msg[:77] + "..."
    return f"{type(e).__name__}: {msg}" if msg else type(e).__name__


def _run(n: int, make: Callable[[int], np.ndarray], out: np.ndarray, progress: bool, desc: str,
         workers: Optional[int]) -> dict[int, str]:
    """Fill ``out[i] = make(i)`` for i < n in parallel; return {i: error} for items that raised."""
    workers = default_workers() if workers is None else max(1, workers)
    errors: dict[int, str] = {}

    def work(lo: int, hi: int) -> tuple[int, list[tuple[int, str]]]:
        errs = []
        for i in range(lo, hi):
            try:
                out[i] = make(i)
            except Exception as e:  # a bad file is reported, never fatal
                errs.append((i, _describe(e)))
        _count(hi - lo - len(errs))
        return hi - lo, errs

    with tqdm(total=n, desc=desc, unit="img", disable=not progress, dynamic_ncols=True) as bar:
        if workers == 1 or n < 64:
            for lo in range(0, n, 64):
                done, errs = work(lo, min(n, lo + 64))
                errors.update(errs)
                bar.update(done)
        else:
            chunk = max(1, min(128, math.ceil(n / (workers * 8))))
            ex = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ganlab-decode")
            try:
                futures = [ex.submit(work, lo, min(n, lo + chunk)) for lo in range(0, n, chunk)]
                for f in as_completed(futures):
                    done, errs = f.result()
                    errors.update(errs)
                    bar.update(done)
            finally:  # on Ctrl-C, drop the queued chunks instead of decoding them all first
                ex.shutdown(wait=True, cancel_futures=True)
    return errors


def decode_files(paths: Sequence[str | os.PathLike], size: int, channels: int, progress: bool = True,
                 desc: str = "decoding", workers: Optional[int] = None,
                 sides: Optional[np.ndarray] = None,
                 out: Optional[np.ndarray] = None) -> tuple[np.ndarray, dict[int, str]]:
    """Decode and fit every file. Returns (uint8 [N, C, size, size], {index: error} for unreadable files).

    Rows of unreadable files are left as zeros; the caller drops them. ``sides`` (int [N]), when given, receives
    the short side of each image as stored in its file. ``out``: the zeroed array to decode into (a memory map of
    a file, for a set too large for memory); by default a new one.
    """
    Image.init()  # register all plugins once, before threads race to do it
    out = np.zeros((len(paths), channels, size, size), dtype=np.uint8) if out is None else out

    def make(i: int) -> np.ndarray:
        if sides is None:
            return load_image(paths[i], size, channels)
        info: dict = {}
        a = load_image(paths[i], size, channels, info)
        sides[i] = info.get("side", 0)
        return a

    with warnings.catch_warnings():  # set once here, not per thread: check_pixels refuses what PIL warns about
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        errors = _run(len(paths), make, out, progress, desc, workers)
    return out, errors


def resize_arrays(images: np.ndarray, size: int, channels: int, progress: bool = False,
                  desc: str = "resizing", workers: Optional[int] = None,
                  out: Optional[np.ndarray] = None) -> np.ndarray:
    """Fit uint8 grey [N, H, W] or RGB [N, H, W, 3] arrays to uint8 [N, C, size, size] (into ``out`` when given)."""
    if images.dtype != np.uint8 or images.ndim not in (3, 4):
        raise ValueError(f"expected uint8 [N, H, W] or [N, H, W, 3] arrays, got {images.dtype} {images.shape}")
    out = np.zeros((len(images), channels, size, size), dtype=np.uint8) if out is None else out
    errors = _run(len(images), lambda i: fit(Image.fromarray(images[i]), size, channels), out, progress, desc,
                  workers)
    if errors:  # cannot happen for valid arrays; surface it rather than return zeros
        i, msg = next(iter(errors.items()))
        raise RuntimeError(f"resizing array image {i} failed: {msg}")
    return out


def entry_kind(e: os.DirEntry) -> Optional[str]:
    """'dir', 'file' or None (anything else, and links that lead nowhere: a symlink loop, a missing target),
    following symlinks, for an entry of ``os.scandir``."""
    try:
        if e.is_dir():
            return "dir"
        return "file" if e.is_file() else None
    except OSError:  # ELOOP and the like: not something to read
        return None


def list_images(root: Path) -> list[tuple[str, os.stat_result]]:
    """All image files under ``root`` (recursively, hidden entries skipped) as (posix relative path, stat)."""
    found: list[tuple[str, os.stat_result]] = []
    seen: set[tuple[int, int]] = set()  # directories already walked: symlink loops end here

    def walk(d: Path, prefix: str) -> None:
        st = d.stat()
        if (st.st_dev, st.st_ino) in seen:
            return
        seen.add((st.st_dev, st.st_ino))
        with os.scandir(d) as it:
            entries = sorted(it, key=lambda e: e.name)
        for e in entries:
            if e.name.startswith("."):
                continue
            kind = entry_kind(e)
            if kind == "dir":
                walk(Path(e.path), f"{prefix}{e.name}/")
            elif kind == "file" and is_image_name(e.name):
                found.append((prefix + e.name, e.stat()))

    walk(root, "")
    return found
