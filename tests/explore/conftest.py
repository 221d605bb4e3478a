"""Fixtures for the exploration tests: tiny trained runs (trained once per session, ~1-5 s each on 16x16 digits;
``gan_run`` is in tests/conftest.py) and readers of the labelled grids the exploration commands write."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope="session")
def vae_run(trained_run):
    return trained_run("vae", method="vae")


@pytest.fixture(scope="session")
def cgan_run(trained_run):
    return trained_run("cgan", method="cgan")


@pytest.fixture(scope="session")
def acgan_run(trained_run):
    return trained_run("acgan", method="acgan", **{"data.limit": 64})


@pytest.fixture(scope="session")
def infogan_run(trained_run):
    return trained_run("infogan", method="infogan", **{"info.continuous": 1})


@pytest.fixture(scope="session")
def ring_mixture_run(trained_run):
    """A GAN on the 2-D ring whose latent is drawn from a mixture around fixed centres."""
    return trained_run("ring-mixture", **{"data.source": "ring8", "model.arch": "mlp", "data.limit": None,
                                          "model.latent_dist": "mixture"})


def _load_figure(record: dict):
    png = Path(record["png"])
    assert png.is_file() and png.stat().st_size > 100, png
    img = np.asarray(Image.open(png).convert("RGB"))
    return img


def _check_grid(record: dict, rows: int, cols: int, image_hw: int = 16) -> np.ndarray:
    """The PNG has exactly rows x cols tiles of the known size: the grid is left + cols * (tile + pad) + pad
    wide (the canvas may be wider for a long title) and top + rows * (tile + pad) + pad high."""
    g = record["grid"]
    assert (g["rows"], g["cols"]) == (rows, cols)
    tile = image_hw * g["scale"]
    assert g["tile"] == [tile, tile]
    img = _load_figure(record)
    h, w = img.shape[:2]
    assert g["left"] + cols * (tile + g["pad"]) + g["pad"] == g["grid_width"] <= w == g["width"]
    assert h == g["top"] + rows * (tile + g["pad"]) + g["pad"] == g["height"]
    return img


def _tile(img: np.ndarray, record: dict, r: int, c: int) -> np.ndarray:
    """Tile (r, c) as uint8 [H, W] (grey; the first channel), back at the image's own resolution."""
    g = record["grid"]
    th, tw = g["tile"]
    pad, s = g["pad"], g["scale"]
    y = g["top"] + pad + r * (th + pad)
    x = g["left"] + pad + c * (tw + pad)
    return img[y:y + th:s, x:x + tw:s, 0]


def _as_uint8(x) -> np.ndarray:
    """A [C, H, W] float image in [0, 1] as the grid stores it (first channel)."""
    return (x[0].clamp(0, 1).numpy() * 255).round().astype(np.uint8)


def _read_json(run, name: str) -> dict:
    return json.loads((Path(run) / "figures" / f"{name}.json").read_text())


@pytest.fixture(scope="session")
def check_grid():
    """``check_grid(record, rows, cols, image_hw=16)``: assert the figure's PNG is exactly that grid; the image."""
    return _check_grid


@pytest.fixture(scope="session")
def tile():
    """``tile(img, record, r, c)``: grid tile (r, c) as uint8 [H, W] at the image's own resolution."""
    return _tile


@pytest.fixture(scope="session")
def as_uint8():
    """``as_uint8(x)``: a [C, H, W] float image in [0, 1] as the grid stores it (first channel)."""
    return _as_uint8


@pytest.fixture(scope="session")
def read_json():
    """``read_json(run, name)``: the JSON record of figure ``name`` in ``run``."""
    return _read_json
