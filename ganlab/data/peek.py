"""A look at a user's images before a run is sized: how many there are and how large, and the training size chosen
from that when ``--image-size`` is not given (``choose_image_size``).

Only file headers are read (a few dozen files spread over the set), so this costs well under a second. Built-in
sets and MNIST have their own size; for them nothing is chosen here.
"""
from __future__ import annotations

import statistics
from pathlib import Path
from typing import Optional

from PIL import Image

from ganlab.config import SUPPORTED_IMAGE_SIZES, parse_override
from ganlab.data.images import list_images
from ganlab.data.sources import BUILTIN, detect_format, resolve

SAMPLE = 48           # files whose headers are read
LARGEST_DEFAULT = 64  # the largest size chosen without asking: the recommended recipes were measured up to it
SHORT_BUDGET = 5.0    # minutes under which 32x32 is chosen even for large images (a 64x64 step costs ~4x)
ADA_BELOW = 1000      # fewer images: ADA (FID 0.55x-0.59x at 500 images over 15 minutes, about even at 2,000; docs)
RV_FROM = 320         # ADA judges by held-out images (rv) from here: below, its 16 would be over 5% of the set


def image_folder(source: str, fmt: str) -> Optional[Path]:
    """The folder holding the image files of ``source`` in format ``fmt``; None for sets of a fixed size."""
    if fmt in ("folder", "csv"):
        p = resolve(source)
        return p if p.is_dir() else p.parent
    if fmt == "celeba":
        p = resolve(source)
        return next((d for d in (p / "img_align_celeba", p / "images", p) if d.is_dir()), p)
    return None


def look(folder: Path) -> Optional[tuple[int, int, int]]:
    """(number of images, median width, median height) from the headers of up to SAMPLE files; None if none can
    be read."""
    files = list_images(folder)
    if not files:
        return None
    step = max(1, len(files) // SAMPLE)
    sizes = []
    for rel, _ in files[::step][:SAMPLE]:
        try:
            with Image.open(folder / rel) as im:
                sizes.append(im.size)
        except (OSError, ValueError, Image.DecompressionBombError):
            continue
    if not sizes:
        return None
    return len(files), int(statistics.median(w for w, _ in sizes)), int(statistics.median(h for _, h in sizes))


def choose(side: int, minutes: Optional[float]) -> tuple[int, str]:
    """The training size for images whose shorter side is ``side`` pixels, and the reason in words."""
    fitting = [s for s in SUPPORTED_IMAGE_SIZES if s <= side] or [SUPPORTED_IMAGE_SIZES[0]]
    size = fitting[-1]
    if size > LARGEST_DEFAULT:
        size, why = LARGEST_DEFAULT, ("the largest size the recommended recipes are measured at; 128 shows more "
                                      "detail at about 4x the time per step")
    else:
        why = "the largest supported size the images fill"
    if minutes is not None and minutes < SHORT_BUDGET and size > 32:
        size, why = 32, f"a budget under {SHORT_BUDGET:g} minutes: a 64x64 step costs about 4x a 32x32 one"
    return size, why


def _users_folder(values: dict, sets: list[str]) -> tuple[dict, Optional[Path]]:
    """(the flags' ``values`` with the ``--set`` overrides over them, the folder of the user's own images); the folder
    is None for built-in data, sets of a fixed size and sources that cannot be read (loading will say why)."""
    given = dict(values)
    for s in sets:
        key, value = parse_override(s)
        given[key] = value
    source = given.get("data.source")
    if source is None or str(source).strip() in BUILTIN:
        return given, None
    try:
        fmt = given.get("data.format") or "auto"
        fmt = detect_format(str(source), given.get("data.labels")) if fmt == "auto" else fmt
        folder = image_folder(str(source), fmt)
    except Exception:  # noqa: BLE001  (an unreadable source: loading it will say why, in its own words)
        return given, None
    return given, folder if folder is not None and folder.is_dir() else None


def choose_image_size(values: dict, sets: list[str], log=print) -> dict:
    """The training flags' ``values`` with ``data.image_size`` chosen from the images, where the user gave a folder
    of their own and no size; says what the images are, what was chosen and how to change it."""
    given, folder = _users_folder(values, sets)
    if folder is None or "data.image_size" in given:
        return values
    seen = look(folder)
    if seen is None:
        return values
    n, w, h = seen
    minutes = given.get("train.minutes")
    size, why = choose(min(w, h), float(minutes) if minutes is not None else None)
    log(f"images: {n:,} in {folder}, typically {w}x{h} pixels; training at {size}x{size} ({why}; "
        f"--image-size 16|32|64|128 to change it)")
    return {**values, "data.image_size": size}


def small_set_augmentation(values: dict, sets: list[str]) -> tuple[list[str], str]:
    """(``--set`` overrides, the line that says so) that turn on adaptive augmentation (``tricks.ada``) for a folder
    of fewer than ``ADA_BELOW`` images, where D memorises the set (bench/ada.py measured it); ([], "") where the
    user chose an augmentation or the set is larger. The caller drops them where the method refuses ADA."""
    given, folder = _users_folder(values, sets)
    if folder is None or "tricks.ada" in given or given.get("tricks.diffaug"):
        return [], ""
    n = len(list_images(folder))
    limit = given.get("data.limit")
    n = min(n, int(limit)) if limit is not None else n
    if not 0 < n < ADA_BELOW:
        return [], ""
    rv = n >= RV_FROM and "tricks.ada_heuristic" not in given
    return ["tricks.ada=true"] + (["tricks.ada_heuristic=rv"] if rv else []), (
        f"augmentation: {n:,} images is a small set, where D memorises its images; adaptive augmentation is on "
        "(tricks.ada=true: flips, shifts, colour and cut-outs as often as D needs"
        + (", judged on a few images held out of training" if rv else "") + "; --set tricks.ada=false to turn it off)")
