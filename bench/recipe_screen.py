"""Screen candidate training settings at equal wall time: each candidate trains as its own ``ganlab train``
process pinned to one core with one thread, two candidates side by side, for ``--minutes`` of wall time (then
stopped with SIGTERM, which saves the run), and is scored on held-out images like bench/quality.py (SWD, and FID,
KID, precision/recall/density/coverage in the features of a classifier trained once on the training part's tags).

    python bench/recipe_screen.py --candidates NAME='KEY=VALUE KEY=VALUE' [NAME=...] [--recipe dcgan]
        [--data ../shared/data/anime-faces/images --labels ../shared/data/anime-faces/tags.csv]
        [--image-size 64] [--minutes 8] [--n 2000] [--seeds 0,1,2] [--work /tmp/ganlab-screen] [--cond]

With ``--cond`` the candidates train on the training part's tags (conditional methods) and are also scored by
``cond_acc``: the share of samples whose asked tags the classifier reads back, with the same samples' asked tags
shuffled as the control.

With ``--curve MIN`` each candidate is also scored along the way: at every multiple of MIN minutes up to where it
ended, the checkpoint (numbered, or the last) whose recorded training time (``budget.used_s``) is nearest. Give the
candidates ``train.minutes``, which records that time and plans about ten numbered checkpoints over the budget.
One long screen then shows how every candidate's scores move with the minutes, not only where they end, in
``curve.png`` (the scores) and ``curve-samples.jpg`` (16 samples of each candidate at each point).

A faster first pass than bench/quality.py (no script side); the winner goes to bench/quality.py for the race
against the pytorch/examples script. Runs already screened (their ``screen.json``, ``curve.json``) are reused.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import heldout  # noqa: E402
from data_paths import DEFAULT_DATA  # noqa: E402

METRICS = ["swd", "fid", "kid", "prdc"]
ROWS = ["swd", "fid", "kid", "precision", "recall", "density", "coverage"]


def train_for(name: str, sets: list[str], args, train: Path, core: int, seed: int) -> subprocess.Popen:
    run = args.work / f"{name}-s{seed}"
    cmd = ["taskset", "-c", str(core), sys.executable, "-m", "ganlab", "train", "--recipe", args.recipe,
           "--data", str(train), "--image-size", str(args.image_size), "--epochs", "100000", "--seed", str(seed),
           "--out", str(run), "--set", "train.progress=false", "--set", "train.tensorboard=false",
           "--set", "train.device=cpu", *[x for s in sets for x in ("--set", s)]]
    if args.cond:
        cmd[cmd.index("--data") + 2:cmd.index("--data") + 2] = ["--labels", str(args.train_tags), "--format", "csv"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    log = open(args.work / f"{name}-s{seed}.log", "w")
    print("start:", " ".join(shlex.quote(c) for c in cmd), flush=True)
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL)


def main():
    shared = DEFAULT_DATA.parent
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--candidates", nargs="+", required=True, metavar="NAME='KEY=VALUE ...'")
    ap.add_argument("--recipe", default="dcgan")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--labels", type=Path, default=shared / "tags.csv")
    ap.add_argument("--held-out", type=int, default=1418)
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--minutes", type=float, default=8.0)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--classifier-epochs", type=int, default=3)
    ap.add_argument("--work", type=Path, default=Path("/tmp/ganlab-screen"))
    ap.add_argument("--cond", action="store_true", help="train on the tags and score cond_acc too")
    ap.add_argument("--curve", type=float, metavar="MIN",
                    help="also score the checkpoint nearest each multiple of MIN training minutes "
                         "(the candidates need train.minutes)")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    split = heldout.split_folder(args.data, args.work, args.held_out, args.labels)
    args.train_tags = split["train_tags"]
    metrics, rows = (METRICS + ["cond_acc"], ROWS + cond_rows(split["train_tags"])) if args.cond else (METRICS, ROWS)
    clf = heldout.classifier(args.work, args.data, split["train_tags"], args.image_size, args.classifier_epochs,
                             {**os.environ})
    cands = []
    for c in args.candidates:
        name, _, sets = c.partition("=")
        for seed in (int(s) for s in args.seeds.split(",")):
            cands.append((name, shlex.split(sets), seed))
    todo = [c for c in cands if not (args.work / f"{c[0]}-s{c[2]}" / "screen.json").is_file()]
    cores = sorted(os.sched_getaffinity(0))[:2]
    for i in range(0, len(todo), len(cores)):
        group = todo[i:i + len(cores)]
        procs = [train_for(name, sets, args, split["train"], core, seed)
                 for (name, sets, seed), core in zip(group, cores)]
        time.sleep(args.minutes * 60)
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait()
        for name, sets, seed in group:
            run = args.work / f"{name}-s{seed}"
            scores = heldout.evaluate(run, split["heldout"], clf, metrics, args.n, seed)
            state = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
            out = {"name": name, "sets": sets, "seed": seed, "iters": state.get("iter", 0) + 1,
                   "minutes": args.minutes, **scores}
            (run / "screen.json").write_text(json.dumps(out, indent=1))
            print(f"{name} s{seed}: " + ", ".join(f"{k} {out.get(k, float('nan')):.4g}" for k in ["iters", *rows]),
                  flush=True)
    if args.curve:
        curves = {(name, seed): curve(args.work / f"{name}-s{seed}", args.curve, split["heldout"], clf, metrics,
                                      args.n, seed)
                  for name, sets, seed in cands}
        pictures(args.work, curves, [m for m in ("swd", "fid", "kid", "recall", "coverage") if m in rows],
                 f"{args.data.name}, {args.image_size}x{args.image_size}, one core each, n={args.n} vs {args.held_out} "
                 "held-out images")
        print(f"\nscores along the way (the checkpoint nearest every {args.curve:g} min; pictures: "
              f"{args.work / 'curve.png'}, {args.work / 'curve-samples.jpg'})")
        print(f"{'candidate':<14}{'seed':>5}{'min':>7}" + "".join(f"{short(m):>10}" for m in rows))
        for (name, seed), points in curves.items():
            for r in points:
                print(f"{name:<14}{seed:>5}{r['minutes']:>7.1f}" + "".join(f"{r.get(m, float('nan')):>10.4g}"
                                                                          for m in rows))
    print(f"\n{args.minutes:g} min on one core each, {args.image_size}x{args.image_size}, n={args.n} vs "
          f"{args.held_out} held-out images")
    print(f"{'candidate':<14}{'seed':>5}{'iters':>7}" + "".join(f"{short(m):>10}" for m in rows))
    results = {}
    for name, sets, seed in cands:
        r = json.loads((args.work / f"{name}-s{seed}" / "screen.json").read_text())
        results.setdefault(name, []).append(r)
        print(f"{name:<14}{seed:>5}{r['iters']:>7}" + "".join(f"{r.get(m, float('nan')):>10.4g}" for m in rows))
    if any(len(rs) > 1 for rs in results.values()):
        print("\nover the seeds: median [lowest, highest]")
        for name, rs in results.items():
            print(f"{name:<14}{len(rs):>4}s " + "  ".join(f"{short(m)} {spread([r.get(m) for r in rs])}"
                                                       for m in rows))


def curve(run: Path, every: float, heldout_dir: Path, clf: Path, metrics: list[str], n: int,
          seed: int) -> list[dict]:
    """Scores of ``run``'s checkpoints (numbered, and the last) nearest each multiple of ``every`` training minutes
    up to where the run ended (as their budgets recorded), in order; cached in ``run/curve.json`` by checkpoint
    name and minutes (latest.pt moves on if the run is resumed)."""
    from ganlab.runs import checkpoint as ckpt
    cache = run / "curve.json"
    done = json.loads(cache.read_text()) if cache.is_file() else {}
    times = {}
    for path in [*sorted((run / "checkpoints").glob("epoch-*.pt")), run / "checkpoints" / "latest.pt"]:
        if not path.is_file():
            continue
        used = (ckpt.load(path).get("budget") or {}).get("used_s")
        if used is None:
            sys.exit(f"bench: {path} records no training time; give the candidates train.minutes for --curve")
        times[path] = used / 60
    if not times:
        sys.exit(f"bench: {run} has no checkpoints to score along the way")
    end = max(times.values())
    want = {min(times, key=lambda p: abs(times[p] - t)) for t in
            (every * k for k in range(1, round(end / every) + 1))}
    def key(path):
        return f"{path.name}@{times[path]:.2f}"

    for path in sorted(want, key=times.get):
        if key(path) not in done:
            scores = heldout.evaluate(run, heldout_dir, clf, metrics, n, seed, checkpoint=str(path))
            done[key(path)] = {"minutes": times[path], "checkpoint": path.name, **scores}
            cache.write_text(json.dumps(done, indent=1))
            print(f"{run.name} {path.stem} at {times[path]:.1f} min: "
                  + ", ".join(f"{k} {v:.4g}" for k, v in scores.items() if isinstance(v, (int, float))), flush=True)
    return sorted((done[key(p)] for p in want), key=lambda r: r["minutes"])


def pictures(work: Path, curves: dict, rows: list[str], title: str) -> None:
    """``work/curve.png``: each metric against the training minutes, a line per candidate; and
    ``work/curve-samples.jpg``: 16 samples (seed 0) of each candidate (rows) at each point (columns). ``curves``
    maps (name, seed) to ``curve``'s points of the run ``work/NAME-sSEED``."""
    import torch
    from torchvision.utils import make_grid

    import ganlab
    from ganlab.plots import plt, replacing
    fig, axes = plt.subplots(1, len(rows), figsize=(3.6 * len(rows), 3.2), squeeze=False)
    axes = axes[0]
    for ax, m in zip(axes, rows):
        for (name, seed), points in curves.items():
            ax.plot([r["minutes"] for r in points], [r[m] for r in points], "o-", label=f"{name} s{seed}")
        ax.set_title(m)
        ax.set_xlabel("training minutes")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with replacing(work / "curve.png") as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)
    cols = max(len(points) for points in curves.values())
    fig, axes = plt.subplots(len(curves), cols, figsize=(2.6 * cols, 2.8 * len(curves)), squeeze=False)
    for row, ((name, seed), points) in zip(axes, curves.items()):
        for ax, r in zip(row, points):
            with torch.no_grad():
                images = ganlab.load(work / f"{name}-s{seed}", r["checkpoint"]).sample(16, seed=0)
            ax.imshow(make_grid(images, nrow=4, padding=1).permute(1, 2, 0).numpy())
            ax.set_title(f"{name}, {r['minutes']:.1f} min", fontsize=9)
        for ax in row:
            ax.axis("off")
    fig.tight_layout()
    with replacing(work / "curve-samples.jpg") as tmp:
        fig.savefig(tmp, dpi=90, format="jpg")
    plt.close(fig)


def cond_rows(labels: Path) -> list[str]:
    """cond_acc rows for each attribute of a tags CSV, each followed by its shuffled control."""
    import csv
    with open(labels, newline="") as f:
        names = [c for c in next(csv.reader(f)) if c != "file"]
    return [r for a in names for r in (f"cond_acc/{a}", f"cond_acc/{a}/shuffled")]


def spread(values: list) -> str:
    """``median [lowest, highest]`` of the seeds' values of one score (those that have it)."""
    import statistics
    vs = [v for v in values if isinstance(v, (int, float))]
    if not vs:
        return "-"
    return f"{statistics.median(vs):.4g} [{min(vs):.4g}, {max(vs):.4g}]"


def short(row: str) -> str:
    return row.replace("cond_acc/", "").replace("/shuffled", "~shuf")


if __name__ == "__main__":
    main()
