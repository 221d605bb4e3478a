"""Training throughput: ganlab's loop against a plain baseline loop, measured in the same run.

    python bench/train_throughput.py [--data ../shared/data/anime-faces/images] [--steps 30]

Both train the same DCGAN (64x64, width 64, batch 64, BCE, Adam) for the same number of
iterations. The baseline is the straightforward way (in float32): a DataLoader with worker processes that
opens and decodes every JPEG every epoch, and a ``.item()`` on each loss every step. ganlab
decodes the data set once (cached), slices batches from memory, keeps weights and batches
channels-last (NHWC, which oneDNN's convolutions prefer) and syncs with the host only when it
flushes its metrics; ``--with-nchw`` also times ganlab in the default NCHW layout. The two loops alternate in rounds, so a change in the machine's load hits
both alike; the baseline's workers start afresh in each of its rounds (as they do each epoch in a
plain loop) and stop at its end, so their decoding never overlaps ganlab's timed rounds. The script prints images/s for both, their ratio (overall and the median per round),
and the share of the machine's measured matmul throughput that the model's FLOPs reach.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ganlab.experiment import load_experiment  # noqa: E402
from ganlab.methods import Batch, DataInfo, build_method  # noqa: E402


def matmul_peak(device: torch.device, n: int = 2048, reps: int = 10) -> float:
    """Measured float32 matmul throughput in FLOP/s (best of a few timings)."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    for _ in range(2):
        a @ b
    best = float("inf")
    for _ in range(3):
        sync(device)
        t = time.perf_counter()
        for _ in range(reps):
            a @ b
        sync(device)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 * reps / best


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def flops_per_iteration(cfg, device) -> float:
    """FLOPs of one D step + one G step on a batch, counted by torch's flop counter."""
    info = DataInfo("images", (3, cfg.data.image_size, cfg.data.image_size))
    method = build_method(cfg, info, device)
    x = torch.rand(cfg.train.batch_size, *info.shape, device=device) * 2 - 1
    with FlopCounterMode(display=False) as counter:
        method.train_step(Batch(x))
    return float(counter.get_total_flops())


class JpegFolder(torch.utils.data.Dataset):
    def __init__(self, root: Path, size: int):
        from torchvision import transforms
        exts = {".jpg", ".jpeg", ".png"}
        self.files = sorted(p for p in Path(root).iterdir() if p.suffix.lower() in exts)
        self.tf = transforms.Compose([transforms.Resize(size), transforms.CenterCrop(size), transforms.ToTensor(),
                                      transforms.Normalize((0.5,) * 3, (0.5,) * 3)])

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        from PIL import Image
        with Image.open(self.files[i]) as im:
            return self.tf(im.convert("RGB"))


class BaselineLoop:
    """A plain loop: per-epoch decoding in DataLoader workers, a host sync on every loss."""

    def __init__(self, cfg, data: Path, device, workers: int):
        info = DataInfo("images", (3, cfg.data.image_size, cfg.data.image_size))
        self.method, self.device, self.b = build_method(cfg, info, device), device, cfg.train.batch_size
        self.loader = torch.utils.data.DataLoader(JpegFolder(data, cfg.data.image_size), batch_size=self.b,
                                                  shuffle=True, num_workers=workers, drop_last=True)
        self.it = None

    def start(self):
        """Fresh workers for each timed block, so none of their decoding runs while the other loop is timed."""
        self.it = iter(self.loader)

    def stop(self):
        self.it = None  # shuts the workers down

    def step(self):
        try:
            x = next(self.it)
        except StopIteration:
            self.it = iter(self.loader)
            x = next(self.it)
        stats = self.method.train_step(Batch(x.to(self.device)))
        _ = {k: v.item() for k, v in stats.items()}  # what a plain loop prints/logs every step


class GanlabLoop:
    """ganlab's Trainer on the cached data set: batches sliced from memory, metrics flushed every log_every."""

    def __init__(self, cfg, device, tmp: Path):
        from ganlab.data import load_dataset
        from ganlab.runs.folder import RunDir
        from ganlab.train import Trainer
        t = time.perf_counter()
        dataset = load_dataset(cfg.data, progress=True)
        self.load_s = time.perf_counter() - t
        self.trainer = Trainer(cfg, RunDir(tmp / "run"), dataset=dataset, log=lambda *a: None)
        self.trainer.prepare_run_folder()
        self.perm = torch.randperm(len(dataset)).to(self.trainer.device)
        self.i, self.n, self.b = 0, len(dataset), self.trainer.batch_size
        self.log_every = cfg.train.log_every

    def step(self):
        tr, m = self.trainer, self.trainer.method
        j = (self.i * self.b) % (self.n - self.b)
        stats = m.train_step(tr.batch(self.perm[j:j + self.b]))
        tr._buffer.append((self.i, 0, m.g_steps, stats))
        self.i += 1
        if self.i % self.log_every == 0:
            tr.flush()


def timed(loop, steps: int, device) -> float:
    getattr(loop, "start", lambda: None)()
    sync(device)
    t = time.perf_counter()
    for _ in range(steps):
        loop.step()
    sync(device)
    dt = time.perf_counter() - t
    getattr(loop, "stop", lambda: None)()
    return dt


def main():
    default_data = REPO.parent / "shared" / "data" / "anime-faces" / "images"
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(default_data))
    ap.add_argument("--steps", type=int, default=30, help="timed iterations (after 2 warm-up ones) per loop")
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--workers", type=int, default=2, help="DataLoader workers of the baseline")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--rounds", type=int, default=2, help="the loops alternate in this many rounds")
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument("--precision", default="auto", help="ganlab's train.precision (the plain loop is always fp32)")
    ap.add_argument("--with-fp32", action="store_true", help="also time ganlab with train.precision=fp32")
    ap.add_argument("--with-nchw", action="store_true",
                    help="also time ganlab with train.channels_last=false, to show what the NHWC layout adds")
    args = ap.parse_args()
    if not Path(args.data).is_dir():
        sys.exit(f"bench: no data at {args.data} (give --data a folder of images)")
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    cfg = load_experiment(None, ["train.progress=false", "train.tensorboard=false", "train.log_every=50"],
                      {"data.source": args.data, "data.image_size": args.image_size,
                       "train.batch_size": args.batch_size, "model.g_width": args.width,
                       "model.d_width": args.width, "train.device": str(device),
                       "train.precision": args.precision})
    from dataclasses import replace
    from ganlab import precision
    cfg.train.precision, why = precision.choose(cfg.train.precision, device)
    fp32 = replace(cfg, train=replace(cfg.train, precision="fp32"))
    print(f"ganlab precision: {cfg.train.precision} ({why}); the plain loop: fp32")
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} cores; DCGAN {args.image_size}x{args.image_size} width {args.width} "
          f"batch {args.batch_size}, {args.steps} timed iterations")
    peak = matmul_peak(device)
    flops = flops_per_iteration(fp32, device)
    per_img = flops / args.batch_size
    print(f"measured matmul peak: {peak / 1e9:.1f} GFLOP/s; model: {per_img / 1e9:.3f} GFLOP per image per "
          "iteration (D step + G step)")

    import statistics
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        ours_loop = GanlabLoop(cfg, device, Path(tmp))
        print(f"ganlab data load (decode once, then cached): {ours_loop.load_s:.1f}s")
        loops = {"ganlab": ours_loop}
        if args.with_fp32:
            loops["ganlab-fp32"] = GanlabLoop(fp32, device, Path(tmp) / "fp32")
        if args.with_nchw:
            nchw = replace(cfg, train=replace(cfg.train, channels_last=False))
            loops["ganlab-nchw"] = GanlabLoop(nchw, device, Path(tmp) / "nchw")
        if not args.skip_baseline:
            loops["baseline"] = BaselineLoop(fp32, Path(args.data), device, args.workers)
        for loop in loops.values():  # warm-up (and the baseline's first worker start)
            timed(loop, 2, device)
        # interleave the two loops in rounds, so that a change in the machine's load hits both alike
        per = max(1, args.steps // args.rounds)
        secs = {k: [] for k in loops}
        for r in range(args.rounds):
            for name, loop in loops.items():
                secs[name].append(timed(loop, per, device))
        ips = {k: per * args.batch_size * len(v) / sum(v) for k, v in secs.items()}
    peak_end = matmul_peak(device)
    print(f"matmul peak again at the end: {peak_end / 1e9:.1f} GFLOP/s")
    for name, v in ips.items():
        print(f"{name:<11} {v:8.1f} images/s  ({v * per_img / max(peak, peak_end):.0%} of matmul peak)")
    if "baseline" in ips:
        ratios = [b / a for a, b in zip(secs["ganlab"], secs["baseline"])]
        print(f"ratio ganlab / baseline: {ips['ganlab'] / ips['baseline']:.2f}x overall, "
              f"median per round {statistics.median(ratios):.2f}x over {args.rounds} rounds")
    if "ganlab-fp32" in ips:
        print(f"ratio ganlab / ganlab-fp32 (what train.precision={cfg.train.precision} adds): "
              f"{ips['ganlab'] / ips['ganlab-fp32']:.2f}x")
    if "ganlab-nchw" in ips:
        print(f"ratio ganlab / ganlab-nchw (what the channels-last layout adds): "
              f"{ips['ganlab'] / ips['ganlab-nchw']:.2f}x")


if __name__ == "__main__":
    main()
