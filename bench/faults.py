"""The fault campaign: real processes killed, signalled and starved of disk at random moments and at chosen
phases, each then resumed (or, when it stopped before its run folder was whole, started again) and compared
with an undisturbed run of the same command: the final weights of every network bit for bit, the metrics log
(every iteration once, in order) and the evaluation rows.

    python bench/faults.py --trials 10 --out /tmp/faults

Faults:
  kill9, sigterm, sigint     at a uniformly random moment of the undisturbed run's duration
  sigterm-twice              two SIGTERMs 50 ms apart (the second stops at once, unsaved)
  <sig>@decode / @eval / @checkpoint
                             the signal sent by the process to itself in the middle of the first image decode,
                             of an evaluation, of a checkpoint write (a hook module wraps those functions; the
                             signal handling is ganlab's own)
  disk-full                  the run folder on a tmpfs of random size (needs root for mount; skipped
                             otherwise); after the failure the tmpfs is grown and the run resumed

Prints a table (tried / held / failed per fault) and writes results.json and faults.png to --out.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HOOK = '''
import os, signal, sys
sig, phase, nth = int(os.environ["FAULT_SIG"]), os.environ["FAULT_PHASE"], int(os.environ["FAULT_NTH"])
count = {"n": 0}
def wrap(mod, name):
    real = getattr(mod, name)
    def hooked(*a, **k):
        count["n"] += 1
        if count["n"] == nth:
            os.kill(os.getpid(), sig)
        return real(*a, **k)
    setattr(mod, name, hooked)
if phase == "decode":
    import ganlab.data.images as m; wrap(m, "load_image")
elif phase == "eval":
    import ganlab.eval.during_training as m; wrap(m, "compute")
elif phase == "checkpoint":
    import ganlab.files as m; wrap(m.torch, "save")
from ganlab.cli import main
sys.exit(main(sys.argv[1:]))
'''


def make_images(folder: Path) -> None:
    """The scikit-learn digits as 1,797 PNG files (a folder to decode, unlike the built-in array)."""
    from PIL import Image
    from sklearn.datasets import load_digits
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(load_digits().images):
        Image.fromarray((img * 255 / 16).astype(np.uint8)).resize((24, 24)).save(folder / f"{i:04d}.png")


def train_args(data: Path, out: Path, epochs: int) -> list[str]:
    return ["train", "--data", str(data), "--image-size", "16", "--channels", "1", "--epochs", str(epochs),
            "--batch-size", "32", "--out", str(out), "--set", "train.progress=false",
            "--set", "model.g_width=8", "--set", "model.d_width=8", "--set", "train.checkpoint_minutes=0.02",
            "--set", "eval.every=1", "--set", "eval.metrics=[swd]", "--set", "eval.n=256"]


def run(args: list[str], env: dict, hook: Path | None = None, fault_env: dict | None = None):
    cmd = [sys.executable, str(hook)] + args if hook else [sys.executable, "-m", "ganlab"] + args
    return subprocess.Popen(cmd, env={**env, **(fault_env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=_default_signals)


def _default_signals():  # a background job (nohup, &) starts with SIGINT ignored, and its children inherit that
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def outcome(run_dir: Path) -> dict:
    from ganlab.runs.checkpoint import load_run_state
    state = load_run_state(run_dir / "checkpoints" / "latest.pt")
    iters = [json.loads(x)["iter"] for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    evals = [(r["epoch"], r["metric"], r["value"]) for r in map(json.loads,
             (run_dir / "eval.jsonl").read_text().splitlines())] if (run_dir / "eval.jsonl").exists() else []
    return {"modules": state["modules"], "iters": iters, "evals": evals, "epoch": state["epoch"]}


def same(a: dict, b: dict) -> str | None:
    import torch
    if a["epoch"] != b["epoch"]:
        return f"ended at epoch {b['epoch']}, not {a['epoch']}"
    for net in a["modules"]:
        for k, v in a["modules"][net].items():
            if not torch.equal(v, b["modules"][net][k]):
                return f"{net}.{k} differs"
    if a["iters"] != b["iters"]:
        return f"metrics.jsonl has {len(b['iters'])} iterations, not {len(a['iters'])} in order"
    if a["evals"] != b["evals"]:
        return f"eval.jsonl has {len(b['evals'])} rows, not the reference's {len(a['evals'])}"
    return None


def finish(args_fn, run_dir: Path, env: dict, timeout: float) -> tuple[str, str]:
    """Resume (or start again) and compare; returns (status, reason)."""
    if (run_dir / "config.yaml").exists():
        cmd = ["train", "--resume", str(run_dir)]
    elif run_dir.exists():
        return "failed", f"half-made run folder left: {sorted(p.name for p in run_dir.iterdir())}"
    else:
        cmd = args_fn(run_dir)
    p = run(cmd, env)
    out, err = p.communicate(timeout=timeout)
    if p.returncode != 0:
        return "failed", f"resume exited {p.returncode}: {err.strip().splitlines()[-1:]}"
    return "ok", ""


def clean_exit(rc: int, err: str, sig: int | None) -> str | None:
    if "Traceback" in err:
        return "traceback: " + err.strip().splitlines()[-1]
    if sig is not None and rc not in (128 + sig, -sig, 0):
        return f"exit status {rc} after {signal.Signals(sig).name}"
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=10, help="trials per random-moment fault (default 10)")
    ap.add_argument("--phase-trials", type=int, default=3, help="trials per phase-targeted fault (default 3)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="bench-faults")
    ap.add_argument("--only", help="comma-separated fault names to run")
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="ganlab-faults-"))
    data = work / "digits-png"
    make_images(data)
    hook = work / "hook.py"
    hook.write_text(HOOK)
    base_env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    def env_for(trial: str) -> dict:  # a fresh data cache per trial: every run decodes the folder first
        return {**base_env, "GANLAB_CACHE": str(work / "cache" / trial)}

    args_fn = lambda d: train_args(data, d, a.epochs)  # noqa: E731

    t0 = time.monotonic()
    p = run(args_fn(work / "reference"), env_for("reference"))
    _, err = p.communicate()
    duration = time.monotonic() - t0
    if p.returncode != 0:
        print(err)
        return 1
    reference = outcome(work / "reference")
    print(f"reference run: {duration:.1f} s, {len(reference['iters'])} iterations, {len(reference['evals'])} "
          f"evaluation rows")

    faults = []
    for name, sig in (("kill9", signal.SIGKILL), ("sigterm", signal.SIGTERM), ("sigint", signal.SIGINT),
                      ("sigterm-twice", signal.SIGTERM)):
        faults += [(name, sig, None, rnd.uniform(0.02, 0.98) * duration) for _ in range(a.trials)]
    for phase, nth in (("decode", lambda: rnd.randint(1, 1500)), ("eval", lambda: rnd.randint(1, a.epochs)),
                       ("checkpoint", lambda: rnd.randint(1, 12))):
        for name, sig in (("sigterm", signal.SIGTERM), ("sigint", signal.SIGINT)):
            faults += [(f"{name}@{phase}", sig, phase, nth()) for _ in range(a.phase_trials)]
    can_mount = os.geteuid() == 0 and shutil.which("mount") is not None
    faults += [("disk-full", None, "disk", rnd.randint(64, 1200) * 1024) for _ in range(a.trials if can_mount else 0)]
    if a.only:
        keep = set(a.only.split(","))
        faults = [f for f in faults if f[0] in keep]

    results = []
    for i, (name, sig, phase, when) in enumerate(faults):
        run_dir = work / f"t{i:03d}"
        env = env_for(f"t{i:03d}")
        reason, status = None, "ok"
        mounted = None
        if phase == "disk":
            mounted = work / f"mnt{i:03d}"
            mounted.mkdir()
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={when}", "tmpfs", str(mounted)], check=True)
            run_dir = mounted / "run"
            p = run(args_fn(run_dir), env)
            _, err = p.communicate(timeout=duration * 10)
            lines = [x for x in err.strip().splitlines() if x]
            if p.returncode == 0:
                status = "no fault"  # it fitted
            elif p.returncode != 2 or "No space left on device" not in (lines[-1] if lines else "") \
                    or "Traceback" in err:
                status, reason = "failed", f"exit {p.returncode}: {lines[-1:]}"
            subprocess.run(["mount", "-o", "remount,size=64m", str(mounted)], check=True)  # space is freed
        elif phase is None:
            p = run(args_fn(run_dir), env)
            time.sleep(when)
            sent = p.poll() is None
            if sent:
                os.kill(p.pid, sig)
                if name == "sigterm-twice":
                    time.sleep(0.05)
                    if p.poll() is None:
                        os.kill(p.pid, sig)
            _, err = p.communicate(timeout=duration * 10)
            reason = clean_exit(p.returncode, err, None if sig == signal.SIGKILL else sig)
            status = "failed" if reason else "ok" if sent else "no fault"  # it had finished already
        else:
            p = run(args_fn(run_dir), env, hook, {"FAULT_SIG": str(int(sig)), "FAULT_PHASE": phase,
                                                  "FAULT_NTH": str(when)})
            _, err = p.communicate(timeout=duration * 10)
            reason = clean_exit(p.returncode, err, sig)
            status = "failed" if reason else "no fault" if p.returncode == 0 else "ok"  # 0: the call never came
        if status == "ok":
            status, reason = finish(args_fn, run_dir, env, duration * 10)
        if status == "ok":
            diff = same(reference, outcome(run_dir))
            status, reason = ("failed", diff) if diff else ("held", "")
        if mounted is not None:
            subprocess.run(["umount", str(mounted)], check=False)
        results.append({"fault": name, "when": when, "status": status, "reason": reason or ""})
        print(f"{i + 1:3d}/{len(faults)} {name:<22} {when:>10.2f} {status}" + (f": {reason}" if reason else ""),
              flush=True)

    table: dict[str, dict[str, int]] = {}
    for r in results:
        t = table.setdefault(r["fault"], {"tried": 0, "held": 0, "failed": 0, "no fault": 0})
        t["tried"] += 1
        t[r["status"]] += 1
    print(f"\n{'fault':<22} tried  held  failed  (no fault)")
    for name, t in table.items():
        print(f"{name:<22} {t['tried']:>5} {t['held']:>5} {t['failed']:>7}  ({t['no fault']})")
    tot = {k: sum(t[k] for t in table.values()) for k in ("tried", "held", "failed", "no fault")}
    print(f"{'all':<22} {tot['tried']:>5} {tot['held']:>5} {tot['failed']:>7}  ({tot['no fault']})")
    (out / "results.json").write_text(json.dumps({"reference_seconds": duration, "results": results,
                                                  "table": table}, indent=1))
    plot(table, out / "faults.png")
    print(f"wrote {out / 'results.json'} and {out / 'faults.png'}")
    shutil.rmtree(work, ignore_errors=True)
    return 1 if tot["failed"] else 0


def plot(table: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = list(table)
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(names) + 1.2), dpi=110)
    y = np.arange(len(names))
    held = np.array([table[n]["held"] for n in names])
    failed = np.array([table[n]["failed"] for n in names])
    none = np.array([table[n]["no fault"] for n in names])
    ax.barh(y, held, color="tab:green", label="held (bit-identical after resume)")
    ax.barh(y, failed, left=held, color="tab:red", label="failed")
    ax.barh(y, none, left=held + failed, color="lightgrey", label="fault did not occur")
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlabel("trials")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
