"""Does bfloat16 training cost quality? DCGAN trained with train.precision=fp32 and =bf16 from the same seeds
for the same number of steps, scored on held-out images.

    python bench/precision_quality.py [--data ../shared/data/anime-faces/images
        --labels ../shared/data/anime-faces/tags.csv] [--steps 3000] [--seeds 0,1,2] [--width 64]
        [--image-size 64] [--n 5000] [--work /tmp/ganlab-precision-quality]

The folder is split once into a training part and ``--held-out`` images that no model sees. A feature
classifier is trained once on the training part's tags (``ganlab train-classifier``). Each (precision, seed)
trains as its own process for ``--steps`` generator steps and is scored against the held-out images with SWD
(no features) and FID / KID in the classifier's features. The table gives each precision's mean and spread
(sample standard deviation over seeds) and the difference of the means in units of the seed spread; the
training images' own scores against the held-out ones are the floor. Runs, the split and the classifier
stay in ``--work``, so a second call only does what is missing (e.g. after adding a seed).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import heldout  # noqa: E402

METRICS = ["swd", "fid", "kid"]


def train_run(out: Path, train: Path, args, precision: str, seed: int, env: dict) -> float:
    """Train (or find trained) one run; its training wall time in seconds."""
    done = out / "bench-done.json"
    if done.is_file():
        return json.loads(done.read_text())["seconds"]
    cmd = [sys.executable, "-m", "ganlab", "train", "--data", str(train), "--image-size", str(args.image_size),
           "--batch-size", str(args.batch_size), "--epochs", "100000", "--out", str(out),
           "--set", f"train.steps={args.steps}", "--set", f"train.precision={precision}",
           "--set", f"train.seed={seed}", "--set", f"model.g_width={args.width}",
           "--set", f"model.d_width={args.width}", "--set", "train.progress=false",
           "--set", "train.tensorboard=false", "--set", "train.checkpoint_every=100000"]
    if out.exists():  # cut short before: continue it
        cmd = [sys.executable, "-m", "ganlab", "train", "--resume", str(out)]
    t = time.perf_counter()
    with open(out.parent / f"{out.name}.log", "ab") as log:
        subprocess.run(cmd, check=True, env=env, stdout=log, stderr=subprocess.STDOUT)
    secs = time.perf_counter() - t
    done.write_text(json.dumps({"seconds": secs}))
    return secs


def spread(v: list[float]) -> float:
    return statistics.stdev(v) if len(v) > 1 else float("nan")


def main():
    shared = REPO.parent / "shared" / "data" / "anime-faces"
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(shared / "images"))
    ap.add_argument("--labels", default=str(shared / "tags.csv"), help="tags CSV for the feature classifier")
    ap.add_argument("--held-out", type=int, default=1418)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--n", type=int, default=5000, help="generated samples per evaluation")
    ap.add_argument("--classifier-epochs", type=int, default=3)
    ap.add_argument("--work", default="/tmp/ganlab-precision-quality")
    args = ap.parse_args()
    images, labels, work = Path(args.data), Path(args.labels), Path(args.work)
    if not images.is_dir() or not labels.is_file():
        sys.exit(f"bench: needs an image folder and its tags CSV (got {images}, {labels})")
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ}
    split = heldout.split_folder(images, work, args.held_out, labels)
    clf = heldout.classifier(work, images, split["train_tags"], args.image_size, args.classifier_epochs, env)
    seeds = [int(s) for s in args.seeds.split(",")]
    runs = work / f"runs-{args.image_size}-w{args.width}-s{args.steps}"
    runs.mkdir(exist_ok=True)
    results = {p: [] for p in ("fp32", "bf16")}
    for seed in seeds:
        for prec in ("fp32", "bf16"):
            out = runs / f"{prec}-seed{seed}"
            secs = train_run(out, split["train"], args, prec, seed, env)
            scores_path = out / f"bench-scores-n{args.n}.json"
            if scores_path.is_file():
                scores = json.loads(scores_path.read_text())
            else:
                scores = heldout.evaluate(out, split["heldout"], clf, METRICS, args.n)
                scores_path.write_text(json.dumps(scores))
            results[prec].append({"seed": seed, "seconds": secs, **scores})
            print(f"{prec} seed {seed}: {secs / 60:5.1f} min training; "
                  + ", ".join(f"{k} {v:.4g}" for k, v in scores.items()), flush=True)
    base = heldout.floor(split["train"], split["heldout"], clf, METRICS, args.n, args.image_size)

    print(f"\nDCGAN {args.image_size}x{args.image_size} width {args.width}, batch {args.batch_size}, {args.steps} "
          f"steps, seeds {seeds}; {args.n} samples against {args.held_out} held-out images of {images}; "
          f"FID/KID in the features of {clf.name}")
    print(f"{'':<10}" + "".join(f"{m + ' mean ± sd':>22}" for m in METRICS) + f"{'train min':>12}")
    for prec, rows in results.items():
        cells = "".join(f"{statistics.mean(r[m] for r in rows):>13.4g} ± {spread([r[m] for r in rows]):<6.2g}"
                        for m in METRICS)
        print(f"{prec:<10}{cells}{statistics.mean(r['seconds'] for r in rows) / 60:>12.1f}")
    print(f"{'floor':<10}" + "".join(f"{base[m]:>13.4g}{'':9}" for m in METRICS)
          + "   (the training images against the held-out ones)")
    for m in METRICS:
        a = [r[m] for r in results["fp32"]]
        b = [r[m] for r in results["bf16"]]
        pooled = math.sqrt((spread(a) ** 2 + spread(b) ** 2) / 2) if len(seeds) > 1 else float("nan")
        diff = statistics.mean(b) - statistics.mean(a)
        print(f"{m}: bf16 - fp32 = {diff:+.4g} ({diff / pooled:+.2f} seed spreads; bf16/fp32 "
              f"{statistics.mean(b) / statistics.mean(a):.3f}x)")
    speed = statistics.mean(r["seconds"] for r in results["fp32"]) / statistics.mean(
        r["seconds"] for r in results["bf16"])
    print(f"training wall time fp32 / bf16: {speed:.2f}x")


if __name__ == "__main__":
    main()
