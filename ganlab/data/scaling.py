"""Conversion between stored uint8 images and the float range a generator's output activation produces."""
from __future__ import annotations

import torch

from ganlab.errors import DataError

OUTPUTS = ("tanh", "sigmoid", "none")


def _check_output(output: str) -> None:
    if output not in OUTPUTS:
        raise DataError(f"output {output!r} is not allowed; choose one of: {', '.join(OUTPUTS)}")


def to_float(x_uint8: torch.Tensor, output: str = "tanh") -> torch.Tensor:
    """uint8 0..255 -> float32 in [-1, 1] (output="tanh") or [0, 1] ("sigmoid", "none"), on x's device."""
    _check_output(output)
    if x_uint8.dtype != torch.uint8:
        raise DataError(f"to_float expects a uint8 tensor, got {x_uint8.dtype}")
    x = x_uint8.to(torch.float32)
    if output == "tanh":
        return x.div_(127.5).sub_(1.0)
    return x.div_(255.0)


def from_float(x: torch.Tensor, output: str = "tanh") -> torch.Tensor:
    """Inverse of :func:`to_float`: rounds, clamps to 0..255 (NaN -> 0) and returns uint8 on x's device."""
    _check_output(output)
    y = x.detach().to(torch.float32)
    y = (y + 1.0) * 127.5 if output == "tanh" else y * 255.0
    y = torch.nan_to_num(y, nan=0.0, posinf=255.0, neginf=0.0)
    return y.round_().clamp_(0, 255).to(torch.uint8)


def from_unit(x01: torch.Tensor, output: str = "tanh") -> torch.Tensor:
    """[0, 1] float images -> the scale the networks see ([-1, 1] for tanh): the inverse of ``plots.to_unit``."""
    _check_output(output)
    return x01 * 2 - 1 if output == "tanh" else x01
