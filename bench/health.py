"""No-false-alarm bench of the training-health monitor (ganlab.train.health).

Runs every recipe of ``ganlab recipes`` briefly at a small size (150 generator steps, ``--image-size 16 --set
data.limit=4096``,
points recipes on their own data) with ``train.on_failure=warn``, and prints one row per recipe: the findings of
its ``health.jsonl`` (or none) and where its last sample grid is, to look at. Recipes whose data is not on this
machine are listed as skipped.

    python bench/health.py [--out /tmp/health-bench] [--only NAME ...] [--steps 150] [--epochs 100]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def recipes() -> list[str]:
    out = subprocess.run([sys.executable, "-m", "ganlab", "recipes"], capture_output=True, text=True, check=True)
    return [line.split()[0] for line in out.stdout.splitlines() if line.strip() and not line.startswith(" ")]


def run(name: str, out: Path, epochs: int, steps: int) -> dict:
    folder = out / name
    args = [sys.executable, "-m", "ganlab", "train", "--recipe", name, "--epochs", str(epochs), "--steps", str(steps),
            "--out", str(folder),
            "--set", "train.progress=false", "--set", "train.on_failure=warn", "--set", "eval.every=null"]
    if "toy" not in name:
        # a few thousand images: epochs of tens of iterations, so per-epoch outputs do not dominate
        args += ["--image-size", "16", "--set", "data.limit=4096", "--set", "train.checkpoint_every=1000"]
    t = time.time()
    p = subprocess.run(args, capture_output=True, text=True)
    grids = sorted((folder / "samples").glob("*.png")) if folder.exists() else []
    found = []
    if (folder / "health.jsonl").exists():
        found = [json.loads(line) for line in (folder / "health.jsonl").read_text().splitlines()]
    status = "ok" if p.returncode == 0 else ("skipped: " + (p.stderr.strip().splitlines() or ["?"])[-1])[:90]
    return {"recipe": name, "status": status, "seconds": time.time() - t,
            "findings": ", ".join(f"{f['kind']}@{f['began']}" for f in found) or "none",
            "grid": str(grids[-1]) if grids else "-"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="/tmp/health-bench")
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--steps", type=int, default=150, help="generator steps per run (whichever of these ends first)")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in a.only or recipes():
        if (out / name).exists():
            print(f"{name}: {out / name} exists; remove it to run again", file=sys.stderr)
            continue
        rows.append(run(name, out, a.epochs, a.steps))
        r = rows[-1]
        print(f"{r['recipe']:32s} {r['status'][:40]:40s} {r['seconds']:6.0f}s  {r['findings']:30s} {r['grid']}",
              flush=True)


if __name__ == "__main__":
    main()
