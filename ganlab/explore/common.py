"""Pieces the exploration commands share: loading a run, labelled image grids, where figures and their
numbers go, and the errors a user can fix.

Every figure is a PNG in ``RUN/figures/<name>.png`` (or ``--out``) with a JSON in
``RUN/figures/<name>.json`` that holds the command's numbers and, for image grids, the geometry (so a
test or a script can find the tiles again: the grid is ``left + cols * (tile + pad) + pad`` pixels wide,
``top + rows * (tile + pad) + pad`` high).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from ganlab.errors import ConfigError

PAD = 2  # pixels between tiles (and around the grid)


# --------------------------------------------------------------------------- runs

def load_generator(run, checkpoint=None, device="cpu"):
    from ganlab.config import check_device
    from ganlab.runs.trained import load
    return load(run, checkpoint, check_device(str(device), "--device") if isinstance(device, str) else device)


def require_images(g, what: str) -> None:
    if g.data_info.kind != "images":
        raise ConfigError(f"{what} needs an image model; {g.run.path} was trained on 2-D points "
                          f"({g.cfg.data.source})")


def require_encoder(g, what: str) -> None:
    if not g.method.capabilities.encoder:
        raise ConfigError(f"{what} needs an encoder, and method {g.cfg.method} has no encoder "
                          "(train with method vae or bigan)")


def slice_inputs(inputs: dict, idx) -> dict:
    return {k: (v[idx] if torch.is_tensor(v) else v) for k, v in inputs.items()}


# --------------------------------------------------------------------------- data for encoders

def data_config_for(g, args):
    """The DataConfig of the run, with the data flags of ``args`` applied, images sized for the networks."""
    import dataclasses

    from ganlab.config import DataConfig
    dc = dataclasses.replace(g.cfg.data) if isinstance(g.cfg.data, DataConfig) else DataConfig()
    if getattr(args, "data", None):  # other data: none of the run's data settings but the image geometry
        dc.source = args.data
        dc.format = "auto"
        dc.labels = None
        dc.limit = None
    for flag in ("format", "labels", "limit"):
        v = getattr(args, flag, None)
        if v is not None:
            setattr(dc, flag, v)
    c, h, w = g.data_info.shape
    for flag, want in (("image_size", h), ("channels", c)):
        v = getattr(args, flag, None)
        if v is not None and v != want:
            raise ConfigError(f"--{flag.replace('_', '-')} {v}: the networks of {g.run.path} take "
                               f"{c}x{h}x{w} images; leave it out or give {want}")
    dc.image_size, dc.channels = h, c
    return dc


def load_images(g, args, progress: bool = False):
    """The data set the flags name (default: the run's own data), at the networks' image size."""
    from ganlab.data import load_dataset
    ds = load_dataset(data_config_for(g, args), progress=progress)
    if ds.kind != "images":
        raise ConfigError(f"{ds.name} is 2-D points; this command needs images")
    return ds


def images_at(g, ds, idx) -> torch.Tensor:
    """Items ``idx`` of ``ds`` as float images scaled like the training data (converting only those)."""
    from ganlab.data import to_float
    return to_float(ds.data[idx], g.data_info.output)


@torch.no_grad()
def encode_all(g, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    outs = [g.method.encode(x[i:i + batch_size].to(g.device)).float().cpu() for i in range(0, x.shape[0], batch_size)]
    return torch.cat(outs).flatten(1)


def pick_subset(n_total: int, n: int | None, seed: int) -> torch.Tensor:
    if n is None or n >= n_total:
        return torch.arange(n_total)
    return torch.randperm(n_total, generator=torch.Generator().manual_seed(seed))[:n].sort().values


# --------------------------------------------------------------------------- output

def figure_paths(g, name: str, out: str | None) -> tuple[Path, Path]:
    """(png, json) for figure ``name``: the PNG at ``out`` or RUN/figures/NAME.png, the JSON always in
    RUN/figures/NAME.json."""
    figs = g.run.figures
    try:
        figs.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"cannot write {figs}: {e.strerror or e}") from None
    png = Path(out) if out else figs / f"{name}.png"
    if out and (out.endswith("/") or png.is_dir()):
        png = png / f"{name}.png"
    png.parent.mkdir(parents=True, exist_ok=True)
    return png, figs / f"{name}.json"


def safe_name(text: str) -> str:
    keep = "".join(c if c.isalnum() or c in "-_." else "-" for c in str(text))
    return keep.strip("-") or "x"


def write_json(path: Path, record: dict) -> Path:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=1, default=_jsonable))
    tmp.replace(path)
    return path


def _jsonable(v):
    if torch.is_tensor(v):
        return v.tolist()
    if hasattr(v, "tolist"):
        return v.tolist()
    if isinstance(v, Path):
        return str(v)
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")


# --------------------------------------------------------------------------- labelled grids

def _font(size: int = 12):
    from PIL import ImageFont
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # older Pillow
        return ImageFont.load_default()


def _text_size(font, text: str) -> tuple[int, int]:
    if not text:
        return 0, 0
    box = font.getbbox(text)
    return box[2] - box[0], box[3]


def tile_scale(h: int) -> int:
    """Small images are enlarged (nearest neighbour) so labels fit beside them: tiles of at least 48 px."""
    return max(1, int(math.ceil(48 / h)))


def labelled_grid(rows: list[torch.Tensor], path: Path, row_labels: list[str] | None = None,
                  col_labels: list[str] | None = None, title: str | None = None, scale: int | None = None) -> dict:
    """Save rows of [0, 1] images ([k, C, H, W] each; rows may be shorter than the longest) as one PNG
    with row labels on the left and column headers on top. Returns the geometry
    {rows, cols, tile, pad, left, top, grid_width, width, height, scale}: tile (r, c) has its top-left corner
    at (left + pad + c * (tile + pad), top + pad + r * (tile + pad)); grid_width = left + cols * (tile + pad)
    + pad, and the canvas is wider only where the title needs it."""
    import numpy as np
    from PIL import Image, ImageDraw

    rows = [r.detach().cpu().float().clamp(0, 1) for r in rows]
    n_rows = len(rows)
    n_cols = max(r.shape[0] for r in rows)
    c, h, w = rows[0].shape[1:]
    scale = scale or tile_scale(h)
    th, tw = h * scale, w * scale
    font = _font(12)
    left = 0
    if row_labels and any(row_labels):
        left = max(_text_size(font, s)[0] for s in row_labels) + 8
    top = 0
    title_h = (_text_size(font, title)[1] + 8) if title else 0
    if col_labels and any(col_labels):
        widest = max(_text_size(font, s)[0] for s in col_labels)
        header_h = 18 if widest <= tw + PAD else 18 * 2  # long headers: two staggered lines
        top = header_h
    top += title_h
    grid_width = left + n_cols * (tw + PAD) + PAD
    width = max(grid_width, (_text_size(font, title)[0] + 8) if title else 0)  # a long title widens the canvas
    height = top + n_rows * (th + PAD) + PAD
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    for i, r in enumerate(rows):
        for j in range(r.shape[0]):
            a = (r[j].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
            im = Image.fromarray(a[..., 0] if c == 1 else a).convert("RGB")
            if scale != 1:
                im = im.resize((tw, th), Image.NEAREST)
            canvas.paste(im, (left + PAD + j * (tw + PAD), top + PAD + i * (th + PAD)))
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((4, 3), title, fill=(0, 0, 0), font=font)
    if row_labels:
        for i, s in enumerate(row_labels):
            _, sh = _text_size(font, s)
            draw.text((4, top + PAD + i * (th + PAD) + (th - sh) // 2), s, fill=(0, 0, 0), font=font)
    if col_labels:
        two_lines = top - title_h > 18
        for j, s in enumerate(col_labels):
            sw, _ = _text_size(font, s)
            x = left + PAD + j * (tw + PAD) + (tw - sw) // 2
            y = title_h + 2 + (18 if two_lines and j % 2 else 0)
            draw.text((max(left, x), y), s, fill=(0, 0, 0), font=font)
    canvas.save(path)
    return {"rows": n_rows, "cols": n_cols, "tile": [th, tw], "pad": PAD, "left": left, "top": top,
            "grid_width": grid_width, "width": width, "height": height, "scale": scale}


def fmt(x: float) -> str:
    return f"{x:.4g}"
