"""Reading tiles back out of the labelled grids the exploration commands write."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image


def load_figure(record: dict):
    png = Path(record["png"])
    assert png.is_file() and png.stat().st_size > 100, png
    img = np.asarray(Image.open(png).convert("RGB"))
    return img


def check_grid(record: dict, rows: int, cols: int, image_hw: int = 16) -> np.ndarray:
    """The PNG has exactly rows x cols tiles of the known size: the grid is left + cols * (tile + pad) + pad
    wide (the canvas may be wider for a long title) and top + rows * (tile + pad) + pad high."""
    g = record["grid"]
    assert (g["rows"], g["cols"]) == (rows, cols)
    tile = image_hw * g["scale"]
    assert g["tile"] == [tile, tile]
    img = load_figure(record)
    h, w = img.shape[:2]
    assert g["left"] + cols * (tile + g["pad"]) + g["pad"] == g["grid_width"] <= w == g["width"]
    assert h == g["top"] + rows * (tile + g["pad"]) + g["pad"] == g["height"]
    return img


def tile(img: np.ndarray, record: dict, r: int, c: int) -> np.ndarray:
    """Tile (r, c) as uint8 [H, W] (grey; the first channel), back at the image's own resolution."""
    g = record["grid"]
    th, tw = g["tile"]
    pad, s = g["pad"], g["scale"]
    y = g["top"] + pad + r * (th + pad)
    x = g["left"] + pad + c * (tw + pad)
    return img[y:y + th:s, x:x + tw:s, 0]


def as_uint8(x) -> np.ndarray:
    """A [C, H, W] float image in [0, 1] as the grid stores it (first channel)."""
    return (x[0].clamp(0, 1).numpy() * 255).round().astype(np.uint8)


def read_json(run, name: str) -> dict:
    return json.loads((Path(run) / "figures" / f"{name}.json").read_text())
