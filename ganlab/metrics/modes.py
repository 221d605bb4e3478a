"""Mode counting for Stacked MNIST (Metz et al. 2017; VEEGAN, PacGAN).

A generated Stacked-MNIST image is classified channel by channel; its triple of predicted digits
is one of 10^3 = 1000 modes.  We report how many distinct modes occur and the KL divergence
``KL(q || p)`` of the generated mode histogram ``q`` from the uniform ``p`` over all modes (empty
bins of ``q`` contribute 0).
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["count_modes"]


def count_modes(pred_labels, n_classes: int = 10) -> dict:
    """Distinct modes and KL-to-uniform of predicted label tuples ``[N, S]`` (S = 3 for Stacked MNIST).

    Labels must be integers in ``[0, n_classes)``; there are ``n_classes ** S`` modes.  Returns
    ``{"modes": int, "kl": float, "n": N, "total_modes": n_classes ** S}``.
    """
    if isinstance(pred_labels, torch.Tensor):
        pred_labels = pred_labels.detach().cpu().numpy()
    labels = np.asarray(pred_labels)
    if labels.ndim != 2 or labels.shape[0] == 0:
        raise ValueError(f"pred_labels must be a non-empty [N, S] array, got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        if np.issubdtype(labels.dtype, np.floating) and np.all(labels == np.round(labels)):
            labels = labels.astype(np.int64)
        else:
            raise ValueError(f"pred_labels must be integers, got dtype {labels.dtype}")
    if labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError(f"pred_labels must lie in [0, {n_classes}), got range [{labels.min()}, {labels.max()}]")

    n, s = labels.shape
    total = n_classes ** s
    weights = n_classes ** np.arange(s - 1, -1, -1, dtype=np.int64)
    codes = labels.astype(np.int64) @ weights  # first column is the most significant digit
    counts = np.bincount(codes, minlength=total)
    q = counts[counts > 0] / n
    kl = float(np.sum(q * np.log(q * total)))
    return {"modes": int((counts > 0).sum()), "kl": kl, "n": int(n), "total_modes": int(total)}
