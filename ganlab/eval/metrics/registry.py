"""The metric registry: every metric declares, once, its name, the rows it reports, which way each row is
better, what it needs and what data it applies to. ``ganlab eval``, evaluation during training, ``eval.best``
and the report's best-value marks all read this one table.

A metric module computes its number from tensors and ends with a registration::

    register_metric(Metric("fid", rows=("fid",), lower=("fid",), needs=("features",), compute=_rows))

where ``_rows(inputs: MetricInputs) -> list[dict]`` returns rows ``{"metric": ROW, "value": v, ...}``.
Adding a metric is one module with that call and one import line in ``ganlab/eval/metrics/__init__.py``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from ganlab.errors import EvalError

# what a metric can ask for
NEEDS = {
    "features": "features of a feature extractor (--features)",
    "probs": "class probabilities of the feature extractor (an Inception network)",
    "classifier": "a domain classifier's predictions (--features classifier:PATH)",
    "requested": "the labels a conditional model was asked for",
    "modes": "the data's known modes (2-D toy mixtures)",
}


@dataclass(frozen=True)
class Metric:
    """One metric. ``rows``: the result rows, the first ranks checkpoints; a row ending in ``/<attribute>`` stands
    for one row per attribute. ``lower``: the rows where lower is better (the others: higher)."""
    name: str
    rows: tuple
    compute: Callable[["MetricInputs"], list[dict]]
    lower: tuple = ()
    needs: tuple = ()
    kinds: tuple = ("images",)
    description: str = ""

    def has_row(self, row: str) -> bool:
        return any(row == r or (r.endswith("/<attribute>") and row.startswith(r[: -len("<attribute>")]))
                   for r in self.rows)

    def lower_is_better(self, row: str) -> bool:
        return row in self.lower

    @property
    def ranking_row(self) -> str:
        return self.rows[0]


_REGISTRY: dict[str, Metric] = {}


def register_metric(metric: Metric) -> Metric:
    if metric.name in _REGISTRY:
        raise RuntimeError(f"metric {metric.name!r} is registered twice")
    bad = [n for n in metric.needs if n not in NEEDS]
    if bad:
        raise RuntimeError(f"metric {metric.name!r} needs {bad}, which is not one of {list(NEEDS)}")
    _REGISTRY[metric.name] = metric
    return metric


def metrics() -> dict[str, Metric]:
    """Name -> Metric, in registration order (import ``ganlab.eval.metrics`` to fill it)."""
    return dict(_REGISTRY)


def get_metric(name: str) -> Metric:
    if name not in _REGISTRY:
        raise EvalError(f"unknown metric {name!r}; choose from: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def metric_of_row(row: str) -> Metric | None:
    """The metric whose results include the row named ``row`` (or that is named ``row``)."""
    if row in _REGISTRY:
        return _REGISTRY[row]
    return next((m for m in _REGISTRY.values() if m.has_row(row)), None)


def ranking_row(name: str) -> str:
    """The result row that ranks checkpoints for ``name``, a metric or one of its rows."""
    return _REGISTRY[name].ranking_row if name in _REGISTRY else name


def metrics_for(kind: str) -> list[str]:
    return [m.name for m in _REGISTRY.values() if kind in m.kinds]


def needs_extractor(names) -> bool:
    return any(n in ("features", "probs", "classifier") for name in names for n in get_metric(name).needs)


# scores other ganlab commands write beside the metrics' rows (figures' JSON, metrics.jsonl), by name
OTHER_SCORES = {"accuracy": "higher", "q_accuracy": "higher", "aux_accuracy": "higher", "test_mse": "lower"}
_NOT_SCORES = ("std", "stderr", "n", "seed", "steps", "time", "epoch", "iter", "step")


def direction(key: str) -> str | None:
    """'lower', 'higher' or None (not a score, or not one ganlab knows) for a row name or a flattened key of
    a record (``fid``, ``cond_acc/hair``, ``prdc.recall``; ``kid_std`` and ``epoch`` are not scores)."""
    key = key.lower()
    m = metric_of_row(key)
    if m is not None:
        return "lower" if m.lower_is_better(m.ranking_row if key == m.name else key) else "higher"
    if key in OTHER_SCORES:
        return OTHER_SCORES[key]
    parts = [p for p in key.split(".") if p]
    if not parts or re.split(r"[_\-]", parts[-1])[-1] in _NOT_SCORES:
        return None
    return direction(parts[-1]) if len(parts) > 1 else None


@dataclass
class MetricInputs:
    """What the metrics of one evaluation share: the real and generated sets (uint8 images or float points)
    and, computed once on first use, their features."""
    real: torch.Tensor
    fake: torch.Tensor
    extractor: Any = None
    kind: str = "images"
    requested: dict | None = None
    modes: Any = None
    mode_std: Any = None
    cascade: str | None = None
    critic_steps: int = 500
    seed: int = 0
    device: Any = "cpu"
    progress: bool = True
    real_features: Callable | None = None  # (extractor, real, progress) -> (features, probs), cached by the caller
    _cache: dict = field(default_factory=dict)

    def features(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(real features, real probs, fake features, fake probs)."""
        if "features" not in self._cache:
            from ganlab.eval.features import extract
            rf, rp = (self.real_features(self.extractor, self.real, self.progress) if self.real_features
                      else extract(self.extractor, self.real, progress=self.progress, desc="real features"))
            ff, fp = extract(self.extractor, self.fake, progress=self.progress, desc="generated features")
            self._cache["features"] = (rf, rp, ff, fp)
        return self._cache["features"]


def check_applicable(names: list[str], kind: str) -> None:
    """Refuse unknown metrics and metrics that do not apply to ``kind`` ("images" or "points")."""
    for name in names:
        if kind not in get_metric(name).kinds:
            raise EvalError(f"metric {name} does not apply to {kind}; choose from: {', '.join(metrics_for(kind))}")


def check_extractor(names: list[str], extractor) -> None:
    """Refuse metrics that need features or a classifier this evaluation does not have."""
    for name in names:
        m = get_metric(name)
        if extractor is None and any(n in ("features", "probs", "classifier") for n in m.needs):
            raise EvalError(f"{name} needs a feature extractor (--features)")
        if "classifier" in m.needs and extractor is not None and not extractor.predicts:
            raise EvalError(f"{name} needs --features classifier:PATH (a classifier from 'ganlab train-classifier')")


def check_conditional(names: list[str], conditional: bool) -> None:
    """Refuse metrics that need the labels samples were asked for, when the model takes none."""
    for name in names:
        if "requested" in get_metric(name).needs and not conditional:
            raise EvalError(f"{name} needs a model conditioned on attributes (its samples carry the labels they "
                            "were asked for): a cgan or acgan run")


def compute(names: list[str], inputs: MetricInputs) -> list[dict]:
    """Rows {metric, value, ...} of the metrics ``names``, in order."""
    check_applicable(names, inputs.kind)
    check_extractor(names, inputs.extractor)
    check_conditional(names, inputs.requested is not None)
    rows = []
    for name in names:
        rows.extend(get_metric(name).compute(inputs))
    return rows
