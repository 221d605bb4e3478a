"""Accuracy of conditional generation: did a classifier read back the attributes that were asked for?"""
from __future__ import annotations

import torch

from ganlab.errors import EvalError
from ganlab.eval.metrics.registry import Metric, register_metric

from ._util import to_tensor

__all__ = ["condition_accuracy"]


def _as_codes(x, name: str) -> torch.Tensor:
    t = to_tensor(x, name=name).cpu()
    if t.dim() == 2 and t.is_floating_point():
        t = t.argmax(dim=1)  # scores/logits [N, K] -> predicted class
    if t.dim() == 2 and t.shape[1] == 1:
        t = t[:, 0]
    if t.dim() != 1:
        raise EvalError(f"{name} must be [N] class indices (or [N, K] scores), got shape {tuple(t.shape)}")
    if t.is_floating_point() and not torch.equal(t, t.round()):
        raise EvalError(f"{name} must hold integer class indices")
    return t.long()


def condition_accuracy(pred_codes: dict, requested: dict) -> dict[str, float]:
    """Per-attribute accuracy of ``pred_codes`` against ``requested``, plus ``"all"``.

    Both map attribute name -> ``[N]`` class indices (``pred_codes`` may also hold ``[N, K]``
    scores, read through argmax).  The names must match.  ``"all"`` is the share of samples
    with every attribute right.  An attribute may not itself be called ``"all"``.
    """
    if set(pred_codes) != set(requested):
        raise EvalError(
            f"attribute names differ: predicted {sorted(pred_codes)} vs requested {sorted(requested)}"
        )
    if not requested:
        raise EvalError("no attributes given")
    if "all" in requested:
        raise EvalError('an attribute may not be named "all" (reserved for the joint accuracy)')

    out: dict[str, float] = {}
    all_right = None
    n = None
    for name, wanted in requested.items():
        pred = _as_codes(pred_codes[name], f"pred_codes[{name!r}]")
        want = _as_codes(wanted, f"requested[{name!r}]")
        if pred.shape != want.shape:
            raise EvalError(f"attribute {name!r}: {pred.shape[0]} predictions vs {want.shape[0]} requests")
        if n is None:
            n = pred.shape[0]
        elif pred.shape[0] != n:
            raise EvalError(f"attribute {name!r} has {pred.shape[0]} samples, others have {n}")
        if n == 0:
            raise EvalError("no samples")
        right = pred == want
        out[name] = float(right.double().mean())
        all_right = right if all_right is None else all_right & right
    out["all"] = float(all_right.double().mean())
    return out

# --------------------------------------------------------------------------- registration

def per_value_accuracy(pred: torch.Tensor, asked: torch.Tensor, names: list | None = None) -> dict:
    """Asked value (its name where known) -> the share of samples asking for it whose prediction matches."""
    pred = pred.argmax(1) if pred.dim() == 2 else pred
    out = {}
    for code in sorted(set(asked.tolist())):
        sel = asked == code
        label = str(names[code]) if names is not None and code < len(names) else str(code)
        out[label] = float((pred[sel].cpu() == code).float().mean())
    return out


def _rows(inp):
    pred = inp.extractor.predict(inp.fake)
    requested = inp.requested
    common = {a: requested[a].cpu() for a in requested if a in pred}
    if not common:
        raise EvalError(f"the classifier predicts {list(pred)}, the model is conditioned on {list(requested)}")
    # the control: the same samples scored against the asked tags shuffled across samples. What a model that
    # ignored its tags would get, given this classifier's bias and the tags' frequencies.
    perm = torch.randperm(len(inp.fake), generator=torch.Generator().manual_seed(inp.seed))
    shuffled = condition_accuracy({a: pred[a] for a in common}, {a: c[perm] for a, c in common.items()})
    value_names = inp.extractor.attributes
    rows = []
    for name, acc in condition_accuracy({a: pred[a] for a in common}, common).items():
        row = {"metric": f"cond_acc/{name}", "value": acc, "shuffled": shuffled[name]}
        if name in common:  # which asked values are read back, and which are not
            row["per_value"] = per_value_accuracy(pred[name], common[name], value_names.get(name))
        rows.append(row)
    return rows


register_metric(Metric("cond_acc", rows=("cond_acc/all", "cond_acc/<attribute>"), needs=("classifier", "requested"),
                       compute=_rows, description="how often a domain classifier reads back the asked labels"))
