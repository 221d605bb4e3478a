"""Settings grouped over seeds, their intervals and the verdicts, on synthetic runs whose answer is known."""
from pathlib import Path

import pytest

from ganlab.report.collect import RunSummary
from ganlab.report.verdict import describe, group, holm, supported_best, verdicts, welch

BASE = {"method": "gan", "data.source": "digits", "data.image_size": 32, "train.epochs": 5}


def run(upsample: str, seed: int, fid: float, is_: float, **extra) -> RunSummary:
    cfg = {**BASE, "model.upsample": upsample, "train.seed": seed, "train.progress": seed % 2 == 0, **extra}
    return RunSummary(Path(f"/runs/{upsample}-{seed}"), f"{upsample}-{seed}", True, cfg,
                      metrics={"fid": fid, "is": is_})


@pytest.fixture
def runs():
    return ([run("nearest", s, f, i) for s, f, i in [(0, 16.0, 3.1), (1, 17.0, 3.0), (2, 15.3, 3.2)]]
            + [run("deconv", s, f, i) for s, f, i in [(0, 31.0, 2.1), (1, 29.0, 2.0), (2, 32.7, 2.2)]]
            + [run("bilinear", s, f, i) for s, f, i in [(0, 16.5, 3.05), (1, 15.8, 3.15), (2, 17.4, 2.95)]])


def test_runs_that_differ_only_in_their_seed_are_one_setting(runs):
    settings = group(runs)
    assert [s.label for s in settings] == ["upsample=nearest", "upsample=deconv", "upsample=bilinear"]
    assert [len(s.runs) for s in settings] == [3, 3, 3]  # train.progress differs too, and does not count
    assert settings[0].values("fid") == {0: 16.0, 1: 17.0, 2: 15.3}
    assert len(group(runs + [run("nearest", 3, 16.0, 3.0, **{"train.epochs": 6})])) == 4


def test_mean_spread_and_interval():
    st = describe([1.0, 2.0, 3.0])
    assert (st.n, st.mean, st.std) == (3, 2.0, 1.0)
    assert st.lo == pytest.approx(2 - 4.302653 / 3 ** 0.5, abs=1e-5)  # t(0.975, 2) = 4.3027
    assert describe([5.0]).std is None and describe([5.0]).lo is None


def test_holm_and_welch():
    assert holm([0.01, 0.04, None, 0.03]) == [pytest.approx(0.03), pytest.approx(0.06), None, pytest.approx(0.06)]
    assert welch([1, 2, 3], [1, 2, 3]) == pytest.approx(1.0)
    assert welch([1, 2, 3], [10, 11, 12]) < 0.01
    assert welch([1.0], [2.0, 3.0]) is None


def test_the_verdicts_know_the_answer_in_both_directions(runs):
    settings = group(runs)
    fid = {(v.a, v.b): v for v in verdicts(settings, "fid")}  # lower is better
    v = fid["upsample=nearest", "upsample=deconv"]
    assert v.supported and v.wins == (3, 3) and v.m == 3
    assert v.text.startswith("upsample=nearest beats upsample=deconv on fid in 3 of 3 seeds, 16.1 ± 0.854 vs 30.9")
    assert "Holm-corrected over 3 comparisons" in v.text
    assert fid["upsample=bilinear", "upsample=deconv"].supported
    close = [x for x in fid.values() if {x.a, x.b} == {"upsample=nearest", "upsample=bilinear"}][0]
    assert not close.supported and "cannot be told apart on fid with 3 seeds" in close.text
    isv = {(v.a, v.b): v for v in verdicts(settings, "is")}  # higher is better: the same order
    assert isv["upsample=nearest", "upsample=deconv"].supported
    # and reversed: where deconv's numbers are the better ones, deconv is named the better setting
    flipped = [run(r.config["model.upsample"], r.config["train.seed"], 50 - r.metrics["fid"], 5 - r.metrics["is"])
               for r in runs]
    fid2 = {(v.a, v.b): v for v in verdicts(group(flipped), "fid")}
    assert fid2["upsample=deconv", "upsample=nearest"].supported
    assert supported_best(group(flipped), "fid").label == "upsample=deconv"
    # nearest and bilinear cannot be told apart, so neither is the supported best
    assert supported_best(settings, "fid") is None
    assert supported_best(settings[:2], "fid").label == "upsample=nearest"


def test_one_seed_is_never_called_better(runs):
    one = [runs[0], runs[3]]
    (v,) = verdicts(group(one), "fid")
    assert not v.supported and "has one seed" in v.text and "--seeds 3" in v.text
    assert supported_best(group(one), "fid") is None
