"""ganlab sweep --backend ray: every grid point a Ray task on a local Ray instance the sweep starts, with the
local backend's skip / resume semantics and the same run folders, report and sweep.json."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ganlab.cli import main

pytest.importorskip("ray", reason="the cluster extra (ray) is not installed")
pytestmark = pytest.mark.slow  # each test starts a local Ray instance and trains in its workers

TINY = ["--data", "digits", "--image-size", "16", "--limit", "64", "--batch-size", "32", "--latent-dim", "8",
        "--set", "model.g_width=4", "--set", "model.d_width=4", "--set", "train.progress=false",
        "--set", "train.tensorboard=false"]


def g_steps(run: Path) -> int:
    return torch.load(run / "checkpoints" / "latest.pt", weights_only=False)["method_state"]["g_steps"]


def test_a_ray_sweep_trains_skips_and_resumes(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    out = tmp_path / "sw"
    args = ["sweep", "dcgan", "--grid", "model.upsample=deconv,nearest,bilinear", "--out", str(out), *TINY,
            "--backend", "ray", "--cpus-per-run", "1"]
    # one point was trained before and stopped short of the plan: the ray sweep continues it
    from ganlab.cli import build_parser
    from ganlab.cli.train import flag_values
    from ganlab.experiment import load_experiment
    from ganlab.train import train
    ns = build_parser().parse_args(["sweep", "dcgan", "--grid", "x=1", *TINY, "--steps", "1"])
    cfg = load_experiment("dcgan", ns.set + ["model.upsample=nearest"], flag_values(ns))
    train(cfg, out=out / "upsample=nearest", log=lambda *a: None)
    assert main([*args, "--steps", "3"]) == 0
    text = capsys.readouterr().out
    assert "queued upsample=nearest (resume) on Ray" in text and text.count("[sweep] done") == 3
    names = ["upsample=deconv", "upsample=nearest", "upsample=bilinear"]
    for n in names:
        assert g_steps(out / n) == 3 and (out / "logs" / f"{n}.log").is_file()
    summary = json.loads((out / "sweep.json").read_text())
    assert summary["backend"] == "ray" and summary["failed"] == []
    assert all(n in (out / "report.html").read_text() for n in names)
    # again: all finished, nothing queued
    assert main([*args, "--steps", "3"]) == 0
    text = capsys.readouterr().out
    assert text.count("[sweep] skip") == 3 and "queued" not in text


def test_ctrl_c_leaves_every_ray_run_resumable(tmp_path, capsys):
    """SIGINT to the sweep: the Ray tasks are cancelled, each run gets SIGTERM and saves its checkpoint; the
    same sweep command then finishes them."""
    out = tmp_path / "sw"
    cmd = [sys.executable, "-m", "ganlab", "sweep", "dcgan", "--grid", "model.upsample=deconv,nearest", "--out",
           str(out), *TINY, "--epochs", "100000", "--set", "train.checkpoint_minutes=0.001", "--backend", "ray",
           "--no-report"]
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    deadline = time.time() + 180
    while not all((out / n / "checkpoints" / "latest.pt").is_file() for n in ("upsample=deconv", "upsample=nearest")):
        assert time.time() < deadline and proc.poll() is None, proc.stdout.read() if proc.poll() is not None else ""
        time.sleep(0.5)
    time.sleep(2)
    proc.send_signal(signal.SIGINT)
    text = proc.communicate(timeout=240)[0]
    assert proc.returncode != 0
    steps = {n: g_steps(out / n) for n in ("upsample=deconv", "upsample=nearest")}
    assert all(s > 0 for s in steps.values()), text[-2000:]
    args = ["sweep", "dcgan", "--grid", "model.upsample=deconv,nearest", "--out", str(out), *TINY, "--backend",
            "ray", "--no-report", "--set", "train.checkpoint_minutes=0.001"]
    capsys.readouterr()
    assert main([*args, "--epochs", "100000", "--dry-run"]) == 0
    assert capsys.readouterr().out.count("(resume)") == 2  # both stopped cleanly, to be continued


def test_a_ray_sweep_runs_every_seed(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    out = tmp_path / "sw"
    assert main(["sweep", "dcgan", "--seeds", "0,3", "--out", str(out), *TINY, "--steps", "2", "--backend", "ray",
                 "--cpus-per-run", "1"]) == 0
    assert capsys.readouterr().out.count("[sweep] done") == 2
    import yaml
    seeds = [yaml.safe_load((out / f"seed={s}" / "config.yaml").read_text())["train"]["seed"] for s in (0, 3)]
    assert seeds == [0, 3]
    a, b = (torch.load(out / f"seed={s}" / "checkpoints" / "latest.pt", weights_only=False) for s in (0, 3))
    assert not torch.equal(next(iter(a["modules"]["G"].values())), next(iter(b["modules"]["G"].values())))
