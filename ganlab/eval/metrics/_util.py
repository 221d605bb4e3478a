"""Small conversions shared by the metric modules (private)."""
from __future__ import annotations

import numpy as np
import torch

from ganlab.errors import EvalError


def to_numpy64(x, name: str = "array", ndim: int | None = None) -> np.ndarray:
    """Return ``x`` (tensor, array or nested list) as a float64 NumPy array.

    ``ndim`` checks the number of dimensions and raises ``EvalError`` (a ``ValueError``) naming ``name``.
    """
    if isinstance(x, torch.Tensor):
        x = x.detach().to("cpu", torch.float64).numpy()
    arr = np.asarray(x, dtype=np.float64)
    if ndim is not None and arr.ndim != ndim:
        raise EvalError(f"{name} must have {ndim} dimensions, got shape {tuple(arr.shape)}")
    return arr


def to_tensor(x, dtype: torch.dtype | None = None, name: str = "tensor") -> torch.Tensor:
    """Return ``x`` as a CPU-or-same-device tensor (no copy when already a tensor of ``dtype``)."""
    if isinstance(x, torch.Tensor):
        t = x.detach()
    else:
        try:
            t = torch.as_tensor(np.asarray(x))
        except (TypeError, ValueError) as exc:  # pragma: no cover - defensive
            raise TypeError(f"{name} must be a tensor or array, got {type(x).__name__}") from exc
    if dtype is not None:
        t = t.to(dtype)
    return t
