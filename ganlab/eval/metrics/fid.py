"""Fréchet distance between Gaussians fitted to feature sets (FID when the features are Inception's).

All arithmetic is float64 NumPy/SciPy.  Nothing here extracts features: pass the activations of
whatever network you use (Inception pool3 for a reportable FID) as ``[N, D]`` arrays or tensors.
"""
from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg

from ganlab.errors import EvalError
from ganlab.eval.metrics.registry import Metric, register_metric

from ._util import to_numpy64

__all__ = ["feature_stats", "fid_from_features", "frechet_distance"]


def feature_stats(feats) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``[D]`` and unbiased covariance ``[D, D]`` (float64) of features ``[N, D]``, ``N >= 2``."""
    x = to_numpy64(feats, "feats", ndim=2)
    if x.shape[0] < 2:
        raise EvalError(f"feature_stats needs at least 2 samples, got {x.shape[0]}")
    if not np.isfinite(x).all():
        raise EvalError("feats contains NaN or infinite values")
    mu = x.mean(axis=0)
    sigma = np.cov(x, rowvar=False)
    return mu, np.atleast_2d(sigma)


def _sqrtm_product(sigma1: np.ndarray, sigma2: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        # SciPy warns about (nearly) singular input; the caller handles that case itself.
        warnings.simplefilter("ignore")
        out = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if isinstance(out, tuple):  # older SciPy with disp=False semantics
        out = out[0]
    return np.asarray(out)


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """Fréchet distance ``|mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))`` between two Gaussians.

    ``(S1 S2)^(1/2)`` is computed with :func:`scipy.linalg.sqrtm`.  When the product is singular
    enough for the square root to come out non-finite (or with a large imaginary part),
    ``eps * I`` is added to both covariances and the root recomputed.  Imaginary parts that are
    numerical noise (diagonal ``|imag| <= 1e-3``) are dropped; larger ones raise ``ValueError``.
    """
    mu1 = np.atleast_1d(to_numpy64(mu1, "mu1"))
    mu2 = np.atleast_1d(to_numpy64(mu2, "mu2"))
    sigma1 = np.atleast_2d(to_numpy64(sigma1, "sigma1"))
    sigma2 = np.atleast_2d(to_numpy64(sigma2, "sigma2"))
    if mu1.ndim != 1 or mu1.shape != mu2.shape:
        raise EvalError(f"means must be vectors of the same length, got {mu1.shape} and {mu2.shape}")
    d = mu1.shape[0]
    if sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise EvalError(
            f"covariances must be {d}x{d} to match the means, got {sigma1.shape} and {sigma2.shape}"
        )

    covmean = _sqrtm_product(sigma1, sigma2)
    if not np.isfinite(covmean).all() or (
        np.iscomplexobj(covmean) and np.abs(np.diagonal(covmean).imag).max() > 1e-3
    ):
        offset = np.eye(d) * eps
        covmean = _sqrtm_product(sigma1 + offset, sigma2 + offset)
        if not np.isfinite(covmean).all():
            raise EvalError("matrix square root of sigma1 @ sigma2 is not finite, even with eps offset")

    if np.iscomplexobj(covmean):
        max_imag = np.abs(np.diagonal(covmean).imag).max()
        if max_imag > 1e-3:
            raise EvalError(f"matrix square root has a significant imaginary component ({max_imag:.3g})")
        covmean = covmean.real

    diff = mu1 - mu2
    value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean)
    return float(value)


def fid_from_features(real_feats, fake_feats, eps: float = 1e-6) -> float:
    """FID between two feature sets ``[N1, D]`` and ``[N2, D]`` (order does not matter)."""
    mu1, s1 = feature_stats(real_feats)
    mu2, s2 = feature_stats(fake_feats)
    if mu1.shape != mu2.shape:
        raise EvalError(f"feature dimensions differ: {mu1.shape[0]} vs {mu2.shape[0]}")
    return frechet_distance(mu1, s1, mu2, s2, eps=eps)

# --------------------------------------------------------------------------- registration

BOOTSTRAP = 10          # resamples for FID's sampling spread ...
BOOTSTRAP_MAX_DIM = 512  # ... in feature spaces up to this size (Inception's 2048: seconds per resample, skipped)


def bootstrap_std(real_feats, fake_feats, n: int = BOOTSTRAP, seed: int = 0) -> float:
    """The spread of FID from sampling: the standard deviation of FID over ``n`` resamples (with replacement) of
    both feature sets, from a generator seeded with ``seed``."""
    x, y = to_numpy64(real_feats, "real_feats", ndim=2), to_numpy64(fake_feats, "fake_feats", ndim=2)
    rng = np.random.default_rng(seed)
    vals = [fid_from_features(x[rng.integers(0, len(x), len(x))], y[rng.integers(0, len(y), len(y))])
            for _ in range(n)]
    return float(np.std(vals, ddof=1))


def _rows(inp):
    rf, _, ff, _ = inp.features()
    row = {"metric": "fid", "value": fid_from_features(rf, ff)}
    if rf.shape[1] <= BOOTSTRAP_MAX_DIM:  # the report shows it as "± std" and judges single runs' leads by it
        row["std"] = bootstrap_std(rf, ff, seed=inp.seed)
        row["std_of"] = f"sampling: FID over {BOOTSTRAP} bootstrap resamples of both feature sets"
    return [row]


register_metric(Metric("fid", rows=("fid",), lower=("fid",), needs=("features",), compute=_rows,
                       description="Frechet distance between feature Gaussians"))
