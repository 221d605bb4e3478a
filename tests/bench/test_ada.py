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
