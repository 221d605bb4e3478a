"""Inception Score from class probabilities (or logits) of a classifier.

``IS = exp(E_x KL(p(y|x) || p(y)))`` computed on ``splits`` consecutive, equal-as-possible chunks
(chunk ``i`` is rows ``i*N//splits`` to ``(i+1)*N//splits``, no shuffling, as in Salimans et al.'s
code); returns the mean and population std (``ddof=0``) over the chunks.  Shuffle beforehand if
the rows are ordered (e.g. by class).
"""
from __future__ import annotations

import torch

from ganlab.errors import EvalError
from ganlab.eval.metrics.registry import Metric, register_metric

from ._util import to_tensor

__all__ = ["inception_score"]


def inception_score(probs, splits: int = 10, from_logits: bool = False,
                    atol: float = 1e-3) -> tuple[float, float]:
    """Inception Score ``(mean, std)`` of ``probs [N, K]``.

    With ``from_logits=True`` the rows are logits and go through a softmax; otherwise they must
    be probabilities: non-negative, each row summing to 1 within ``atol`` (else ``ValueError``,
    which also catches logits passed without the flag).  Computed in float64.
    """
    p = to_tensor(probs, torch.float64, "probs").cpu()
    if p.dim() != 2:
        raise EvalError(f"probs must be [N, K], got shape {tuple(p.shape)}")
    n = p.shape[0]
    if not 1 <= splits <= n:
        raise EvalError(f"splits must be between 1 and N={n}, got {splits}")
    if not torch.isfinite(p).all():
        raise EvalError("probs contains NaN or infinite values")

    if from_logits:
        log_p = torch.log_softmax(p, dim=1)
        p = log_p.exp()
        plogp = p * log_p
    else:
        if (p < 0).any():
            raise EvalError("probs has negative entries (pass from_logits=True for logits)")
        row_sums = p.sum(dim=1)
        if ((row_sums - 1).abs() > atol).any():
            raise EvalError("rows of probs do not sum to 1 (pass from_logits=True for logits)")
        plogp = torch.special.xlogy(p, p)

    scores = []
    for i in range(splits):
        lo, hi = i * n // splits, (i + 1) * n // splits
        part = p[lo:hi]
        p_y = part.mean(dim=0, keepdim=True)
        # KL(p(y|x) || p(y)) per row; 0 * log 0 terms are 0.
        kl = plogp[lo:hi].sum(dim=1) - torch.special.xlogy(part, p_y).sum(dim=1)
        scores.append(torch.exp(kl.mean()))
    s = torch.stack(scores)
    return float(s.mean()), float(s.std(unbiased=False))

# --------------------------------------------------------------------------- registration

def _rows(inp):
    _, _, _, fp = inp.features()
    mean, std = inception_score(fp, splits=min(10, max(1, len(fp) // 50)))
    return [{"metric": "is", "value": mean, "std": std}]


register_metric(Metric("is", rows=("is",), needs=("probs",), compute=_rows,
                       description="inception score of the generated images' class probabilities"))
