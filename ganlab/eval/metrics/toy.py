"""Mode statistics for 2-D Gaussian-mixture toy data (2D ring / 2D grid; VEEGAN and PacGAN protocol).

Each sample is assigned to its nearest mixture mean.  It is *high quality* when it lies within
``n_std`` (3) standard deviations of that mean.  A mode is *captured* when at least
``min_count`` high-quality samples are assigned to it.

``toy/modes`` follows the published protocol (PacGAN, after VEEGAN: 2,500 samples, ring-8 with
std 0.01 on the unit circle, grid-25 with std 0.05 on -4..4 step 2): a mode counts when it has at
least one high-quality sample (``min_count=1``), so its numbers sit beside the papers' rows.
``toy/modes_20`` is a stricter count under its own name: a mode needs 20 high-quality samples
(of 2,500, a quarter of its fair share on ring-8), which a generator that only grazes a mode misses.  Reverse KL is ``KL(q || p)`` between ``q``, the histogram of the
high-quality samples over the modes, and ``p`` the uniform distribution over the K modes (the
true mixture weights); empty bins of ``q`` contribute 0.
"""
from __future__ import annotations

import math

import numpy as np

from ganlab.errors import EvalError
from ganlab.eval.metrics.registry import Metric, register_metric

from ._util import to_numpy64

__all__ = ["grid_modes", "mode_stats", "ring_modes"]


def ring_modes(k: int = 8, radius: float = 1.0) -> np.ndarray:
    """Means of the 2D-ring benchmark: ``k`` points evenly spaced on a circle."""
    angles = 2.0 * np.pi * np.arange(k) / k
    return np.stack([radius * np.cos(angles), radius * np.sin(angles)], axis=1)


def grid_modes(side: int = 5, spacing: float = 2.0) -> np.ndarray:
    """Means of the 2D-grid benchmark: a ``side x side`` grid centred on 0 (default -4..4 step 2)."""
    ticks = (np.arange(side) - (side - 1) / 2.0) * spacing
    xx, yy = np.meshgrid(ticks, ticks, indexing="ij")
    return np.stack([xx.ravel(), yy.ravel()], axis=1)


def mode_stats(samples, modes, std, n_std: float = 3.0, min_count: int = 20) -> dict:
    """Mode coverage of ``samples [N, 2]`` against mixture means ``modes [K, 2]``.

    ``std`` is the components' standard deviation (scalar, or one per mode).  Returns
    ``modes_captured`` (int), ``high_quality_fraction`` (share of samples within ``n_std`` std of
    their nearest mean), ``reverse_kl`` (KL(q || uniform) of the high-quality histogram; NaN when
    there is no high-quality sample) and ``counts`` (high-quality samples per mode, list of ints).
    """
    x = to_numpy64(samples, "samples", ndim=2)
    mu = to_numpy64(modes, "modes", ndim=2)
    if x.shape[1] != mu.shape[1]:
        raise EvalError(f"samples and modes differ in dimension: {x.shape[1]} vs {mu.shape[1]}")
    if x.shape[0] == 0:
        raise EvalError("samples is empty")
    k = mu.shape[0]
    sd = np.broadcast_to(to_numpy64(std, "std"), (k,)).astype(np.float64)
    if (sd <= 0).any():
        raise EvalError("std must be positive")
    if min_count < 1:
        raise EvalError(f"min_count must be >= 1, got {min_count}")

    dist = np.sqrt(((x[:, None, :] - mu[None, :, :]) ** 2).sum(axis=2))  # [N, K]
    nearest = dist.argmin(axis=1)
    nearest_dist = dist[np.arange(x.shape[0]), nearest]
    high = nearest_dist <= n_std * sd[nearest]
    counts = np.bincount(nearest[high], minlength=k)

    n_high = int(counts.sum())
    if n_high:
        q = counts / n_high
        nz = q > 0
        reverse_kl = float(np.sum(q[nz] * np.log(q[nz] * k)))
    else:
        reverse_kl = math.nan
    return {
        "modes_captured": int((counts >= min_count).sum()),
        "high_quality_fraction": float(n_high / x.shape[0]),
        "reverse_kl": reverse_kl,
        "counts": [int(c) for c in counts],
    }

# --------------------------------------------------------------------------- registration

def _rows(inp):
    r = mode_stats(inp.fake, inp.modes, inp.mode_std, min_count=1)
    strict = sum(c >= 20 for c in r["counts"])
    return [{"metric": "toy/modes", "value": r["modes_captured"], "of": len(inp.modes)},
            {"metric": "toy/modes_20", "value": strict, "of": len(inp.modes)},
            {"metric": "toy/high_quality", "value": r["high_quality_fraction"]},
            {"metric": "toy/reverse_kl", "value": r["reverse_kl"]}]


register_metric(Metric("toy", rows=("toy/modes", "toy/modes_20", "toy/high_quality", "toy/reverse_kl"), lower=("toy/reverse_kl",),
                       needs=("modes",), kinds=("points",), compute=_rows,
                       description="modes captured (published rule: one high-quality sample; and with 20), high-quality share "
                                   "and reverse KL on 2-D mixtures"))
