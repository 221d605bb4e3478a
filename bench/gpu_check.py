"""One prepared check of ganlab's GPU path, for a machine with a CUDA device (``bench/gpu.sh`` runs it; docs/gpu.md).

    bash bench/gpu.sh [--out DIR] [--parts device,train,...] [--steps 3] [--script PATH/TO/dcgan/main.py]

The parts, in order; each is independent (one that fails is recorded with its first line, and the others go on):

- ``device``: the device, its compute capability and memory, and what ``train.precision=auto`` picks there.
- ``train``: every method (``ganlab.methods.METHODS``) for ``--steps`` generator steps in fp32 and in bf16 with
  the tricks on (R1, LeCam, EMA with recomputed statistics, DiffAugment, packing, label noise, mismatched
  conditions; each dropped, and named, where the method's config refuses it), and the dynamic updates.
- ``sync``: a training step of every method under ``torch.cuda.set_sync_debug_mode("error")`` (after two
  warm-up steps): any wait for the GPU inside a step is an error naming it.
- ``batches``: streamed batches against in-memory ones (values, layout) on the GPU, and the device memory the
  in-memory set takes at start (once its size, not twice).
- ``resume``: a run stopped and resumed on the GPU against one never stopped; its checkpoint loaded, sampled
  and trained on the CPU.
- ``outputs``: samples, FID of the same samples on the GPU and on the CPU (random Inception weights made as
  the tests make them; within ``--fid-tolerance``), and the TorchScript and ONNX exports.
- ``torchrun``: two processes with ``--device cpu`` on this GPU machine (gloo), and two on two GPUs (NCCL)
  where there are two.
- ``cuda_tests``: the test suite's ``cuda``-marked tests.
- ``vs_script``: ``bench/vs_script.py --accel`` at batch 64 and 256 (needs ``--script``, pytorch/examples'
  ``dcgan/main.py``).

It writes ``DIR/summary.json`` and ``DIR/summary.txt`` (a table) after every part, and the parts' output under
``DIR/logs``. Exit status 0 when no part failed. On a machine without CUDA it checks its arguments, says so,
writes the summary with every part skipped and exits 0; ``--dry-run`` does that on any machine.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

PARTS = ("device", "train", "sync", "batches", "resume", "outputs", "torchrun", "cuda_tests", "vs_script")

# the tricks each method trains with where its config allows them: name -> the settings that make it
TRICKS = {
    "R1": {"objective.r1_gamma": 1.0, "objective.r1_every": 2, "model.d_norm": "none"},
    "LeCam": {"objective.lecam_weight": 0.1},
    "EMA": {"tricks.ema": 0.99, "tricks.ema_stats": "recompute"},
    "DiffAugment": {"tricks.diffaug": ["color", "translation", "cutout"]},
    "packing": {"tricks.pack": 2},
    "label noise": {"tricks.label_noise_beta": [1, 5]},
    "mismatch": {"cond.mismatch": True},  # the conditional GAN (and its subclasses) only
}
# the tiny run every part trains: the built-in digits at 32x32, thin networks
TINY = {"data.source": "digits", "data.image_size": 32, "data.limit": 256, "model.g_width": 16, "model.d_width": 16,
        "model.latent_dim": 32, "train.batch_size": 32, "train.progress": False, "train.tensorboard": False,
        "train.log_every": 1, "train.n_samples": 16, "train.plot_minutes": 10_000}


# --------------------------------------------------------------------------------------------- arguments
def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="bench/gpu.sh", description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="gpu-check", help="folder of the summary and logs (default ./gpu-check)")
    ap.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, from: {', '.join(PARTS)}")
    ap.add_argument("--device", default="cuda", help="the CUDA device to check: cuda or cuda:N (default cuda)")
    ap.add_argument("--steps", type=int, default=3, help="generator steps per method and precision (default 3)")
    ap.add_argument("--fid-n", type=int, default=512, help="samples in the CUDA-vs-CPU FID (default 512)")
    ap.add_argument("--fid-tolerance", type=float, default=0.02,
                    help="largest relative difference of the two FIDs (default 0.02)")
    ap.add_argument("--memory-mib", type=int, default=512, help="size of the in-memory set measured (default 512)")
    ap.add_argument("--script", help="pytorch/examples' dcgan/main.py, for the vs_script part")
    ap.add_argument("--data", help="a folder of images for vs_script (default ../shared/data/anime-faces/images, "
                                   "else random images made here)")
    ap.add_argument("--vs-n", type=int, default=2048, help="images in vs_script's epoch (default 2048)")
    ap.add_argument("--vs-batch-sizes", default="64,256", help="vs_script's batch sizes (default 64,256)")
    ap.add_argument("--timeout", type=int, default=600, help="seconds each command of a part may run (default 600)")
    ap.add_argument("--dry-run", action="store_true", help="check the arguments and write the summary of the "
                                                           "parts, all skipped; runs nothing")
    args = ap.parse_args(argv)
    problems = check_args(args)
    if problems:
        ap.error(problems[0])
    return args


def check_args(args) -> list[str]:
    """What is wrong with the arguments, one line each (empty: nothing); sets ``args.part_list`` and
    ``args.batch_list``."""
    out = []
    args.part_list = [p.strip() for p in args.parts.split(",") if p.strip()]
    bad = [p for p in args.part_list if p not in PARTS]
    if bad:
        out.append(f"--parts: unknown part {bad[0]!r}; choose from: {', '.join(PARTS)}")
    elif not args.part_list:
        out.append(f"--parts: name at least one part, from: {', '.join(PARTS)}")
    import re
    if not re.fullmatch(r"cuda(:\d+)?", args.device):
        out.append(f"--device {args.device}: give cuda or cuda:N (the CPU is checked by the test suite)")
    for flag, value, least in (("--steps", args.steps, 1), ("--fid-n", args.fid_n, 2),
                               ("--memory-mib", args.memory_mib, 1), ("--vs-n", args.vs_n, 1),
                               ("--timeout", args.timeout, 1)):
        if value < least:
            out.append(f"{flag} {value}: must be at least {least}")
    if not (0 < args.fid_tolerance < math.inf):
        out.append(f"--fid-tolerance {args.fid_tolerance}: give a positive number, e.g. 0.02")
    try:
        args.batch_list = [int(b) for b in args.vs_batch_sizes.split(",") if b.strip()]
        if not args.batch_list or min(args.batch_list) < 1:
            raise ValueError
    except ValueError:
        args.batch_list = []
        out.append(f"--vs-batch-sizes {args.vs_batch_sizes!r}: give positive whole numbers separated by commas")
    if args.script is not None and not Path(args.script).is_file():
        out.append(f"--script {args.script}: no such file (pytorch/examples' dcgan/main.py)")
    if args.data is not None and not Path(args.data).is_dir():
        out.append(f"--data {args.data}: no such folder")
    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        out.append(f"--out {args.out}: exists and is not a folder")
    return out


# --------------------------------------------------------------------------------------------- the summary
class Summary:
    """The results of the parts, written as DIR/summary.json and a readable DIR/summary.txt after every part."""

    def __init__(self, out: Path, machine: dict):
        self.out, self.machine, self.parts = out, machine, []
        self.started = time.strftime("%Y-%m-%dT%H:%M:%S")

    def add(self, name: str, status: str, seconds: float = 0.0, details: dict | None = None,
            error: str | None = None, log: str | None = None) -> dict:
        row = {"part": name, "status": status, "seconds": round(seconds, 2), "details": details or {}}
        if error is not None:
            row["error"] = error
        if log is not None:
            row["log"] = log
        self.parts.append(row)
        self.write()
        return row

    def failed(self) -> list[str]:
        return [p["part"] for p in self.parts if p["status"] == "failed"]

    def to_dict(self) -> dict:
        return {"started": self.started, "written": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": self.machine,
                "parts": self.parts, "failed": self.failed()}

    def text(self) -> str:
        m = self.machine
        head = [f"ganlab GPU check, {self.started}: {m.get('device_name') or 'no CUDA device'}"
                + (f" (compute capability {m['capability']})" if m.get("capability") else "")
                + f", torch {m.get('torch')}, CUDA {m.get('cuda') or '-'}, {m.get('host')}"]
        lines = [f"{'part':<11} {'status':<8} {'seconds':>8}  summary"]
        for p in self.parts:
            what = p.get("error") or p["details"].get("summary", "")
            lines.append(f"{p['part']:<11} {p['status']:<8} {p['seconds']:>8.1f}  {what}")
            for row in p["details"].get("rows", []):
                lines.append(f"{'':<30}" + "  ".join(str(c) for c in row))
        failed = self.failed()
        tail = [f"failed: {', '.join(failed)}" if failed else "no part failed"]
        return "\n".join(head + lines + tail) + "\n"

    def write(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "summary.json").write_text(json.dumps(self.to_dict(), indent=1, default=str) + "\n")
        (self.out / "summary.txt").write_text(self.text())


def first_line(e: BaseException, limit: int = 300) -> str:
    line = next((ln.strip() for ln in str(e).splitlines() if ln.strip()), "")
    line = f"{type(e).__name__}: {line}" if line else type(e).__name__
    return line if len(line) <= limit else line[:limit] + "..."


def run_parts(names: list[str], functions: dict, ctx, summary: Summary) -> Summary:
    """Run each part in turn, each on its own: an exception is recorded (its first line in the summary, the
    traceback in DIR/logs/PART.log) and the next part runs; a part may also return status "skipped"."""
    for name in names:
        start = time.perf_counter()
        log = ctx.logs / f"{name}.log"
        try:
            details = functions[name](ctx) or {}
            status = details.pop("status", "ok")
            summary.add(name, status, time.perf_counter() - start, details,
                        log=str(log) if log.exists() else None)
        except KeyboardInterrupt:
            summary.add(name, "failed", time.perf_counter() - start, error="interrupted")
            raise
        except Exception as e:  # noqa: BLE001 - every failure is recorded, and the next part runs
            ctx.logs.mkdir(parents=True, exist_ok=True)
            with open(log, "a") as f:
                f.write(traceback.format_exc())
            summary.add(name, "failed", time.perf_counter() - start, error=first_line(e), log=str(log))
        print(f"[gpu-check] {name}: {summary.parts[-1]['status']}"
              + (f" ({summary.parts[-1]['error']})" if "error" in summary.parts[-1] else ""), flush=True)
    return summary


# --------------------------------------------------------------------------------------------- the machine
def machine(device=None) -> dict:
    import torch
    info = {"host": socket.gethostname(), "python": platform.python_version(), "torch": torch.__version__,
            "cuda": torch.version.cuda, "cpu_count": os.cpu_count(), "gpus": 0}
    if device is not None:
        idx = device.index if device.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(idx)
        info.update({"gpus": torch.cuda.device_count(), "device": str(device), "device_name": props.name,
                     "capability": f"{props.major}.{props.minor}", "memory_gib": round(props.total_memory / 2**30, 1),
                     "cudnn": torch.backends.cudnn.version()})
    return info


class Context:
    def __init__(self, args, device):
        self.args, self.device = args, device
        self.out = Path(args.out).resolve()
        self.logs = self.out / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self._run = None

    def path(self, name: str) -> Path:
        p = self.out / "work" / name
        if p.exists():
            shutil.rmtree(p)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def command(self, name: str, cmd: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
        """Run ``cmd`` from the repository, its output appended to DIR/logs/NAME.log; the result has the output."""
        env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""), **(env or {})}
        try:
            res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=self.args.timeout, env=env)
        except subprocess.TimeoutExpired as e:
            res = subprocess.CompletedProcess(cmd, 124, _text(e.stdout), _text(e.stderr) + f"\ntimed out after "
                                                                                           f"{self.args.timeout} s")
        with open(self.logs / f"{name}.log", "a") as f:
            f.write(f"$ {' '.join(cmd)}\n{res.stdout}\n{res.stderr}\n[exit {res.returncode}]\n")
        return res

    def cuda_run(self):
        """A tiny GAN run trained on the GPU (2 epochs, EMA), made once for the parts that read one."""
        if self._run is None:
            from ganlab.train import train
            self._run = train(config("gan", self.device, **{"train.epochs": 2, "tricks.ema": 0.99,
                                                            "tricks.ema_stats": "recompute"}),
                              out=self.path("cuda-run"), log=lambda *a: None).path
        return self._run


def _text(x) -> str:
    return x.decode(errors="replace") if isinstance(x, bytes) else (x or "")


def config(method: str, device, precision: str = "fp32", **values):
    from ganlab.experiment import load_experiment
    return load_experiment("dcgan", [], {**TINY, "method": method, "train.device": str(device),
                                         "train.precision": precision, **values})


def config_with_tricks(method: str, device, precision: str, **values):
    """(config, tricks kept, {trick dropped: why}): the method with every trick of TRICKS its config accepts; a trick
    is dropped when the ConfigError names one of its settings."""
    from ganlab.errors import ConfigError
    from ganlab.methods import METHODS
    kept, dropped = dict(TRICKS), {}
    if "cgan" in METHODS and not issubclass(METHODS[method], METHODS["cgan"]):
        del kept["mismatch"]  # only the conditional GAN's D sees real images with wrong tags
    while True:
        settings = {k: v for t in kept.values() for k, v in t.items()}
        try:
            return config(method, device, precision, **settings, **values), list(kept), dropped
        except ConfigError as e:
            msg = str(e)
            name = next((t for t, s in kept.items() if any(k in msg for k in s)), None)
            if name is None:
                raise
            dropped[name] = msg[:120]
            del kept[name]


# --------------------------------------------------------------------------------------------- the parts
def part_device(ctx) -> dict:
    import torch

    from ganlab import precision
    dev = ctx.device
    chosen, why = precision.choose("auto", dev)
    native, _ = precision.cuda_bf16_native(dev)
    free, total = torch.cuda.mem_get_info(dev)
    m = machine(dev)
    print(f"[gpu-check] {m['device_name']}, compute capability {m['capability']}, {total / 2**30:.1f} GiB "
          f"({free / 2**30:.1f} free), {m['gpus']} GPU(s); precision auto: {chosen} ({why})", flush=True)
    return {"summary": f"{m['device_name']}, capability {m['capability']}, {m['gpus']} GPU(s); auto -> {chosen}",
            "precision_auto": chosen, "precision_reason": why, "bf16_native": native,
            "free_gib": round(free / 2**30, 2), "total_gib": round(total / 2**30, 2), **m}


def _finite_run(run) -> tuple[int, dict]:
    recs = [json.loads(x) for x in (Path(run) / "metrics.jsonl").read_text().splitlines() if x.strip()]
    last = {k: v for k, v in recs[-1].items() if isinstance(v, float)} if recs else {}
    bad = [k for r in recs for k, v in r.items() if isinstance(v, float) and not math.isfinite(v)]
    if bad:
        raise RuntimeError(f"non-finite {bad[0]} in {run}/metrics.jsonl")
    return len(recs), last


def part_train(ctx) -> dict:
    from ganlab.methods import METHODS
    from ganlab.train import train
    rows, failed = [], []
    cases = [(m, p, {}) for m in sorted(METHODS) for p in ("fp32", "bf16")]
    cases += [("gan", p, {"tricks.dynamic": True}) for p in ("fp32", "bf16")]
    for method, prec, extra in cases:
        name = method + ("-dynamic" if extra else "")
        start = time.perf_counter()
        try:
            cfg, kept, dropped = config_with_tricks(method, ctx.device, prec,
                                                    **{"train.steps": ctx.args.steps, "train.epochs": 1000, **extra})
            run = train(cfg, out=ctx.path(f"train-{name}-{prec}"), log=lambda *a: None).path
            n, last = _finite_run(run)
            rows.append([f"{name:<14}", f"{prec:<5}", "ok    ", f"{time.perf_counter() - start:5.1f} s",
                         f"{n} iterations", "tricks: " + (", ".join(kept) or "none"),
                         ("dropped: " + ", ".join(dropped)) if dropped else ""])
        except Exception as e:  # noqa: BLE001 - the next method runs
            failed.append(f"{name}/{prec}")
            with open(ctx.logs / "train.log", "a") as f:
                f.write(f"--- {name} {prec}\n{traceback.format_exc()}\n")
            rows.append([f"{name:<14}", f"{prec:<5}", "FAILED", f"{time.perf_counter() - start:5.1f} s",
                         first_line(e)])
    return {"status": "failed" if failed else "ok", "rows": rows, "failed": failed,
            "summary": f"{len(cases) - len(failed)}/{len(cases)} runs of {ctx.args.steps} G steps finished"
                       + (f"; failed: {', '.join(failed)}" if failed else "")}


def _device_batches(ds, cfg, device, n: int, count: int):
    import torch

    from ganlab.data import to_float
    from ganlab.methods import Batch
    g = torch.Generator().manual_seed(0)
    for _ in range(count):
        idx = torch.randint(0, len(ds), (n,), generator=g)
        x = to_float(ds.data[idx], cfg.model.output).to(device).contiguous(memory_format=torch.channels_last)
        yield Batch(x, {k: a.codes[idx].to(device) for k, a in ds.attributes.items()})


def part_sync(ctx) -> dict:
    import torch

    from ganlab.data import load_dataset
    from ganlab.methods import METHODS, DataInfo, build_method
    rows, failed = [], []
    for method in sorted(METHODS):
        try:
            cfg, kept, _ = config_with_tricks(method, ctx.device, "fp32")
            ds = load_dataset(cfg.data, progress=False)
            info = DataInfo(ds.kind, tuple(ds.image_shape), {a.name: list(a.values) for a in ds.attributes.values()},
                            cfg.model.output)
            m = build_method(cfg, info, ctx.device)
            for net in m.modules().values():
                net.to(memory_format=torch.channels_last)
            m.train(True)
            *warm, last = _device_batches(ds, cfg, ctx.device, cfg.train.batch_size, 3)
            for b in warm:
                m.train_step(b)
            torch.cuda.synchronize(ctx.device)
            torch.cuda.set_sync_debug_mode("error")
            try:
                m.train_step(last)
            finally:
                torch.cuda.set_sync_debug_mode("default")
            rows.append([f"{method:<8}", "no sync", "tricks: " + ", ".join(kept)])
        except Exception as e:  # noqa: BLE001 - the next method runs
            failed.append(method)
            with open(ctx.logs / "sync.log", "a") as f:
                f.write(f"--- {method}\n{traceback.format_exc()}\n")
            rows.append([f"{method:<8}", "SYNC/ERROR", first_line(e)])
    return {"status": "failed" if failed else "ok", "rows": rows, "failed": failed,
            "summary": f"{len(rows) - len(failed)}/{len(rows)} methods step without waiting for the GPU"}


def part_batches(ctx) -> dict:
    import torch

    from ganlab.train.batches import InMemory, Streaming
    dev = ctx.device
    # the in-memory set's footprint at start: one copy of the set, not a copy and its channels-last copy
    n = max(1, ctx.args.memory_mib * 2**20 // (3 * 64 * 64))
    data = torch.randint(0, 256, (n, 3, 64, 64), dtype=torch.uint8)
    nbytes = data.numel()

    def peak(make):
        torch.cuda.synchronize(dev)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(dev)
        base = torch.cuda.memory_allocated(dev)
        kept = make()
        torch.cuda.synchronize(dev)
        used = torch.cuda.max_memory_allocated(dev) - base
        del kept
        torch.cuda.empty_cache()
        return used / nbytes
    now = peak(lambda: InMemory(data, dev, True))
    before = peak(lambda: data.to(dev).contiguous(memory_format=torch.channels_last))  # what it was
    # streamed rows (pinned, copied without blocking) against in-memory rows: the same values, layout and device
    small = data[:1024].clone()
    mem, stream = InMemory(small, dev, True), Streaming(small, dev, True)
    order = torch.randperm(len(small), generator=torch.Generator().manual_seed(0)).to(dev)
    b, same = 64, True
    stream.start_epoch(order, b)
    try:
        for k in range(len(small) // b):
            idx = order[k * b:(k + 1) * b]
            x, y = mem.rows(idx), stream.rows(idx)
            same &= bool(torch.equal(x, y)) and x.stride() == y.stride() and x.device == y.device
    finally:
        stream.close()
    ok = same and now < 1.1
    return {"status": "ok" if ok else "failed", "peak_ratio": round(now, 3), "peak_ratio_two_copies": round(before, 3),
            "set_mib": round(nbytes / 2**20), "streaming_equals_in_memory": same,
            "summary": f"in-memory set of {nbytes / 2**20:.0f} MiB peaks at {now:.2f}x its size on the GPU (two "
                       f"copies: {before:.2f}x); streamed batches {'equal' if same else 'DIFFER FROM'} in-memory ones"}


def _weights(run):
    from ganlab.runs.checkpoint import load_run_state
    state = load_run_state(Path(run) / "checkpoints" / "latest.pt")
    return state, {f"{n}/{k}": v for n, m in state["modules"].items() for k, v in m.items()}


def part_resume(ctx) -> dict:
    import torch

    import ganlab
    from ganlab.runs.folder import RunDir
    from ganlab.train import resume_config, train
    full = ctx.cuda_run()
    cfg = config("gan", ctx.device, **{"train.epochs": 1, "tricks.ema": 0.99, "tricks.ema_stats": "recompute"})
    part = train(cfg, out=ctx.path("cuda-resumed"), log=lambda *a: None).path
    train(resume_config(RunDir(part), {"train.epochs": 2}), resume=part, log=lambda *a: None)
    (sa, wa), (sb, wb) = _weights(full), _weights(part)
    diff = max((wa[k].float() - wb[k].float()).abs().max().item() for k in wa)
    identical = diff == 0 and sa["global_iter"] == sb["global_iter"]
    # the GPU's checkpoint on the CPU: sampled, and trained on
    g = ganlab.load(part, device="cpu")
    x = g.sample(8, seed=0)
    if not bool(torch.isfinite(x).all()):
        raise RuntimeError("samples of the GPU checkpoint on the CPU are not finite")
    train(resume_config(RunDir(part), {"train.epochs": 3, "train.device": "cpu"}), resume=part,
          log=lambda *a: None)
    state, _ = _weights(part)
    if state["epoch"] != 3:
        raise RuntimeError(f"the CPU resume ended at epoch {state['epoch']}, not 3")
    return {"bit_identical": identical, "max_weight_difference": diff,
            "summary": f"resumed on the GPU ({'bit-identical' if identical else f'max weight difference {diff:.2e}'} "
                       "to an uninterrupted run); its checkpoint sampled and trained on the CPU"}


def _inception_weights(path: Path) -> Path:
    """Random FID Inception weights, made as the tests make them (tests/eval/conftest.py), He-initialised so that
    the features differ from image to image."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("ganlab_eval_conftest", REPO / "tests" / "eval" / "conftest.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod._fid_inception_weights(path, he_init=True)


def part_outputs(ctx) -> dict:
    import ganlab
    from ganlab.cli import main as cli
    from ganlab.eval import evaluate
    from ganlab.eval.run import generate
    from ganlab.plots import save_grid
    run = ctx.cuda_run()
    work = ctx.path("outputs")
    work.mkdir(parents=True)
    g = ganlab.load(run, device=ctx.device)
    save_grid(g.sample(16, seed=0), work / "samples.png", "sigmoid")
    fake, _ = generate(g, ctx.args.fid_n, seed=1)
    weights = _inception_weights(work / "inception.pt")
    fid = {}
    for dev in (str(ctx.device), "cpu"):
        rows = evaluate(fake=fake, data="digits", metrics=["fid"], n=ctx.args.fid_n, features="inception",
                        weights=str(weights), device=dev, progress=False, log=lambda *a: None)
        fid[dev] = rows[0]["value"]
    a, b = fid[str(ctx.device)], fid["cpu"]
    rel = abs(a - b) / max(abs(b), 1e-12)
    exported = {}
    for fmt in ("torchscript", "onnx"):
        target = work / f"generator.{'pt' if fmt == 'torchscript' else 'onnx'}"
        rc = cli(["export", str(run), "--format", fmt, "--out", str(target)])
        exported[fmt] = rc == 0 and target.is_file()
    ok = rel <= ctx.args.fid_tolerance and all(exported.values())
    return {"status": "ok" if ok else "failed", "fid": fid, "fid_relative_difference": rel, "exported": exported,
            "summary": f"FID on the GPU {a:.4g}, on the CPU {b:.4g} (relative difference {rel:.2e}, tolerance "
                       f"{ctx.args.fid_tolerance}); export " + ", ".join(f"{k} {'ok' if v else 'FAILED'}"
                                                                  for k, v in exported.items())}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def part_torchrun(ctx) -> dict:
    import torch
    flags = ["--data", "digits", "--image-size", "16", "--limit", "128", "--batch-size", "16", "--epochs", "1",
             "--set", "model.g_width=4", "--set", "model.d_width=4", "--set", "train.progress=false",
             "--set", "train.tensorboard=false", "--set", "train.dist_timeout=120"]
    results, rows = {}, []
    setups = [("cpu", "gloo, --device cpu on this GPU machine")]
    if torch.cuda.device_count() >= 2:
        setups.append(("cuda", "NCCL, two GPUs"))
    for dev, what in setups:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
               str(_free_port()), "-m", "ganlab.cli", "train", *flags, "--device", dev,
               "--out", str(ctx.path(f"torchrun-{dev}"))]
        res = ctx.command("torchrun", cmd, {"OMP_NUM_THREADS": "1"})
        results[dev] = res.returncode == 0
        rows.append([f"{dev:<5}", "ok" if res.returncode == 0 else f"FAILED (exit {res.returncode})", what])
    if torch.cuda.device_count() < 2:
        rows.append(["cuda ", "skipped", f"{torch.cuda.device_count()} GPU: two are needed"])
    return {"status": "ok" if all(results.values()) else "failed", "rows": rows, "results": results,
            "summary": ", ".join(f"{k} {'ok' if v else 'FAILED'}" for k, v in results.items())
                       + ("" if "cuda" in results else "; two GPUs: skipped (one GPU)")}


def part_cuda_tests(ctx) -> dict:
    res = ctx.command("cuda_tests", [sys.executable, "-m", "pytest", "-m", "cuda", "-q", "-p", "no:cacheprovider",
                                     str(REPO / "tests")])
    last = next((ln for ln in reversed(res.stdout.splitlines()) if ln.strip()), "")
    if res.returncode == 5:
        return {"status": "failed", "summary": "no cuda-marked test was collected"}
    return {"status": "ok" if res.returncode == 0 else "failed", "exit": res.returncode, "summary": last.strip("= ")}


def _images(folder: Path, n: int) -> Path:
    """``n`` random 64x64 RGB images, for vs_script where no image folder is given or found."""
    import numpy as np
    from PIL import Image
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(folder / f"{i:05d}.png")
    return folder


def part_vs_script(ctx) -> dict:
    if ctx.args.script is None:
        return {"status": "skipped", "summary": "give --script PATH to pytorch/examples' dcgan/main.py"}
    data = Path(ctx.args.data) if ctx.args.data else REPO.parent / "shared" / "data" / "anime-faces" / "images"
    if not data.is_dir():
        data = _images(ctx.path("vs-images"), ctx.args.vs_n)
    rows, ok = [], True
    for bs in ctx.args.batch_list:
        cmd = [sys.executable, str(REPO / "bench" / "vs_script.py"), "--script", ctx.args.script, "--data", str(data),
               "--n", str(ctx.args.vs_n), "--batch-size", str(bs), "--rounds", "1", "--variants", "fp32,bf16",
               "--accel"]
        res = ctx.command("vs_script", cmd)
        ok &= res.returncode == 0
        table = [ln for ln in res.stdout.splitlines() if ln.startswith(("script", "ganlab-"))]
        rows += [[f"batch {bs}:", ln] for ln in table] or [[f"batch {bs}:", f"FAILED (exit {res.returncode})"]]
    return {"status": "ok" if ok else "failed", "rows": rows,
            "summary": f"bench/vs_script.py --accel at batch {', '.join(map(str, ctx.args.batch_list))}"}


FUNCTIONS = {"device": part_device, "train": part_train, "sync": part_sync, "batches": part_batches,
             "resume": part_resume, "outputs": part_outputs, "torchrun": part_torchrun,
             "cuda_tests": part_cuda_tests, "vs_script": part_vs_script}


# --------------------------------------------------------------------------------------------- main
def main(argv=None) -> int:
    args = parse_args(argv)
    import torch
    out = Path(args.out)
    if args.dry_run or not torch.cuda.is_available():
        why = "dry run" if args.dry_run else "no CUDA device on this machine"
        summary = Summary(out, machine())
        for name in args.part_list:
            summary.add(name, "skipped", details={"summary": why})
        print(f"[gpu-check] {why}: nothing was run; bench/gpu.sh checks the GPU path on a machine with a CUDA device "
              f"(summary: {out / 'summary.txt'})")
        return 0
    from ganlab.devices import resolve
    from ganlab.errors import ConfigError
    try:
        device = resolve(args.device, "--device")
    except ConfigError as e:
        print(f"bench/gpu.sh: {e}", file=sys.stderr)
        return 2
    torch.cuda.set_device(device)
    ctx = Context(args, device)
    summary = Summary(ctx.out, machine(device))
    run_parts(args.part_list, FUNCTIONS, ctx, summary)
    print(summary.text(), end="")
    print(f"[gpu-check] summary: {ctx.out / 'summary.json'} and {ctx.out / 'summary.txt'}")
    return 1 if summary.failed() else 0


if __name__ == "__main__":
    sys.exit(main())
