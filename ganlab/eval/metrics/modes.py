"""Mode counting for Stacked MNIST (Metz et al. 2017; VEEGAN, PacGAN).

A generated Stacked-MNIST image is classified channel by channel; its triple of predicted digits
is one of 10^3 = 1000 modes.  We report how many distinct modes occur and the KL divergence
``KL(q || p)`` of the generated mode histogram ``q`` from the uniform ``p`` over all modes (empty
bins of ``q`` contribute 0).
"""
from __future__ import annotations

import numpy as np
import torch

from ganlab.errors import EvalError
from ganlab.eval.metrics.registry import Metric, register_metric

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
        raise EvalError(f"pred_labels must be a non-empty [N, S] array, got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        if np.issubdtype(labels.dtype, np.floating) and np.all(labels == np.round(labels)):
            labels = labels.astype(np.int64)
        else:
            raise EvalError(f"pred_labels must be integers, got dtype {labels.dtype}")
    if labels.min() < 0 or labels.max() >= n_classes:
        raise EvalError(f"pred_labels must lie in [0, {n_classes}), got range [{labels.min()}, {labels.max()}]")

    n, s = labels.shape
    total = n_classes ** s
    weights = n_classes ** np.arange(s - 1, -1, -1, dtype=np.int64)
    codes = labels.astype(np.int64) @ weights  # first column is the most significant digit
    counts = np.bincount(codes, minlength=total)
    q = counts[counts > 0] / n
    kl = float(np.sum(q * np.log(q * total)))
    return {"modes": int((counts > 0).sum()), "kl": kl, "n": int(n), "total_modes": int(total)}

# --------------------------------------------------------------------------- registration

def _rows(inp):
    """Stacked-MNIST mode count: a digit classifier reads each of the 3 channels; a triple is one of 1,000 modes."""
    fake, extractor = inp.fake, inp.extractor
    if fake.shape[1] != 3:
        raise EvalError("stacked_modes needs 3-channel (stacked) images and --features classifier:PATH of a "
                        "grey digit classifier (ganlab train-classifier --data $GANLAB_DATA/mnist)")
    heads = list(extractor.attributes)
    digits = [extractor.predict(fake[:, c:c + 1])[heads[0]] for c in range(3)]
    r = count_modes(torch.stack(digits, 1))
    return [{"metric": "stacked_modes", "value": r["modes"], "of": r["total_modes"]},
            {"metric": "stacked_modes/kl", "value": r["kl"]}]


register_metric(Metric("stacked_modes", rows=("stacked_modes", "stacked_modes/kl"), lower=("stacked_modes/kl",),
                       needs=("classifier",), compute=_rows,
                       description="modes of stacked MNIST (of 1,000) found by a digit classifier, and their KL"))
