"""Precision, recall, density and coverage with k-NN manifolds (Naeem et al., ICML 2020).

With ``r_k(x)`` the distance from ``x`` to its k-th nearest neighbour in its own set (itself
excluded), real samples ``X`` (N) and fake samples ``Y`` (M):

* precision = 1/M  sum_j  1[ exists i: d(X_i, Y_j) <= r_k(X_i) ]
* recall    = 1/N  sum_i  1[ exists j: d(X_i, Y_j) <= r_k(Y_j) ]
* density   = 1/(kM) sum_j sum_i 1[ d(X_i, Y_j) <= r_k(X_i) ]
* coverage  = 1/N  sum_i  1[ min_j d(X_i, Y_j) <  r_k(X_i) ]

(precision/recall are Kynkäänniemi et al.'s 2019 definitions.)  Distances are Euclidean, from
``torch.cdist`` on blocks of ``chunk_size`` rows, so no N x M matrix is ever held whole: 10k x
10k sets need a few hundred MB at most.
"""
from __future__ import annotations

import torch

from ganlab.errors import EvalError
from ganlab.eval.metrics.registry import Metric, register_metric

from ._util import to_tensor

__all__ = ["knn_radii", "prdc"]


def _blocks(n: int, size: int):
    for lo in range(0, n, size):
        yield lo, min(n, lo + size)


def knn_radii(feats: torch.Tensor, k: int, chunk_size: int = 1024) -> torch.Tensor:
    """Distance from each row of ``feats [N, D]`` to its k-th nearest other row (``k < N``)."""
    n = feats.shape[0]
    if not 1 <= k < n:
        raise EvalError(f"k must be between 1 and N-1={n - 1}, got {k}")
    out = torch.empty(n, dtype=feats.dtype, device=feats.device)
    for lo, hi in _blocks(n, chunk_size):
        d = torch.cdist(feats[lo:hi], feats)
        # the row's own point is at distance ~0 and takes the first of the k+1 smallest
        out[lo:hi] = d.topk(k + 1, dim=1, largest=False).values[:, k]
    return out


def prdc(real_feats, fake_feats, k: int = 5, chunk_size: int = 1024,
         device: str | torch.device | None = None) -> dict[str, float]:
    """Precision, recall, density and coverage of ``fake_feats [M, D]`` against ``real_feats [N, D]``.

    Returns ``{"precision", "recall", "density", "coverage"}`` as floats.  Features are cast to
    float32; pass ``device`` to compute elsewhere than where the tensors are.
    """
    real = to_tensor(real_feats, torch.float32, "real_feats")
    fake = to_tensor(fake_feats, torch.float32, "fake_feats")
    if device is not None:
        real, fake = real.to(device), fake.to(device)
    if real.dim() != 2 or fake.dim() != 2 or real.shape[1] != fake.shape[1]:
        raise EvalError(f"expected [N, D] and [M, D] features, got {tuple(real.shape)} and {tuple(fake.shape)}")
    fake = fake.to(real.device)
    if chunk_size < 1:
        raise EvalError(f"chunk_size must be >= 1, got {chunk_size}")

    n, m = real.shape[0], fake.shape[0]
    r_real = knn_radii(real, k, chunk_size)
    r_fake = knn_radii(fake, k, chunk_size)

    precise = torch.zeros(m, dtype=torch.bool, device=real.device)
    density_sum = torch.zeros((), dtype=torch.float64, device=real.device)
    recalled = torch.zeros(n, dtype=torch.bool, device=real.device)
    nearest_fake = torch.full((n,), float("inf"), dtype=real.dtype, device=real.device)

    for lo, hi in _blocks(m, chunk_size):
        d = torch.cdist(fake[lo:hi], real)  # [block, N]
        inside_real = d <= r_real.unsqueeze(0)
        precise[lo:hi] = inside_real.any(dim=1)
        density_sum += inside_real.sum(dtype=torch.float64)
        recalled |= (d <= r_fake[lo:hi].unsqueeze(1)).any(dim=0)
        nearest_fake = torch.minimum(nearest_fake, d.min(dim=0).values)

    return {
        "precision": float(precise.double().mean()),
        "recall": float(recalled.double().mean()),
        "density": float(density_sum / (k * m)),
        "coverage": float((nearest_fake < r_real).double().mean()),
    }

# --------------------------------------------------------------------------- registration

def _rows(inp):
    rf, _, ff, _ = inp.features()
    k = min(5, len(rf) - 1, len(ff) - 1)
    return [{"metric": name, "value": v} for name, v in prdc(rf, ff, k=k).items()]


register_metric(Metric("prdc", rows=("recall", "precision", "density", "coverage"), needs=("features",),
                       compute=_rows, description="precision, recall, density and coverage of k-NN balls"))
