"""Adaptive discriminator augmentation on small data sets: the same recipe with and without ``tricks.ada``, trained
side by side for the same minutes (``--minutes``, one core and one thread each) on the first ``--size`` images of a
shuffled set, and scored on ``--held-out`` images that neither side trained on.

    python bench/ada.py --data ../shared/data/celeba-10k --size 500 --classifier clf-celeba32.pt \\
        [--held-out 1000] [--minutes 6] [--recipe fast32] [--image-size 32] [--n 1000] [--work /tmp/ganlab-ada] \\
        [--seeds 0,1,2] [--ada-set tricks.ada_heuristic=rv] [--tail 5]

Each seed fixes a split (a shuffle of the set's files; the held-out images are the shuffle's last ones) and both
runs' seeds; the parts are folders of links in ``--work``. With several seeds the pairs run one after the other,
and the last lines give the median ratio with / without ADA and its range over the seeds: one 6-minute pair says
more about where each run happened to stop than about ADA (docs: the full sets' rows). Pairs already trained and
scored in ``--work`` are reused; a pair with a side that did not finish its minutes (killed) is trained again,
both sides. Each side is ``ganlab train --recipe R --minutes M`` (the time budget), pinned to its own core with
OMP_NUM_THREADS=1; then ``ganlab eval`` scores it against the held-out folder: FID in the classifier's features
(a ``ganlab train-classifier`` file; a feature space, not a judge of the attributes) and SWD (no features).
Prints one row per side and the ratio with / without ADA, and the final p. ``--tail 5`` also scores each side's
numbered checkpoints from the last 5 minutes of its training and compares the medians over them and the end: one
end point of a short run says much about where it happened to stop.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ganlab.data.images import list_images  # noqa: E402


def image_root(data: Path) -> Path:
    return data / "img_align_celeba" if (data / "img_align_celeba").is_dir() else data


def link_folder(files: list[Path], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for f in files:
        link = folder / f.name
        if not link.exists():
            link.symlink_to(f)
    return folder


def last_rows(run: Path, checkpoint: str = "latest.pt") -> dict:
    """{metric: value} of the newest eval.jsonl records of ``checkpoint`` (a file name in RUN/checkpoints)."""
    out = {}
    for line in (run / "eval.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if isinstance(rec.get("metric"), str) and Path(rec.get("checkpoint", "latest.pt")).name == checkpoint:
            out[rec["metric"]] = rec["value"]
    return out


def tail_checkpoints(run: Path, start_s: float) -> list[tuple[str, float]]:
    """(file name, training seconds) of the numbered checkpoints of ``run`` written after ``start_s`` seconds of
    its training (as its budget recorded them), oldest first."""
    from ganlab.runs import checkpoint as ckpt
    used = [(p.name, (ckpt.load(p).get("budget") or {}).get("used_s"))
            for p in sorted((run / "checkpoints").glob("epoch-*.pt"))]
    return [(name, u) for name, u in used if u is not None and u >= start_s]


def score(run: Path, held: Path, args, checkpoint: str, core: str) -> subprocess.Popen | None:
    """Start ``ganlab eval`` of ``checkpoint`` against the held-out folder, pinned to ``core`` with one thread,
    unless it is scored already."""
    if (run / "eval.jsonl").exists() and last_rows(run, checkpoint):
        return None
    which = "latest" if checkpoint == "latest.pt" else str(run / "checkpoints" / checkpoint)
    return subprocess.Popen(["taskset", "-c", core, sys.executable, "-m", "ganlab", "eval", str(run),
                             "--checkpoint", which, "--data",
                             str(held), "--metrics", "fid,swd", "--n", str(args.n), "--features",
                             f"classifier:{args.classifier}"], stdout=subprocess.DEVNULL,
                            env={**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--size", type=int, required=True, help="images to train on")
    ap.add_argument("--held-out", type=int, default=1000)
    ap.add_argument("--classifier", required=True)
    ap.add_argument("--minutes", type=float, default=6.0)
    ap.add_argument("--recipe", default="fast32")
    ap.add_argument("--image-size", type=int, default=32)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--cores", default="0,1")
    seeds = ap.add_mutually_exclusive_group()
    seeds.add_argument("--seeds", default="0", help="comma-separated: one pair per seed, and the medians over them")
    seeds.add_argument("--seed", type=int, help="one seed (the same as --seeds N)")
    ap.add_argument("--work", default="/tmp/ganlab-ada")
    ap.add_argument("--set", action="append", default=[], help="more settings for both sides")
    ap.add_argument("--tail", type=float, default=0.0,
                    help="minutes: also score each side's numbered checkpoints from the last MINUTES of its training, "
                         "and compare the medians over them and the end")
    ap.add_argument("--ada-set", action="append", default=[],
                    help="more settings for the ADA side only, e.g. tricks.ada_heuristic=rv")
    args = ap.parse_args()
    seeds = [args.seed] if args.seed is not None else [int(x) for x in args.seeds.split(",")]
    ratios = {"fid": [], "swd": []} | ({"fid_median": [], "swd_median": []} if args.tail else {})
    for seed in seeds:
        a, b = pair(args, seed)
        for k in ratios:
            ratios[k].append(a[k] / b[k])
    if len(seeds) > 1:
        print(f"\nover seeds {', '.join(map(str, seeds))}: ADA / none, median [lowest, highest]")
        for k, rs in ratios.items():
            name = k.upper().replace("_MEDIAN", " (median over the checkpoints)")
            print(f"{name}: {statistics.median(rs):.2f}x [{min(rs):.2f}, {max(rs):.2f}] "
                  f"({', '.join(f'{r:.2f}' for r in rs)})")


def finished(run: Path, minutes: float) -> bool:
    """Whether ``run`` trained for its whole budget of ``minutes``: its latest checkpoint says the deadline
    stopped it. (A side killed halfway also leaves a latest.pt, which must not be scored as a finished side.)"""
    latest = run / "checkpoints" / "latest.pt"
    if not latest.exists():
        return False
    from ganlab.runs import checkpoint as ckpt
    spent = ckpt.load(latest).get("budget") or {}
    return spent.get("stopped_at") is not None and math.isclose(spent.get("minutes") or 0.0, minutes)


def pair(args, seed: int) -> tuple[dict, dict]:
    """Train and score one seed's pair (or read it back); print its table; return the two sides' rows."""
    data = Path(args.data)
    root = image_root(data)
    files = sorted(root / rel for rel, _ in list_images(root))
    random.Random(seed).shuffle(files)
    if args.size + args.held_out > len(files):
        raise SystemExit(f"{data} has {len(files)} images: too few for {args.size} + {args.held_out}")
    work = Path(args.work) / f"{data.name}-{args.size}-seed{seed}"
    train_dir = link_folder(files[:args.size], work / "train")
    held = link_folder(files[-args.held_out:], work / "held-out")
    cores = args.cores.split(",")
    procs, t0 = {}, time.time()
    done = [finished(work / side, args.minutes) for side in ("ada", "none")]
    if not all(done):  # both sides train again, side by side, so that they share the machine alike
        for side, d in zip(("ada", "none"), done):
            if (work / side).exists():
                print(f"{work / side}: {'finished' if d else 'not finished'}; trained again with the other side")
                shutil.rmtree(work / side)
    for side, core in zip(("ada", "none"), [] if all(done) else cores):
        run = work / side
        cmd = ["taskset", "-c", core, sys.executable, "-m", "ganlab", "train", "--recipe", args.recipe,
               "--data", str(train_dir), "--image-size", str(args.image_size), "--minutes", str(args.minutes),
               "--seed", str(seed), "--set", "train.progress=false", "--set", f"tricks.ada={side == 'ada'}",
               "--set", "train.on_failure=warn",  # both sides train for the whole time; findings are reported
               "--out", str(run)]
        for s in args.set + (args.ada_set if side == "ada" else []):
            cmd += ["--set", s]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        procs[side] = subprocess.Popen(cmd, env=env, stdout=open(work / f"{side}.log", "w"), stderr=subprocess.STDOUT)
    for side, p in procs.items():
        if p.wait() != 0:
            raise SystemExit(f"the {side} run failed: see {work / f'{side}.log'}")
    # the final states, and the numbered checkpoints of the last --tail minutes, scored two at a time (a core each)
    jobs = [(work / side, "latest.pt", None) for side in ("ada", "none")]
    if args.tail:
        jobs += [(work / side, *c) for side in ("ada", "none")
                 for c in tail_checkpoints(work / side, 60 * (args.minutes - args.tail))]
    for i in range(0, len(jobs), len(cores)):
        started = [score(run, held, args, name, core) for (run, name, _), core in zip(jobs[i:i + len(cores)], cores)]
        if any(p is not None and p.wait() != 0 for p in started):
            raise SystemExit(f"scoring failed in {work}")
    rows = {}
    for side in ("ada", "none"):
        run = work / side
        from ganlab.runs import checkpoint as ckpt
        from ganlab.runs.folder import RunDir
        folder = RunDir(run)
        state = ckpt.load(folder.latest)
        ada = state["method_state"].get("ada")
        found = [f["kind"] for f in folder.findings()]
        rows[side] = {**last_rows(run), "g_steps": state["method_state"]["g_steps"], "health": found,
                      "p": float(ada["p"]) if ada else None, "used_s": (state.get("budget") or {}).get("used_s")}
    print(f"{data.name}: {args.size} training images, {args.held_out} held out, seed {seed}; {args.recipe} at "
          f"{args.image_size}x{args.image_size}, {args.minutes:g} minutes each on one core ({time.time() - t0:.0f} s)")
    print("| side | FID (classifier) | SWD | G steps | final p | health |")
    print("|---|---|---|---|---|---|")
    for side, r in rows.items():
        p = "-" if r["p"] is None else f"{r['p']:.2f}"
        health = ", ".join(r["health"]) or "none"
        print(f"| {side} | {r['fid']:.2f} | {r['swd']:.2f} | {r['g_steps']} | {p} | {health} |")
    a, b = rows["ada"], rows["none"]
    print(f"ADA / none: FID {a['fid'] / b['fid']:.2f}x, SWD {a['swd'] / b['swd']:.2f}x", flush=True)
    if args.tail:  # the same at the checkpoints of the last minutes, and the median of each side over them and the end
        for side in ("ada", "none"):
            at = [(name, used, last_rows(run, name)) for run, name, used in jobs
                  if run.name == side and name != "latest.pt"]
            rows[side]["at"] = [{"checkpoint": n, "used_s": u, **r} for n, u, r in at]
            for k in ("fid", "swd"):
                rows[side][f"{k}_median"] = statistics.median([r[k] for *_, r in at] + [rows[side][k]])
            print(f"{side}: " + "; ".join(f"{u / 60:.1f} min ({n}): FID {r['fid']:.2f}, SWD {r['swd']:.2f}"
                                          for n, u, r in at))
        print(f"ADA / none, medians over the last {args.tail:g} minutes' checkpoints and the end: "
              f"FID {a['fid_median'] / b['fid_median']:.2f}x, SWD {a['swd_median'] / b['swd_median']:.2f}x",
              flush=True)
    (work / "ada.json").write_text(json.dumps({"args": {**vars(args), "seed": seed}, "rows": rows}, indent=1))
    return a, b


if __name__ == "__main__":
    main()
