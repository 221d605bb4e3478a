"""``load_dataset``: from a DataConfig to a Dataset, through the format readers, the decoder and the cache."""
from __future__ import annotations

import warnings
from typing import Optional

import numpy as np
import torch

from ganlab.config import POINT_SETS, SUPPORTED_IMAGE_SIZES, DataConfig, check_section
from ganlab.errors import ConfigError, DataError

from . import cache, images
from .budget import choose_loading
from .dataset import Attribute, Dataset
from .sources import Source, detect_format, open_source, printable, read_digits
from .toy import make_toy

_SHOW = 5
# beyond this enlargement the images carry no detail at data.image_size: a smaller size trains the same faster
_MAX_ENLARGEMENT = 4


def _checked(cfg: DataConfig) -> None:
    """The value checks every data setting gets from the config, also for a DataConfig built directly."""
    try:
        check_section(cfg, "data")
    except ConfigError as e:
        raise DataError(str(e)) from None


def _attributes(raw: list[tuple[str, list[str], np.ndarray]]) -> dict[str, Attribute]:
    return {name: Attribute(name, list(values), torch.as_tensor(np.asarray(codes, dtype=np.int64)))
            for name, values, codes in raw}


def _load_digits(size: int, channels: int, limit: Optional[int], progress: bool) -> Dataset:
    imgs, labels = read_digits()
    if limit is not None:
        imgs, labels = imgs[:limit], labels[:limit]
    data = images.resize_arrays(imgs, size, channels, progress=False)
    return Dataset(torch.from_numpy(data), "images", _attributes([("digit", [str(d) for d in range(10)], labels)]),
                   [str(i) for i in range(len(data))], "digits")


def _decode(src: Source, n: int, size: int, channels: int, progress: bool,
            into: Optional[cache.NewImages] = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Decode the first n items of ``src``: images, codes [A, N'] and metadata (files, attributes, skipped).
    ``into``: decode into that memory-mapped file instead of memory (a set too large for it)."""
    items = src.items[:n]
    desc = f"decoding {src.format} {size}x{size}"
    sides = np.zeros(n, dtype=np.int64)  # the short side of each image as stored
    out = None if into is None else into.array
    if src.read_arrays is not None:
        raw = src.read_arrays(n)
        data, errors = images.resize_arrays(raw, size, channels, progress, desc, out=out), {}
        sides[:] = min(raw.shape[1:3])
    else:
        data, errors = images.decode_files([src.root / f for f in items], size, channels, progress, desc,
                                           sides=sides, out=out)
    keep = np.array([i for i in range(n) if i not in errors], dtype=np.int64)
    skipped = [[items[i], errors[i]] for i in sorted(errors)]
    if len(keep) == 0:
        listed = "; ".join(f"{f} ({e})" for f, e in skipped[:_SHOW])
        raise DataError(f"none of the {n} image files in '{src.root}' could be read: {listed}")
    if errors:
        data = data[keep] if into is None else into.keep(keep)
    codes = np.stack([a.codes[:n][keep] for a in src.attributes]) if src.attributes \
        else np.zeros((0, len(keep)), dtype=np.int64)
    meta = {
        "format": src.format,
        "name": src.name,
        "files": [items[i] for i in keep],
        "attributes": [{"name": a.name, "values": a.values} for a in src.attributes],
        "skipped": skipped,
        "largest_short_side": int(sides[keep].max()),
    }
    return data, codes, meta


def _warn_skipped(skipped: list, total: int, root) -> None:
    if not skipped:
        return
    listed = "; ".join(f"{f} ({e})" for f, e in skipped[:_SHOW])
    more = f"; and {len(skipped) - _SHOW} more" if len(skipped) > _SHOW else ""
    warnings.warn(printable(f"skipped {len(skipped)} of {total} image files in '{root}' that could not be read: "
                            f"{listed}{more}"), UserWarning, stacklevel=4)


def _warn_enlarged(side: int | None, size: int, root) -> None:
    """Images far smaller than data.image_size are enlarged into blur: allowed (the built-in 8x8 digits are
    trained at 32x32), but beyond _MAX_ENLARGEMENT times it is said."""
    if side and size > _MAX_ENLARGEMENT * side:
        smaller = max([s for s in SUPPORTED_IMAGE_SIZES if s <= _MAX_ENLARGEMENT * side],
                      default=min(SUPPORTED_IMAGE_SIZES))
        warnings.warn(printable(f"the images in '{root}' are at most {side} pixels on their short side: "
                                f"data.image_size={size} enlarges them {size / side:.3g}x; --image-size {smaller} "
                                "shows the same detail and trains faster"), UserWarning, stacklevel=4)


def load_dataset(cfg: DataConfig, progress: bool = True, device: Optional[torch.device] = None) -> Dataset:
    """Read the data set ``cfg`` describes: images as uint8 [N, C, S, S], toy points as float32 [N, 2].

    Decoded images are cached on disk (see ganlab.data.cache), so a second load decodes nothing. An image set
    that ``data.loading`` / ``data.max_memory`` does not hold in memory (for ``device``: by default the budget is
    that of the host) comes back memory-mapped from its cache file (``Dataset.mapped``): nothing is read until
    rows are indexed, and a first decode writes into the file rather than into memory. The built-in digits
    and the 2-D points are always in memory.
    Raises DataError for anything in the data or the config that cannot be used; its message is printable
    whatever bytes the file names hold.
    """
    try:
        return _load_dataset(cfg, progress, device)
    except DataError as e:
        text = printable(e)
        if text == str(e):
            raise
        raise DataError(text) from None


def _load_dataset(cfg: DataConfig, progress: bool, device: Optional[torch.device] = None) -> Dataset:
    _checked(cfg)
    fmt, limit, channels = cfg.format, cfg.limit, cfg.channels
    labels = cfg.labels if cfg.labels is not None and str(cfg.labels).strip() else None
    if fmt == "auto":
        fmt = detect_format(cfg.source, labels)
    if labels is not None and fmt != "csv":
        raise DataError(f"data.labels is only read with format csv, but the format is {fmt}; "
                        "drop data.labels or set data.format=csv")
    if fmt in POINT_SETS:
        return make_toy(fmt, limit)
    if fmt == "stacked-mnist":  # three grey digits as R, G, B: 1,000 modes
        from dataclasses import replace

        from .stacked import stack_digits
        if channels == 1:
            raise DataError("data.channels=1 with format stacked-mnist: its images are 3 stacked digits (RGB)")
        base_fmt = "digits" if cfg.source == "digits" else "mnist"
        base = load_dataset(replace(cfg, format=base_fmt, channels=1, limit=None), progress)
        return stack_digits(base, limit)
    size = cfg.image_size
    if fmt == "digits":
        return _load_digits(size, channels or 1, limit, progress)

    src = open_source(fmt, cfg.source, labels)
    channels = channels or src.default_channels
    n = len(src.items) if limit is None else min(limit, len(src.items))
    params = {"format": src.format, "source": str(src.root), "name": src.name, "image_size": size,
              "channels": channels, "limit": limit}
    key = cache.make_key(params, src.stats, src.content_hashes)
    root = cache.cache_root(cfg.cache_dir)
    stem = f"{src.format}-{key}"
    mapped, why = choose_loading(cfg.loading, cfg.max_memory, n * channels * size * size, device)
    hit = cache.load(root, stem, mmap=mapped)
    if hit is not None:
        data, codes, meta = hit
    else:
        data, codes, meta = _decode_and_save(src, n, size, channels, progress, root, stem, mapped)
        if mapped:  # read back as a read-only map (the one decoded into writes to the file)
            again = cache.load(root, stem, mmap=True)
            data = data if again is None else again[0]
    _warn_skipped(meta["skipped"], n, src.root)
    _warn_enlarged(meta.get("largest_short_side"), size, src.root)
    attrs = _attributes([(a["name"], a["values"], c) for a, c in zip(meta["attributes"], codes, strict=True)])
    return Dataset(_tensor(data), "images", attrs, list(meta["files"]), src.name,
                   mapped=isinstance(data, np.memmap), loading_reason=why)


def _decode_and_save(src: Source, n: int, size: int, channels: int, progress: bool, root, stem: str,
                     mapped: bool) -> tuple[np.ndarray, np.ndarray, dict]:
    """Decode ``src`` and store the cache entry; a ``mapped`` set is decoded into its (memory-mapped) file."""
    into = None
    if mapped:
        try:
            into = cache.NewImages(root, stem, (n, channels, size, size))
        except OSError as e:
            warnings.warn(f"could not write the data cache in {root} ({e}); decoding {src.name} into memory",
                          UserWarning, stacklevel=4)
    try:
        data, codes, meta = _decode(src, n, size, channels, progress, into)
        cache.save(root, stem, data, codes, meta, images=into)
    except BaseException:  # interrupted, or nothing could be read: no temporary file is left behind
        if into is not None:
            into.discard()
        raise
    return data, codes, meta


def _tensor(data: np.ndarray) -> torch.Tensor:
    if data.flags.writeable:
        return torch.from_numpy(data)
    with warnings.catch_warnings():  # a read-only memory map: the data set's rows are read, never written
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(data)
