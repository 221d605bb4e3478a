"""The metric registry: one table that ganlab eval, evaluation during training, eval.best and the report read."""
import pytest
import torch

from ganlab.errors import ConfigError, EvalError
from ganlab.eval import compute
from ganlab.eval.metrics import registry
from ganlab.eval.metrics.registry import Metric
from ganlab.experiment import load_experiment
from ganlab.report.collect import metric_direction


def test_every_metric_declares_its_rows_direction_and_needs():
    table = registry.metrics()
    assert {"fid", "kid", "is", "prdc", "swd", "w_critic", "faces", "cond_acc", "stacked_modes", "toy"} <= set(table)
    for m in table.values():
        assert m.rows and set(m.lower) <= set(m.rows), m.name
        assert set(m.kinds) <= {"images", "points"} and set(m.needs) <= set(registry.NEEDS), m.name
        assert registry.metric_of_row(m.ranking_row) is m
    assert registry.ranking_row("prdc") == "recall" and registry.ranking_row("fid") == "fid"
    assert registry.metric_of_row("cond_acc/hair").name == "cond_acc"
    assert registry.needs_extractor(["stacked_modes"]) and not registry.needs_extractor(["swd", "toy"])


def test_directions_come_from_the_registry():
    for m in registry.metrics().values():
        for row in m.rows:
            row = row.replace("<attribute>", "hair")
            assert registry.direction(row) == ("lower" if row in m.lower else "higher"), row
    assert registry.direction("toy") == "higher"  # a metric's name: the direction of its ranking row
    assert registry.direction("kid_std") is None and registry.direction("epoch") is None


def test_a_new_metric_is_one_registration(monkeypatch, tiny_config):
    """Registered once, a metric is computed by ganlab.eval.compute, allowed in eval.metrics and eval.best, and
    its direction is known to the report."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    def rows(inputs):
        gap = (inputs.real.float().mean() - inputs.fake.float().mean()).abs().item()
        return [{"metric": "pixel_gap", "value": gap}]

    registry.register_metric(Metric("pixel_gap", rows=("pixel_gap",), lower=("pixel_gap",), compute=rows))
    real, fake = torch.zeros(4, 1, 8, 8, dtype=torch.uint8), torch.full((4, 1, 8, 8), 10, dtype=torch.uint8)
    assert compute(["pixel_gap"], real, fake, progress=False) == [{"metric": "pixel_gap", "value": 10.0}]
    cfg = tiny_config(**{"eval.every": 1, "eval.metrics": ["pixel_gap"], "eval.best": "pixel_gap"})
    assert cfg.eval.metrics == ["pixel_gap"]
    assert metric_direction("pixel_gap") == "lower"
    with pytest.raises(RuntimeError, match="twice"):
        registry.register_metric(Metric("pixel_gap", rows=("pixel_gap",), compute=rows))


def test_metrics_that_do_not_apply_are_refused_with_the_reason():
    pts = torch.randn(8, 2)
    with pytest.raises(EvalError, match="does not apply to points"):
        compute(["fid"], pts, pts, kind="points", progress=False)
    with pytest.raises(EvalError, match="needs a feature extractor"):
        compute(["kid"], torch.zeros(4, 1, 8, 8, dtype=torch.uint8), torch.zeros(4, 1, 8, 8, dtype=torch.uint8),
                progress=False)
    with pytest.raises(ConfigError, match="eval.metrics"):
        load_experiment(None, ["eval.every=1", "eval.metrics=[nosuch]"])
