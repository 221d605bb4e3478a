import json
import shutil
import subprocess
import sys

import pytest
import torch


@pytest.mark.skipif(shutil.which("torchrun") is None, reason="torchrun is not on PATH")
def test_two_processes_under_torchrun_share_the_epoch(tmp_path):
    """Two CPU processes (gloo): each takes half of every epoch, rank 0 writes the run folder."""
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
           "-m", "ganlab.cli", "train", "--data", "digits", "--image-size", "16", "--limit", "128",
           "--batch-size", "16", "--epochs", "1", "--set", "model.g_width=4", "--set", "model.d_width=4",
           "--set", "train.progress=false", "--set", "train.tensorboard=false", "--out", str(run)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env={**__import__("os").environ,
                                                                                 "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr[-2000:]
    assert "x2" in res.stdout
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 128 // 2 // 16  # each process sees half the data per epoch
    state = torch.load(run / "checkpoints" / "latest.pt", weights_only=False)
    assert state["epoch"] == 1 and not any(k.startswith("module.") for k in state["modules"]["G"])
    assert json.loads(lines[-1])["iter"] == 3
