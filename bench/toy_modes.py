"""Mode coverage on the standard 2-D benchmarks (ring of 8 and grid of 25 Gaussians), over seeds, beside the
published rows (PacGAN, Lin et al. 2018, after VEEGAN; 2,500 samples; a sample is high quality within 3
standard deviations of its nearest mode; a mode counts once it has one high-quality sample).

    python bench/toy_modes.py [--recipes toy-ring8,toy-grid25] [--seeds 0,1,2,3,4] [--n 2500]
        [--set KEY=VALUE ...] [--tag NAME] [--work /tmp/ganlab-toy-modes] [--jobs 1]

Each (recipe, seed) trains as its own process (``ganlab train --recipe R --set train.seed=S``) and is scored
with ``ganlab eval RUN --metrics toy --n 2500``. The table gives the mean and the range over seeds of the
modes captured, the high-quality share and the reverse KL, and the CPU-seconds of one run. ``--set`` changes
every run (to try an option); ``--tag`` names such a variant so its runs stay apart in ``--work``. Finished
runs are reused, so adding a seed only trains that seed.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# the published rows the issue quotes: (method, modes, high-quality %, reverse KL); PacGAN (Lin et al. 2018)
# Tables 2-3, following VEEGAN's protocol
PUBLISHED = {
    "ring8": [("GAN", 6.3, 98.2, 0.45), ("PacGAN2", 7.9, 95.6, 0.07)],
    "grid25": [("GAN", 17.3, 94.8, 0.70), ("PacGAN4", 24.8, 93.6, 0.04)],
}


def run_one(work: Path, recipe: str, seed: int, sets: list[str], n: int) -> dict:
    out = work / f"{recipe}-s{seed}"
    done = out / "bench-toy.json"
    if done.is_file():
        return json.loads(done.read_text())
    cmd = [sys.executable, "-m", "ganlab", "train", "--recipe", recipe, "--out", str(out),
           "--set", f"train.seed={seed}", "--set", "train.progress=false", "--set", "train.tensorboard=false"]
    for s in sets:
        cmd += ["--set", s]
    log = work / f"{recipe}-s{seed}.log"
    t0, c0 = time.perf_counter(), _children_cpu()
    with open(log, "wb") as fh:
        subprocess.run(cmd, check=True, stdout=fh, stderr=subprocess.STDOUT)
    wall, cpu = time.perf_counter() - t0, _children_cpu() - c0
    with open(log, "ab") as fh:
        subprocess.run([sys.executable, "-m", "ganlab", "eval", str(out), "--metrics", "toy", "--n", str(n)],
                       check=True, stdout=fh, stderr=subprocess.STDOUT)
    rows = {}
    for line in (out / "eval.jsonl").read_text().splitlines():
        r = json.loads(line)
        rows[r["metric"]] = r["value"]
    res = {"modes": rows["toy/modes"], "high_quality": rows["toy/high_quality"],
           "reverse_kl": rows["toy/reverse_kl"], "wall": wall, "cpu": cpu}
    done.write_text(json.dumps(res))
    return res


def _children_cpu() -> float:
    import resource
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def summary(vals: list[float], fmt: str) -> str:
    m = statistics.mean(vals)
    return f"{fmt.format(m)} ({fmt.format(min(vals))}-{fmt.format(max(vals))})"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--recipes", default="toy-ring8,toy-grid25")
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--n", type=int, default=2500)
    ap.add_argument("--set", action="append", default=[], dest="sets")
    ap.add_argument("--tag", default=None, help="name of this variant (default: the --set values)")
    ap.add_argument("--work", default="/tmp/ganlab-toy-modes")
    ap.add_argument("--jobs", type=int, default=1, help="runs at a time")
    args = ap.parse_args(argv)
    tag = args.tag or ("-".join(s.replace("=", "").replace(".", "_") for s in args.sets) or "default")
    work = Path(args.work) / tag
    work.mkdir(parents=True, exist_ok=True)
    seeds = [int(s) for s in args.seeds.split(",")]
    recipes = args.recipes.split(",")
    jobs = [(r, s) for r in recipes for s in seeds]
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        results = list(pool.map(lambda rs: run_one(work, rs[0], rs[1], args.sets, args.n), jobs))
    by = {}
    for (r, s), res in zip(jobs, results):
        by.setdefault(r, []).append(res)
    print(f"variant: {tag}  ({' '.join('--set ' + s for s in args.sets) or 'recipe defaults'}); "
          f"seeds {args.seeds}; {args.n} samples; mean (min-max)")
    print(f"{'recipe':<12} {'modes':>16} {'high quality %':>20} {'reverse KL':>22} {'CPU s/run':>10}")
    for r, rs in by.items():
        k = {"toy-ring8": 8, "toy-grid25": 25}.get(r)
        print(f"{r:<12} {summary([x['modes'] for x in rs], '{:.1f}'):>16} "
              f"{summary([100 * x['high_quality'] for x in rs], '{:.1f}'):>20} "
              f"{summary([x['reverse_kl'] for x in rs], '{:.3f}'):>22} "
              f"{statistics.median(x['cpu'] for x in rs):>10.0f}" + (f"   of {k}" if k else ""))
    (work / "summary.json").write_text(json.dumps({"sets": args.sets, "seeds": seeds, "runs": {
        f"{r}-s{s}": res for (r, s), res in zip(jobs, results)}}, indent=1))
    for name in ("ring8", "grid25"):
        if any(name in r for r in recipes):
            print(f"published ({name}, PacGAN Tables 2-3): " + "; ".join(
                f"{a} {m} / {hq}% / {kl}" for a, m, hq, kl in PUBLISHED[name]))


if __name__ == "__main__":
    main()
