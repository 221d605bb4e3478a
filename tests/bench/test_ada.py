"""bench/ada.py over several seeds: one pair per seed, then the median ratio with / without ADA and its range. The
pairs are stand-ins (no training)."""
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

import ada  # noqa: E402

FIDS = {0: (16.5, 22.7), 1: (10.0, 20.0), 2: (9.0, 10.0)}  # seed: (with ADA, without)


@pytest.fixture
def pairs(monkeypatch):
    calls = []

    def pair(args, seed):
        calls.append(seed)
        a, b = FIDS[seed]
        return {"fid": a, "swd": 2 * a}, {"fid": b, "swd": b}
    monkeypatch.setattr(ada, "pair", pair)
    return calls


def main(monkeypatch, *flags):
    monkeypatch.setattr(sys, "argv", ["ada.py", "--data", "d", "--size", "500", "--classifier", "c.pt", *flags])
    ada.main()


def test_the_median_and_range_over_the_seeds(pairs, monkeypatch, capsys):
    main(monkeypatch, "--seeds", "0,1,2")
    out = capsys.readouterr().out
    assert pairs == [0, 1, 2]
    assert "over seeds 0, 1, 2: ADA / none, median [lowest, highest]" in out
    assert "FID: 0.73x [0.50, 0.90] (0.73, 0.50, 0.90)" in out  # 16.5/22.7, 10/20, 9/10
    assert "SWD: 1.45x [1.00, 1.80] (1.45, 1.00, 1.80)" in out


@pytest.mark.parametrize("flags", [(), ("--seed", "2"), ("--seeds", "2")])
def test_one_seed_prints_no_medians(pairs, monkeypatch, capsys, flags):
    main(monkeypatch, *flags)
    assert pairs == [int(flags[1]) if flags else 0]
    assert "median" not in capsys.readouterr().out


def test_seed_and_seeds_together_are_refused(pairs, monkeypatch):
    with pytest.raises(SystemExit):
        main(monkeypatch, "--seed", "1", "--seeds", "0,1")
    assert pairs == []


def test_a_side_counts_as_trained_only_when_its_minutes_ran_out(tmp_path):
    """A side killed halfway leaves a latest.pt too; scoring it as finished would compare a cut-short run."""
    import torch
    run = tmp_path / "ada"
    assert not ada.finished(run, 6.0)  # nothing trained
    (run / "checkpoints").mkdir(parents=True)
    for budget, done in [({"minutes": 6.0, "used_s": 120.0, "stopped_at": None}, False),  # killed at 2 minutes
                         ({"minutes": 3.0, "used_s": 180.0, "stopped_at": 900}, False),  # another budget's run
                         (None, False),  # trained without a budget
                         ({"minutes": 6.0, "used_s": 359.0, "stopped_at": 1800}, True)]:
        torch.save({"budget": budget}, run / "checkpoints" / "latest.pt")
        assert ada.finished(run, 6.0) == done, budget


def test_an_unfinished_pair_trains_both_sides_again(tmp_path, monkeypatch, capsys):
    """One side finished, the other killed: both are trained again (side by side), the finished one too."""
    import torch
    data = tmp_path / "set"
    data.mkdir()
    from PIL import Image
    for i in range(12):
        Image.new("RGB", (8, 8), (i * 20, 0, 0)).save(data / f"{i:02d}.png")
    work = tmp_path / "work"
    pair_dir = work / "set-4-seed0"
    for side, stopped in [("ada", 1800), ("none", None)]:
        (pair_dir / side / "checkpoints").mkdir(parents=True)
        torch.save({"budget": {"minutes": 6.0, "used_s": 1.0, "stopped_at": stopped}},
                   pair_dir / side / "checkpoints" / "latest.pt")
    started = []

    class Stop(Exception):
        pass

    def popen(cmd, **kw):
        started.append(cmd[cmd.index("--out") + 1])
        raise Stop
    monkeypatch.setattr(ada.subprocess, "Popen", popen)
    args = ada.argparse.Namespace(data=str(data), size=4, held_out=4, minutes=6.0, cores="0,1", work=str(work),
                                  recipe="fast32", image_size=32, set=[], ada_set=[])
    with pytest.raises(Stop):
        ada.pair(args, 0)
    assert not (pair_dir / "ada").exists() and not (pair_dir / "none").exists()
    assert started == [str(pair_dir / "ada")]  # the first side's start (the stand-in stops there)
    assert "not finished; trained again" in capsys.readouterr().out


def test_the_tail_is_the_numbered_checkpoints_of_the_last_minutes(tmp_path):
    """--tail: the numbered checkpoints written after the start of the last minutes, by the training time their
    budget recorded (not by epoch: a budget plans when checkpoints are written)."""
    import torch
    run = tmp_path / "ada"
    (run / "checkpoints").mkdir(parents=True)
    for epoch, used in [(3, 200.0), (6, 590.0), (9, 610.0), (12, 880.0)]:
        torch.save({"budget": {"used_s": used}}, run / "checkpoints" / f"epoch-{epoch:04d}.pt")
    torch.save({"budget": None}, run / "checkpoints" / "epoch-0015.pt")  # no budget recorded: not placed in time
    torch.save({"budget": {"used_s": 899.0}}, run / "checkpoints" / "latest.pt")  # the end, scored on its own
    assert ada.tail_checkpoints(run, 600.0) == [("epoch-0009.pt", 610.0), ("epoch-0012.pt", 880.0)]
    assert ada.tail_checkpoints(run, 900.0) == []


def test_each_checkpoints_scores_are_read_apart(tmp_path):
    """A run's eval.jsonl holds the end's scores and the tail checkpoints'; each is read by its checkpoint, the
    newest record winning, whatever order they were written in."""
    import json
    run = tmp_path / "ada"
    run.mkdir()
    recs = [{"metric": "fid", "value": 9.0, "checkpoint": str(run / "checkpoints" / "latest.pt")},
            {"metric": "fid", "value": 12.0, "checkpoint": str(run / "checkpoints" / "epoch-0018.pt")},
            {"metric": "swd", "value": 15.0, "checkpoint": str(run / "checkpoints" / "epoch-0018.pt")},
            {"metric": "fid", "value": 11.0, "checkpoint": str(run / "checkpoints" / "epoch-0018.pt")}]
    (run / "eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    assert ada.last_rows(run) == {"fid": 9.0}
    assert ada.last_rows(run, "epoch-0018.pt") == {"fid": 11.0, "swd": 15.0}
    assert ada.last_rows(run, "epoch-0021.pt") == {}


def test_with_a_tail_the_medians_over_the_checkpoints_are_compared_too(monkeypatch, capsys):
    def pair(args, seed):
        a, b = FIDS[seed]
        return ({"fid": a, "swd": a, "fid_median": 2 * a, "swd_median": a},
                {"fid": b, "swd": b, "fid_median": b, "swd_median": b})
    monkeypatch.setattr(ada, "pair", pair)
    main(monkeypatch, "--seeds", "0,1,2", "--tail", "5")
    out = capsys.readouterr().out
    assert "FID: 0.73x [0.50, 0.90]" in out
    assert "FID (median over the checkpoints): 1.45x [1.00, 1.80] (1.45, 1.00, 1.80)" in out
    assert "SWD (median over the checkpoints): 0.73x [0.50, 0.90]" in out


def test_a_finished_pair_with_a_tail_compares_each_sides_median_over_its_tail_and_end(tmp_path, monkeypatch, capsys):
    """pair() itself with --tail: both sides finished and scored, so nothing is trained or scored again; each side's
    median is over its tail checkpoints and its end (not over checkpoints before the tail)."""
    import json
    import torch
    from PIL import Image
    data = tmp_path / "set"
    data.mkdir()
    for i in range(12):
        Image.new("RGB", (8, 8), (i * 20, 0, 0)).save(data / f"{i:02d}.png")
    pair_dir = tmp_path / "work" / "set-4-seed0"
    # side: {checkpoint: (training seconds, FID)}; the tail of 5 of 6 minutes starts at 60 s
    scores = {"ada": {"epoch-0003.pt": (30.0, 99.0), "epoch-0006.pt": (100.0, 4.0), "epoch-0009.pt": (200.0, 8.0),
                      "latest.pt": (359.0, 6.0)},
              "none": {"epoch-0003.pt": (30.0, 1.0), "epoch-0006.pt": (110.0, 10.0), "latest.pt": (358.0, 2.0)}}
    for side, cks in scores.items():
        ck = pair_dir / side / "checkpoints"
        ck.mkdir(parents=True)
        recs = []
        for name, (used, fid) in cks.items():
            budget = {"minutes": 6.0, "used_s": used, "stopped_at": 100 if name == "latest.pt" else None}
            torch.save({"budget": budget, "method_state": {"g_steps": 100}}, ck / name)
            recs += [{"metric": m, "value": v, "checkpoint": str(ck / name)} for m, v in (("fid", fid), ("swd", 1.0))]
        (pair_dir / side / "eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))

    def popen(cmd, **kw):
        raise AssertionError(f"nothing should run: {cmd}")
    monkeypatch.setattr(ada.subprocess, "Popen", popen)
    args = ada.argparse.Namespace(data=str(data), size=4, held_out=4, minutes=6.0, cores="0,1",
                                  work=str(tmp_path / "work"), recipe="fast32", image_size=32, set=[], ada_set=[],
                                  n=10, classifier="c.pt", tail=5.0)
    a, b = ada.pair(args, 0)
    assert a["fid"] == 6.0 and b["fid"] == 2.0
    assert a["fid_median"] == 6.0 and b["fid_median"] == 6.0  # median of 4, 8, 6 and of 10, 2
    assert [r["checkpoint"] for r in a["at"]] == ["epoch-0006.pt", "epoch-0009.pt"]
    assert "medians over the last 5 minutes' checkpoints and the end: FID 1.00x" in capsys.readouterr().out
