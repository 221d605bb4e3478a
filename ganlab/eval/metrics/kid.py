"""Kernel Inception Distance: unbiased MMD^2 with a polynomial kernel, averaged over subsets.

Subsets are drawn with ``numpy.random.RandomState(seed).choice(n, m, replace=False)``, first from
the real set and then from the fake set, once per subset.  That is the same sampling order as
torch-fidelity's ``kid_features_to_metric``, so with the same seed both give the same numbers.
"""
from __future__ import annotations

import numpy as np

from ganlab.errors import EvalError
from ganlab.eval.metrics.registry import Metric, register_metric

from ._util import to_numpy64

__all__ = ["kid_from_features", "mmd2_unbiased", "polynomial_kernel"]


def polynomial_kernel(x: np.ndarray, y: np.ndarray, degree: int = 3, gamma: float | None = None,
                      coef0: float = 1.0) -> np.ndarray:
    """``k(x, y) = (gamma * x.y + coef0) ** degree`` with ``gamma = 1 / D`` by default."""
    if gamma is None:
        gamma = 1.0 / x.shape[1]
    base = x @ y.T
    base *= gamma
    base += coef0
    if float(degree).is_integer() and degree >= 1:
        # repeated multiplication: much faster than the general float power
        out = base.copy()
        for _ in range(int(degree) - 1):
            out *= base
        return out
    return base ** degree


def mmd2_unbiased(k_xx: np.ndarray, k_yy: np.ndarray, k_xy: np.ndarray) -> float:
    """Unbiased MMD^2 estimate from kernel matrices of two equal-size samples (m >= 2).

    Within-set sums leave out the diagonal (i == j); the cross term keeps every pair.
    """
    m = k_xx.shape[0]
    if m < 2 or k_xx.shape != (m, m) or k_yy.shape != (m, m) or k_xy.shape != (m, m):
        raise EvalError("mmd2_unbiased needs three m x m kernel matrices with m >= 2")
    sum_xx = k_xx.sum() - np.trace(k_xx)
    sum_yy = k_yy.sum() - np.trace(k_yy)
    return float((sum_xx + sum_yy) / (m * (m - 1)) - 2.0 * k_xy.sum() / (m * m))


def kid_from_features(real, fake, subsets: int = 100, subset_size: int = 1000, degree: int = 3,
                      gamma: float | None = None, coef0: float = 1.0, seed: int = 0) -> tuple[float, float]:
    """KID between feature sets ``real [N1, D]`` and ``fake [N2, D]``.

    Returns ``(mean, std)`` of the unbiased MMD^2 over ``subsets`` random subsets of
    ``min(subset_size, N1, N2)`` samples from each set (std is the population std, ``ddof=0``).
    The kernel is ``(x.y / D + 1) ** 3`` by default.  Computed in float64.
    """
    x = to_numpy64(real, "real", ndim=2)
    y = to_numpy64(fake, "fake", ndim=2)
    if x.shape[1] != y.shape[1]:
        raise EvalError(f"feature dimensions differ: {x.shape[1]} vs {y.shape[1]}")
    if subsets < 1:
        raise EvalError(f"subsets must be >= 1, got {subsets}")
    m = min(int(subset_size), x.shape[0], y.shape[0])
    if m < 2:
        raise EvalError(f"KID needs at least 2 samples per set, got {x.shape[0]} and {y.shape[0]}")

    rng = np.random.RandomState(seed)
    values = np.empty(subsets, dtype=np.float64)
    for i in range(subsets):
        xs = x[rng.choice(x.shape[0], m, replace=False)]
        ys = y[rng.choice(y.shape[0], m, replace=False)]
        k_xx = polynomial_kernel(xs, xs, degree, gamma, coef0)
        k_yy = polynomial_kernel(ys, ys, degree, gamma, coef0)
        k_xy = polynomial_kernel(xs, ys, degree, gamma, coef0)
        values[i] = mmd2_unbiased(k_xx, k_yy, k_xy)
    return float(values.mean()), float(values.std())

# --------------------------------------------------------------------------- registration

def _rows(inp):
    rf, _, ff, _ = inp.features()
    size = min(1000, len(rf), len(ff))
    mean, std = kid_from_features(rf, ff, subset_size=size, seed=inp.seed)
    if size == len(rf) == len(ff):
        std = None  # every "subset" is the whole of both sets: the spread over subsets is 0 by construction
    return [{"metric": "kid", "value": mean, "std": std}]


register_metric(Metric("kid", rows=("kid",), lower=("kid",), needs=("features",), compute=_rows,
                       description="kernel inception distance (unbiased MMD, polynomial kernel)"))
