"""2-D Gaussian mixtures used to watch mode collapse: 8 modes on a ring, 25 on a grid."""
from __future__ import annotations

import math

import torch

from ganlab.config import (
    POINT_SETS as TOY_SETS,  # the names live with the config; the mixtures here
)
from ganlab.errors import DataError

from .dataset import Attribute, Dataset

DEFAULT_POINTS = 10_000
SEED = 0


def toy_modes(name: str) -> tuple[torch.Tensor, float]:
    """(means [K, 2], std) of a toy mixture."""
    if name == "ring8":
        angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
        return torch.stack([angles.cos(), angles.sin()], dim=1).float(), 0.01
    if name == "grid25":
        axis = torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0])
        gx, gy = torch.meshgrid(axis, axis, indexing="ij")
        return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1), 0.05
    raise DataError(f"toy data set {name!r} does not exist; choose one of: {', '.join(TOY_SETS)}")


def make_toy(name: str, n: int | None = None) -> Dataset:
    """``n`` points (default 10,000), equal-probability modes, always the same draw (seed 0)."""
    n = DEFAULT_POINTS if n is None else int(n)
    if n < 1:
        raise DataError(f"limit: {n} points is too few for {name}; it must be at least 1")
    modes, std = toy_modes(name)
    g = torch.Generator().manual_seed(SEED)
    codes = torch.randint(0, len(modes), (n,), generator=g, dtype=torch.int64)
    points = modes[codes] + std * torch.randn(n, 2, generator=g)
    attr = Attribute("mode", [str(k) for k in range(len(modes))], codes)
    return Dataset(data=points.float().contiguous(), kind="points", attributes={"mode": attr},
                   files=[str(i) for i in range(n)], name=name, modes=modes, mode_std=std)
