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
