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
    """A run whose numbered checkpoints recorded 6, 12, ..., 60 training minutes, scored by a stand-in whose
    'fid' is the checkpoint's epoch number; the calls are counted."""
    folder = tmp_path / "cand-s0"
    (folder / "checkpoints").mkdir(parents=True)
    used = {}
    for k in range(1, 11):
        path = folder / "checkpoints" / f"epoch-{9 * k:04d}.pt"
        path.write_bytes(b"")
        used[path.name] = 360.0 * k
    monkeypatch.setattr(ckpt, "load", lambda path: {"budget": {"used_s": used[Path(path).name]}}
                        if used.get(Path(path).name) is not None else {})
    calls = []

    def evaluate(run, heldout, clf, metrics, n, seed, checkpoint):
        calls.append(Path(checkpoint).name)
        return {"fid": float(Path(checkpoint).stem.split("-")[1])}

    monkeypatch.setattr(recipe_screen.heldout, "evaluate", evaluate)
    return folder, used, calls


def test_the_checkpoint_nearest_each_multiple_is_scored_once(run):
    folder, _, calls = run
    points = recipe_screen.curve(folder, 20, Path("h"), Path("c"), ["fid"], 10, 0)
    # 20 min -> the checkpoint at 18 (epoch 27), 40 -> 42 (epoch 63), 60 -> 60 (epoch 90)
    assert [round(p["minutes"]) for p in points] == [18, 42, 60]
    assert [p["fid"] for p in points] == [27, 63, 90]
    assert sorted(calls) == ["epoch-0027.pt", "epoch-0063.pt", "epoch-0090.pt"]
    again = recipe_screen.curve(folder, 20, Path("h"), Path("c"), ["fid"], 10, 0)
    assert again == points and len(calls) == 3  # cached in curve.json
    assert (folder / "curve.json").is_file()


def test_a_run_without_a_budget_is_refused_by_name(run):
    folder, used, _ = run
    used["epoch-0009.pt"] = None
    with pytest.raises(SystemExit, match="epoch-0009.pt records no training time"):
        recipe_screen.curve(folder, 15, Path("h"), Path("c"), ["fid"], 10, 0)
