"""The two data paths of training: the decoded set held in memory (data.loading=memory) against batches streamed
from the memory-mapped cache by a read-ahead thread (data.loading=stream).

    python bench/data_paths.py [--data ../shared/data/anime-faces/images] [--size 128] [--steps 12] [--batch 32]

Each measurement is a whole process (``--child``) that trains a DCGAN for ``--steps`` steps on the folder at
``--size`` (the first run decodes it once into ~/.cache/ganlab; that is done before anything is timed), and
reports its images/s (from the 4th step on: the interval between the starts of consecutive steps, which holds
the batch's gathering too), how long the trainer took to start (data load and model build) and its peak
resident memory (VmHWM). The paths
alternate within each round (and swap places every round), so a change in the machine's load hits both alike.
Skips (exit 0) when the folder is absent.
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
DEFAULT_DATA = REPO.parent / "shared" / "data" / "anime-faces" / "images"
WARMUP = 3  # steps not timed (allocator and oneDNN warm-up)


def status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def config(args, loading: str):
    from ganlab.experiment import load_experiment
    values = {"data.source": str(args.data), "data.image_size": args.size, "data.loading": loading,
              "model.g_width": args.width, "model.d_width": args.width, "train.batch_size": args.batch,
              "train.steps": args.steps, "train.epochs": 10 ** 6, "train.progress": False,
              "train.tensorboard": False, "train.n_samples": 16, "train.device": args.device}
    return load_experiment("dcgan", args.set, values)


def child(args) -> None:
    """One measurement, printed as a JSON line."""
    sys.path.insert(0, str(REPO))
    cfg = config(args, "memory" if args.child == "prepare" else args.child)
    if args.child == "prepare":  # decode into the cache (the timed processes then only read it)
        from ganlab.data import load_dataset
        t = time.perf_counter()
        ds = load_dataset(cfg.data, progress=True)
        print(json.dumps({"items": len(ds), "seconds": time.perf_counter() - t}))
        return
    from ganlab.runs.folder import RunDir
    from ganlab.train import Trainer
    out = Path(tempfile.mkdtemp(prefix="ganlab-bench-"))
    lines: list[str] = []
    try:
        t = time.perf_counter()
        trainer = Trainer(cfg, RunDir(out / "run"), log=lambda *a: lines.append(" ".join(map(str, a))))
        load_s = time.perf_counter() - t
        starts: list[float] = []
        step = trainer.method.train_step

        def timed(batch):
            starts.append(time.perf_counter())
            return step(batch)

        trainer.method.train_step = timed
        trainer.fit()
    finally:
        shutil.rmtree(out, ignore_errors=True)
    timed_steps = starts[WARMUP:]
    ips = args.batch * (len(timed_steps) - 1) / (timed_steps[-1] - timed_steps[0])
    print(json.dumps({"images_per_s": ips, "load_s": load_s, "peak_rss_mib": status_kib("VmHWM") / 1024,
                      "file_rss_mib": status_kib("RssFile") / 1024,
                      "data_line": next((x for x in lines if x.startswith("data:")), ""),
                      "precision": next((x for x in lines if x.startswith("precision:")), "")}))


def run_child(args, what: str) -> dict:
    cmd = [sys.executable, __file__, "--child", what, "--data", str(args.data), "--size", str(args.size),
           "--steps", str(args.steps), "--batch", str(args.batch), "--width", str(args.width),
           "--device", args.device] + [x for s in args.set for x in ("--set", s)]
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=None if what == "prepare" else subprocess.PIPE,
                          text=True, env=env)
    if done.returncode != 0:
        sys.exit(f"the {what} process failed ({done.returncode}):\n{done.stderr or ''}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="an image folder (default: the anime faces)")
    ap.add_argument("--size", type=int, default=128, help="data.image_size")
    ap.add_argument("--steps", type=int, default=12, help="training steps per process (the first 3 untimed)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of one process per path")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--width", type=int, default=32, help="model.g_width and model.d_width")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="any other setting")
    ap.add_argument("--child", choices=("prepare", "memory", "stream"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.steps < WARMUP + 2:
        ap.error(f"--steps must be at least {WARMUP + 2}")
    if args.child:
        return child(args)
    if not args.data.is_dir():
        print(f"skipped: {args.data} is not there (give --data FOLDER)")
        return
    prep = run_child(args, "prepare")
    print(f"{args.data}: {prep['items']} images at {args.size}x{args.size}, cache ready in {prep['seconds']:.1f} s; "
          f"DCGAN width {args.width}, batch {args.batch}, {args.steps} steps per process, {args.rounds} rounds")
    results: dict[str, list[dict]] = {"memory": [], "stream": []}
    for r in range(args.rounds):
        for path in (("memory", "stream") if r % 2 == 0 else ("stream", "memory")):
            res = run_child(args, path)
            results[path].append(res)
            print(f"  round {r + 1} {path:6s} {res['images_per_s']:6.1f} img/s  start {res['load_s']:5.2f} s  "
                  f"peak RSS {res['peak_rss_mib']:6.0f} MiB", flush=True)
    print(f"\n{results['memory'][0]['precision']}")
    for path in results:
        print(results[path][0]["data_line"])
    print("\n| data.loading | images/s, median (min-max) | start (load + build), median | peak RSS, median (min-max) |")
    print("|---|---|---|---|")
    for path, rs in results.items():
        ips, rss = [x["images_per_s"] for x in rs], [x["peak_rss_mib"] for x in rs]
        print(f"| {path} | {statistics.median(ips):.1f} ({min(ips):.1f}-{max(ips):.1f}) | "
              f"{statistics.median(x['load_s'] for x in rs):.2f} s | "
              f"{statistics.median(rss):.0f} MiB ({min(rss):.0f}-{max(rss):.0f}) |")
    m = statistics.median(x["images_per_s"] for x in results["memory"])
    s = statistics.median(x["images_per_s"] for x in results["stream"])
    print(f"\nstream / memory: {s / m:.2f}x images/s")


if __name__ == "__main__":
    main()
