"""Training throughput: ganlab's loop against a plain baseline loop, measured in the same run.

    python bench/train_throughput.py [--data ../shared/data/anime-faces/images] [--steps 30]

Both train the same DCGAN (64x64, width 64, batch 64, BCE, Adam) for the same number of
iterations. The baseline is the straightforward way: a DataLoader with worker processes that
opens and decodes every JPEG every epoch, and a ``.item()`` on each loss every step. ganlab
decodes the data set once (cached), slices batches from memory and syncs with the host only when
it flushes its metrics. The script prints images/s for both, their ratio, and the share of the
machine's measured matmul throughput that the model's FLOPs reach.
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

from ganlab.config import load_config  # noqa: E402
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


def run_baseline(cfg, data: Path, steps: int, device, workers: int) -> float:
    """A plain loop: per-epoch decoding in DataLoader workers, a host sync on every loss."""
    info = DataInfo("images", (3, cfg.data.image_size, cfg.data.image_size))
    method = build_method(cfg, info, device)
    loader = torch.utils.data.DataLoader(JpegFolder(data, cfg.data.image_size), batch_size=cfg.train.batch_size,
                                         shuffle=True, num_workers=workers, drop_last=True,
                                         persistent_workers=workers > 0)
    it, done, t0 = iter(loader), -2, None  # two warm-up iterations
    while done < steps:
        try:
            x = next(it)
        except StopIteration:
            it = iter(loader)
            x = next(it)
        stats = method.train_step(Batch(x.to(device)))
        _ = {k: v.item() for k, v in stats.items()}  # what a plain loop prints/logs every step
        done += 1
        if done == 0:
            sync(device)
            t0 = time.perf_counter()
    sync(device)
    return steps * cfg.train.batch_size / (time.perf_counter() - t0)


def run_ganlab(cfg, steps: int, device) -> tuple[float, float]:
    """ganlab's Trainer on the cached data set; returns (images/s, seconds spent loading data)."""
    from ganlab.data import load_dataset
    from ganlab.rundir import RunDir
    from ganlab.train import Trainer
    import tempfile

    t = time.perf_counter()
    dataset = load_dataset(cfg.data, progress=True)
    load_s = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, RunDir(Path(tmp) / "run"), dataset=dataset, log=lambda *a: None)
        trainer.prepare_run_folder()
        n = len(dataset)
        perm = torch.randperm(n).to(trainer.device)
        b = trainer.batch_size
        method = trainer.method

        def one(i):
            j = (i * b) % (n - b)
            stats = method.train_step(trainer.batch(perm[j:j + b]))
            trainer._buffer.append((i, 0, method.g_steps, stats))
            if (i + 1) % cfg.train.log_every == 0:
                trainer.flush()

        for i in range(2):
            one(i)
        sync(device)
        t0 = time.perf_counter()
        for i in range(2, steps + 2):
            one(i)
        trainer.flush()
        sync(device)
        return steps * b / (time.perf_counter() - t0), load_s


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
    ap.add_argument("--skip-baseline", action="store_true")
    args = ap.parse_args()
    if not Path(args.data).is_dir():
        sys.exit(f"bench: no data at {args.data} (give --data a folder of images)")
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    cfg = load_config(None, ["train.progress=false", "train.tensorboard=false", "train.log_every=50"],
                      {"data.source": args.data, "data.image_size": args.image_size,
                       "train.batch_size": args.batch_size, "model.g_width": args.width,
                       "model.d_width": args.width, "train.device": str(device)})
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} cores; DCGAN {args.image_size}x{args.image_size} width {args.width} "
          f"batch {args.batch_size}, {args.steps} timed iterations")
    peak = matmul_peak(device)
    flops = flops_per_iteration(cfg, device)
    per_img = flops / args.batch_size
    print(f"measured matmul peak: {peak / 1e9:.1f} GFLOP/s; model: {per_img / 1e9:.3f} GFLOP per image per "
          "iteration (D step + G step)")

    ours, load_s = run_ganlab(cfg, args.steps, device)
    print(f"ganlab:   {ours:8.1f} images/s  ({ours * per_img / peak:.0%} of matmul peak); data load {load_s:.1f}s")
    if not args.skip_baseline:
        base = run_baseline(cfg, Path(args.data), args.steps, device, args.workers)
        print(f"baseline: {base:8.1f} images/s  ({base * per_img / peak:.0%} of matmul peak)")
        print(f"ratio ganlab / baseline: {ours / base:.2f}x")


if __name__ == "__main__":
    main()
