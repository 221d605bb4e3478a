"""bench/recipe_screen.py's scores along the way (``--curve``): which numbered checkpoints are scored, at what
minutes, and that a second call reuses them. The checkpoints and the scoring are stand-ins (no training)."""
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

import recipe_screen  # noqa: E402
from ganlab.runs import checkpoint as ckpt  # noqa: E402


@pytest.fixture
def run(tmp_path, monkeypatch):
    """A run whose numbered checkpoints recorded 6, 12, ..., 54 training minutes and whose last (latest.pt) 58,
    scored by a stand-in whose 'fid' is the checkpoint's epoch number (latest: 100); the calls are counted."""
    folder = tmp_path / "cand-s0"
    (folder / "checkpoints").mkdir(parents=True)
    used = {}
    for k in range(1, 10):
        path = folder / "checkpoints" / f"epoch-{9 * k:04d}.pt"
        path.write_bytes(b"")
        used[path.name] = 360.0 * k
    (folder / "checkpoints" / "latest.pt").write_bytes(b"")
    used["latest.pt"] = 58 * 60.0
    monkeypatch.setattr(ckpt, "load", lambda path: {"budget": {"used_s": used[Path(path).name]}}
                        if used.get(Path(path).name) is not None else {})
    calls = []

    def evaluate(run, heldout, clf, metrics, n, seed, checkpoint):
        calls.append(Path(checkpoint).name)
        stem = Path(checkpoint).stem
        return {"fid": 100.0 if stem == "latest" else float(stem.split("-")[1])}

    monkeypatch.setattr(recipe_screen.heldout, "evaluate", evaluate)
    return folder, used, calls


def test_the_checkpoint_nearest_each_multiple_is_scored_once(run):
    folder, _, calls = run
    points = recipe_screen.curve(folder, 20, Path("h"), Path("c"), ["fid"], 10, 0)
    # 20 min -> the checkpoint at 18 (epoch 27), 40 -> 42 (epoch 63), 60 -> the run's end at 58 (latest)
    assert [round(p["minutes"]) for p in points] == [18, 42, 58]
    assert [p["fid"] for p in points] == [27, 63, 100]
    assert sorted(calls) == ["epoch-0027.pt", "epoch-0063.pt", "latest.pt"]
    again = recipe_screen.curve(folder, 20, Path("h"), Path("c"), ["fid"], 10, 0)
    assert again == points and len(calls) == 3  # cached in curve.json
    assert (folder / "curve.json").is_file()


def test_a_run_stopped_early_is_scored_up_to_where_it_stopped(run):
    folder, used, calls = run
    (folder / "checkpoints" / "latest.pt").unlink()
    for name in ("epoch-0072.pt", "epoch-0081.pt"):
        (folder / "checkpoints" / name).unlink()
    points = recipe_screen.curve(folder, 15, Path("h"), Path("c"), ["fid"], 10, 0)
    # it ended at 42 minutes: 15 -> 12 or 18 (equally near: the first), 30 -> 30, 45 -> 42, and no 60
    assert [round(p["minutes"]) for p in points] == [12, 30, 42]


def test_a_run_without_a_budget_is_refused_by_name(run):
    folder, used, _ = run
    used["epoch-0009.pt"] = None
    with pytest.raises(SystemExit, match="epoch-0009.pt records no training time"):
        recipe_screen.curve(folder, 15, Path("h"), Path("c"), ["fid"], 10, 0)


def test_a_real_run_is_scored_at_its_end_and_drawn(tmp_path, tiny_config, monkeypatch):
    """A tiny run with a time budget: its checkpoints record their training time, the end is scored, and the
    pictures load each point's generator (two candidates: two rows of samples)."""
    from PIL import Image

    from ganlab.train import train
    for name in ("a", "b"):
        train(tiny_config(**{"train.epochs": 2, "train.minutes": 5}), out=tmp_path / f"{name}-s0", log=lambda *a: None)
    monkeypatch.setattr(recipe_screen.heldout, "evaluate", lambda *a, **k: {"swd": 1.0, "fid": 2.0})
    curves = {(name, 0): recipe_screen.curve(tmp_path / f"{name}-s0", 0.001, Path("h"), Path("c"), ["fid"], 10, 0)
              for name in ("a", "b")}
    for points in curves.values():
        assert points and points[-1]["checkpoint"] in ("latest.pt", "epoch-0002.pt") and points[-1]["minutes"] > 0
    recipe_screen.pictures(tmp_path, curves, ["swd", "fid"], "tiny")
    assert Image.open(tmp_path / "curve.png").size[0] > 0
    one = Image.open(tmp_path / "curve-samples.jpg").size
    recipe_screen.pictures(tmp_path, {("a", 0): curves[("a", 0)]}, ["swd", "fid"], "tiny")
    assert Image.open(tmp_path / "curve-samples.jpg").size[1] < one[1]  # a row per candidate


def test_the_seeds_are_summed_up_as_median_and_range():
    """Several seeds of a candidate are read as one figure with its spread; a seed that lacks a score (a metric
    not computed) is left out rather than counted as zero."""
    assert recipe_screen.spread([12.0, 8.5, 30.0]) == "12 [8.5, 30]"
    assert recipe_screen.spread([4.0, None, 2.0]) == "3 [2, 4]"
    assert recipe_screen.spread([None]) == "-"
