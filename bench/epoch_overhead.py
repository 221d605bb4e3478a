"""How much of a training run is spent outside the train step: sample grids, the loss plot, checkpoints,
evaluation and the metrics log, against the steps themselves.

    python bench/epoch_overhead.py [--cases digits,toy,faces64] [--rounds 1] [--before /tmp/wt-old]

Each measurement is a whole ``ganlab train`` process (``--child``), with the run's own defaults:

    digits   ganlab train --out RUN                                   (DCGAN 32x32 on the built-in digits, 25 epochs)
    toy      ganlab train --recipe toy-ring8 --epochs 100 --out RUN   (MLP GAN on 8 Gaussians, 100 epochs of 19 steps)
    faces64  ganlab train --data ANIME --image-size 64 --limit 1000 --epochs 3 --out RUN

(``train.progress=false`` in all three, so no bar is drawn into the pipe.) Inside the process the trainer's
methods are wrapped with timers from outside (the same wrappers on any version of the loop, so an older commit
is measured the same way): ``train_step`` and the batch it is given are "steps"; ``end_of_epoch_outputs``
(sample grid, loss plot, TensorBoard image) is split into the loss plot (``plots.plot_losses``) and the rest
("samples"); ``save_checkpoint`` is "checkpoints" (the state's serialisation, the numbered copy, the metric flush
it does first); ``maybe_evaluate`` "eval"; ``flush`` the metrics log. Each timer counts its own time only (a
flush inside a checkpoint is the checkpoint's). "outside" is the share of the trainer's run (``Trainer._fit``) that
is not steps. ``--before PATH`` also measures the ganlab tree at PATH (e.g. a git worktree of an older commit,
put first on PYTHONPATH; ``--after`` is this tree by default) in the same rounds, alternating, and prints the ratios; ratios, not absolute times,
are what carry over between machines and loads.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ANIME = REPO.parent / "shared" / "data" / "anime-faces" / "images"
QUIET = ["--set", "train.progress=false"]
CASES = {
    "digits": [],
    "toy": ["--recipe", "toy-ring8", "--epochs", "100"],
    "faces64": ["--data", str(ANIME), "--image-size", "64", "--limit", "1000", "--epochs", "3"],
}
PARTS = ("steps", "samples", "plot", "checkpoints", "eval", "metrics log")


class Timers:
    """Exclusive wall time per name: a timed call inside another timed call is taken out of the outer one."""

    def __init__(self):
        self.total: dict[str, float] = {}
        self.inclusive: dict[str, float] = {}  # with the timed calls inside (the trainer's whole run)
        self.calls: dict[str, int] = {}
        self.stack: list[list] = []  # [name, start, time of timed children]

    def wrap(self, name, fn):
        def timed(*a, **k):
            self.stack.append([name, time.perf_counter(), 0.0])
            try:
                return fn(*a, **k)
            finally:
                _, start, inner = self.stack.pop()
                spent = time.perf_counter() - start
                self.total[name] = self.total.get(name, 0.0) + spent - inner
                self.inclusive[name] = self.inclusive.get(name, 0.0) + spent
                self.calls[name] = self.calls.get(name, 0) + 1
                if self.stack:
                    self.stack[-1][2] += spent
        return timed


def child(case: str, out: str) -> None:
    from ganlab.cli import main
    from ganlab.train import loop

    t = Timers()
    T = loop.Trainer
    init = T.__init__

    def patched_init(self, *a, **k):
        init(self, *a, **k)
        self.method.train_step = t.wrap("steps", self.method.train_step)

    T.__init__ = patched_init
    T.batch = t.wrap("steps", T.batch)
    T._fit = t.wrap("fit", T._fit)
    T.end_of_epoch_outputs = t.wrap("samples", T.end_of_epoch_outputs)
    T.save_checkpoint = t.wrap("checkpoints", T.save_checkpoint)
    T.maybe_evaluate = t.wrap("eval", T.maybe_evaluate)
    T.flush = t.wrap("metrics log", T.flush)
    loop.plots.plot_losses = t.wrap("plot", loop.plots.plot_losses)
    rc = main(["train", *CASES[case], *QUIET, "--out", out])
    times = {**t.total, "fit": t.inclusive["fit"]}
    print("BENCH " + json.dumps({"rc": rc, "times": times, "calls": t.calls, "ganlab": loop.__file__}))


def measure(case: str, tree: Path, work: Path) -> dict:
    out = Path(tempfile.mkdtemp(prefix=f"{case}-", dir=work)) / "run"
    env = dict(os.environ)  # the tree measured comes first on the path (this one by default)
    env["PYTHONPATH"] = os.pathsep.join([str(tree), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    start = time.perf_counter()
    p = subprocess.run([sys.executable, __file__, "--child", case, "--out", str(out)], env=env,
                       capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    line = next((x for x in p.stdout.splitlines() if x.startswith("BENCH ")), None)
    if p.returncode or line is None:
        sys.exit(f"{case} ({tree}) failed with status {p.returncode}:\n{p.stderr[-3000:]}")
    r = json.loads(line[6:])
    r["wall"] = wall
    r["files"] = {"checkpoints": len(list((out / "checkpoints").glob("*.pt"))),
                  "grids": len(list((out / "samples").glob("*.png")))}
    loop_log = [x for x in p.stdout.splitlines() if x.startswith("time:")]  # the loop's own breakdown, if any
    r["loop_log"] = loop_log[-1] if loop_log else None
    shutil.rmtree(out.parent, ignore_errors=True)
    return r


def outside(r: dict) -> float:
    return 1 - r["times"].get("steps", 0.0) / r["times"]["fit"]


def show(label: str, r: dict) -> str:
    fit = r["times"]["fit"]
    parts = "  ".join(f"{k} {r['times'].get(k, 0.0):.1f}" for k in PARTS)
    other = fit - sum(r["times"].get(k, 0.0) for k in PARTS)
    return (f"  {label:<7} process {r['wall']:6.1f} s  trainer {fit:6.1f} s  outside the step {100 * outside(r):5.1f}%"
            f"   [{parts}  other {other:.1f}]  files: {r['files']['checkpoints']} checkpoints, "
            f"{r['files']['grids']} grids")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default="digits,toy,faces64")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--before", type=Path, help="an older ganlab tree to measure alongside (put on PYTHONPATH)")
    ap.add_argument("--after", type=Path, default=REPO, help="the ganlab tree measured (default: this one)")
    ap.add_argument("--child", choices=sorted(CASES), help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child, args.out)
    cases = args.cases.split(",")
    bad = [c for c in cases if c not in CASES]
    if bad:
        ap.error(f"--cases: unknown {bad}; choose from {', '.join(CASES)}")
    if "faces64" in cases and not ANIME.is_dir():
        print(f"skipping faces64: {ANIME} is absent")
        cases.remove("faces64")
    after = args.after.resolve()
    trees = {"after": after} if args.before is None else {"before": args.before.resolve(), "after": after}
    work = Path(tempfile.mkdtemp(prefix="ganlab-epoch-overhead-"))
    results: dict = {(c, k): [] for c in cases for k in trees}
    try:
        for rnd in range(args.rounds):
            for case in cases:
                order = list(trees) if rnd % 2 == 0 else list(reversed(trees))  # swap places every round
                for key in order:
                    r = measure(case, trees[key], work)
                    results[case, key].append(r)
                    print(f"round {rnd + 1} {case}:", file=sys.stderr)
                    print(show(key, r), file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{args.rounds} round(s); medians per case")
    for case in cases:
        print(f"{case}: ganlab train {' '.join(CASES[case] + QUIET)}")
        med = {}
        for key in trees:
            rs = results[case, key]
            r = sorted(rs, key=outside)[len(rs) // 2]
            med[key] = r
            print(show(key, r))
            if r["loop_log"]:
                print(f"           the run's own line: {r['loop_log']}")
        if "before" in med:
            b, a = med["before"], med["after"]
            wb = statistics.median(x["wall"] for x in results[case, "before"])
            wa = statistics.median(x["wall"] for x in results[case, "after"])
            print(f"  after/before: process wall {wa / wb:.2f}x, outside-the-step time "
                  f"{(a['times']['fit'] - a['times'].get('steps', 0)) / (b['times']['fit'] - b['times'].get('steps', 0)):.2f}x, "
                  f"share {100 * outside(b):.1f}% -> {100 * outside(a):.1f}%")


if __name__ == "__main__":
    main()
