"""ganlab against the script students write: the pytorch/examples DCGAN, both as whole processes.

    python bench/vs_script.py --script PATH/TO/pytorch-examples/dcgan/main.py \
        [--data ../shared/data/anime-faces/images] [--n 3840] [--rounds 3] [--variants fp32,bf16,compile]

The script is not part of ganlab: clone https://github.com/pytorch/examples and give the path of
``dcgan/main.py``. Both train the same DCGAN (64x64, ngf = ndf = 64, batch 64, Adam 2e-4 / 0.5) for one
epoch of the first ``--n`` images of the folder. Each command is timed from its start to its exit (imports,
data loading, the model build, the compile if any, the end-of-epoch files) and the runs alternate in rounds,
in a rotating order, so that a change in the machine's load hits each alike. ganlab's data cache is made
once before the rounds (a user's second run on a folder finds it); its cold decode is timed and printed.

The ganlab variants: ``defaults`` (ganlab as it is shipped: train.precision=auto, which picks bf16 where the
hardware has it), ``fp32``, ``bf16`` and ``compile`` (bf16 with train.compile=true). The last lines give each
one's median wall time and the median of its per-round ratios against the script, and the share of the
machine's measured bfloat16 (and float32) matmul throughput that the model's FLOPs reach over the whole
process (a lower bound on what the step alone reaches).
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

VARIANTS = {
    "defaults": [],
    "fp32": ["--set", "train.precision=fp32"],
    "bf16": ["--set", "train.precision=bf16"],
    "compile": ["--set", "train.precision=bf16", "--set", "train.compile=true"],
}
EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def matmul_peak(dtype: torch.dtype, device: torch.device, n: int = 2048, reps: int = 10) -> float:
    """Measured matmul throughput in FLOP/s for ``dtype`` (best of a few timings)."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    for _ in range(2):
        a @ b
    best = float("inf")
    for _ in range(3):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(reps):
            a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 * reps / best


def link_images(src: Path, dst: Path, n: int) -> int:
    """The first ``n`` images of ``src`` (sorted by name) linked into ``dst/faces``: ImageFolder, which the
    script reads folders with, wants one subfolder per class."""
    files = sorted(p for p in src.iterdir() if p.suffix.lower() in EXTS)[:n]
    faces = dst / "faces"
    faces.mkdir(parents=True)
    for p in files:
        (faces / p.name).symlink_to(p.resolve())
    return len(files)


def run_timed(cmd: list[str], env: dict, log: Path) -> tuple[float, float, int]:
    """(wall seconds, peak RSS in MiB of the process, exit status) of ``cmd``, its output kept in ``log``."""
    with open(log, "ab") as out:
        t = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t
    p.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024, p.returncode


def main():
    default_data = REPO.parent / "shared" / "data" / "anime-faces" / "images"
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--script", required=True, help="path of pytorch/examples' dcgan/main.py")
    ap.add_argument("--data", default=str(default_data), help="a folder of images")
    ap.add_argument("--n", type=int, default=3840, help="images in the epoch (the first N of the folder)")
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--variants", default="defaults,fp32,compile",
                    help=f"comma-separated, from: {', '.join(VARIANTS)}")
    ap.add_argument("--workers", type=int, default=2, help="the script's DataLoader workers")
    ap.add_argument("--accel", action="store_true", help="both on the accelerator (the script's --accel, "
                                                         "ganlab's train.device=auto picks CUDA)")
    ap.add_argument("--keep", help="keep the run folders and logs here instead of a temporary folder")
    args = ap.parse_args()
    script, data = Path(args.script), Path(args.data)
    if not script.is_file():
        sys.exit(f"bench: no script at {script} (clone https://github.com/pytorch/examples; give dcgan/main.py)")
    if not data.is_dir():
        sys.exit(f"bench: no data at {data} (give --data a folder of images)")
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    bad = [v for v in variants if v not in VARIANTS]
    if bad:
        sys.exit(f"bench: unknown variant {bad[0]!r}; choose from: {', '.join(VARIANTS)}")

    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="ganlab-vs-script-"))
    tmp.mkdir(parents=True, exist_ok=True)
    root = tmp / "images"
    if root.exists():
        shutil.rmtree(root)
    n = link_images(data, root, args.n)
    env = {**os.environ, "GANLAB_CACHE": str(tmp / "cache")}
    device = torch.device("cuda" if args.accel and torch.cuda.is_available() else "cpu")
    common = ["--image-size", str(args.image_size), "--batch-size", str(args.batch_size)]
    ganlab = [sys.executable, "-m", "ganlab", "train", "--data", str(root / "faces"), *common, "--epochs", "1",
              "--set", "train.progress=false", "--set", f"train.device={'auto' if args.accel else 'cpu'}"]

    # ganlab's decode cache, made once (what every later run on this folder finds)
    cold = tmp / "run-cold"
    t = time.perf_counter()
    wall, _, rc = run_timed([*ganlab, "--out", str(cold), "--set", "train.steps=1"], env, tmp / "cold.log")
    if rc != 0:
        sys.exit(f"bench: ganlab failed (see {tmp / 'cold.log'})")
    print(f"ganlab first run on the folder (decodes {n} images into its cache, then 1 step): {wall:.1f}s")

    cmds = {"script": [sys.executable, str(script), "--dataset", "folder", "--dataroot", str(root),
                       "--niter", "1", "--batchSize", str(args.batch_size), "--imageSize", str(args.image_size),
                       "--workers", str(args.workers), "--manualSeed", "1"] + (["--accel"] if args.accel else [])}
    for v in variants:
        cmds[f"ganlab-{v}"] = [*ganlab, *VARIANTS[v]]
    names = list(cmds)
    walls = {k: [] for k in names}
    peaks = {k: [] for k in names}
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            out = tmp / f"{name}-{r}"
            cmd = cmds[name] + (["--outf", str(out)] if name == "script" else ["--out", str(out)])
            out.mkdir(exist_ok=True) if name == "script" else None
            wall, peak, rc = run_timed(cmd, env, tmp / f"{name}.log")
            if rc != 0:
                sys.exit(f"bench: {name} exited with {rc} (see {tmp / f'{name}.log'})")
            walls[name].append(wall)
            peaks[name].append(peak)
            print(f"round {r + 1}/{args.rounds} {name:<16} {wall:7.1f}s  peak RSS {peak:6.0f} MiB", flush=True)
            if name != "script":
                shutil.rmtree(out, ignore_errors=True)

    from train_throughput import flops_per_iteration  # noqa: E402 (bench/ is on the path)

    from ganlab.experiment import load_experiment
    cfg = load_experiment(None, ["train.precision=fp32"], {"data.image_size": args.image_size,
                                                           "train.batch_size": args.batch_size})
    per_img = flops_per_iteration(cfg, torch.device("cpu")) / args.batch_size
    peak16, peak32 = matmul_peak(torch.bfloat16, device), matmul_peak(torch.float32, device)
    steps = n // args.batch_size
    images = steps * args.batch_size
    print(f"\n{cmds['script'][1]} vs ganlab, {images} images ({steps} steps of {args.batch_size}) at "
          f"{args.image_size}x{args.image_size}, {args.rounds} rounds, device {device}, {torch.get_num_threads()} "
          f"threads, {os.cpu_count()} cores; model {per_img / 1e9:.3f} GFLOP per image per iteration; measured "
          f"matmul peak bf16 {peak16 / 1e9:.0f} GFLOP/s, fp32 {peak32 / 1e9:.0f} GFLOP/s")
    print(f"{'command':<16} {'wall s (median, min-max)':<26} {'img/s':>7} {'vs script':>10} {'bf16 peak':>10} "
          f"{'fp32 peak':>10} {'peak RSS MiB':>13}")
    for name in names:
        w = walls[name]
        med = statistics.median(w)
        ratio = statistics.median(s / x for s, x in zip(walls["script"], w))
        ips = images / med
        print(f"{name:<16} {med:7.1f} ({min(w):.1f}-{max(w):.1f}){'':<10} {ips:7.1f} {ratio:9.2f}x "
              f"{ips * per_img / peak16:9.1%} {ips * per_img / peak32:9.1%} {statistics.median(peaks[name]):13.0f}")
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
