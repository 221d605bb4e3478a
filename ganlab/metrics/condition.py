"""Accuracy of conditional generation: did a classifier read back the attributes that were asked for?"""
from __future__ import annotations

import torch

from ._util import to_tensor

__all__ = ["condition_accuracy"]


def _as_codes(x, name: str) -> torch.Tensor:
    t = to_tensor(x, name=name).cpu()
    if t.dim() == 2 and t.is_floating_point():
        t = t.argmax(dim=1)  # scores/logits [N, K] -> predicted class
    if t.dim() == 2 and t.shape[1] == 1:
        t = t[:, 0]
    if t.dim() != 1:
        raise ValueError(f"{name} must be [N] class indices (or [N, K] scores), got shape {tuple(t.shape)}")
    if t.is_floating_point() and not torch.equal(t, t.round()):
        raise ValueError(f"{name} must hold integer class indices")
    return t.long()


def condition_accuracy(pred_codes: dict, requested: dict) -> dict[str, float]:
    """Per-attribute accuracy of ``pred_codes`` against ``requested``, plus ``"all"``.

    Both map attribute name -> ``[N]`` class indices (``pred_codes`` may also hold ``[N, K]``
    scores, read through argmax).  The names must match.  ``"all"`` is the share of samples
    with every attribute right.  An attribute may not itself be called ``"all"``.
    """
    if set(pred_codes) != set(requested):
        raise ValueError(
            f"attribute names differ: predicted {sorted(pred_codes)} vs requested {sorted(requested)}"
        )
    if not requested:
        raise ValueError("no attributes given")
    if "all" in requested:
        raise ValueError('an attribute may not be named "all" (reserved for the joint accuracy)')

    out: dict[str, float] = {}
    all_right = None
    n = None
    for name, wanted in requested.items():
        pred = _as_codes(pred_codes[name], f"pred_codes[{name!r}]")
        want = _as_codes(wanted, f"requested[{name!r}]")
        if pred.shape != want.shape:
            raise ValueError(f"attribute {name!r}: {pred.shape[0]} predictions vs {want.shape[0]} requests")
        if n is None:
            n = pred.shape[0]
        elif pred.shape[0] != n:
            raise ValueError(f"attribute {name!r} has {pred.shape[0]} samples, others have {n}")
        if n == 0:
            raise ValueError("no samples")
        right = pred == want
        out[name] = float(right.double().mean())
        all_right = right if all_right is None else all_right & right
    out["all"] = float(all_right.double().mean())
    return out
