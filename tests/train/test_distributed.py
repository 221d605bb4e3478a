"""Several processes under torchrun (gloo on the CPU): the epoch's share, the state every rank starts from after a
resume, each rank's own noise, and the backend and device each process picks."""
import json
import os
import shutil
import socket
import subprocess
import sys

import pytest
import torch

from ganlab.errors import ConfigError
from ganlab.train import distributed as dist

needs_torchrun = pytest.mark.skipif(shutil.which("torchrun") is None, reason="torchrun is not on PATH")
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
# the tiny run every test here trains: 128 digits at 16x16, 4 batches of 16 per process and epoch
TINY = ["--data", "digits", "--image-size", "16", "--limit", "128", "--batch-size", "16", "--device", "cpu",
        "--set", "model.g_width=4", "--set", "model.d_width=4", "--set", "train.progress=false",
        "--set", "train.tensorboard=false", "--set", "train.precision=fp32"]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(*args, timeout=300) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_port()),
           *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=ENV)


def _state(run):
    return torch.load(run / "checkpoints" / "latest.pt", weights_only=False)


@needs_torchrun
@pytest.mark.slow
def test_two_processes_under_torchrun_share_the_epoch(tmp_path):
    """Two CPU processes (gloo): each takes half of every epoch, rank 0 writes the run folder."""
    run = tmp_path / "run"
    res = _torchrun("-m", "ganlab.cli", "train", *TINY, "--epochs", "1", "--out", str(run))
    assert res.returncode == 0, res.stderr[-2000:]
    assert "x2" in res.stdout
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 128 // 2 // 16  # each process sees half the data per epoch
    state = _state(run)
    assert state["epoch"] == 1 and not any(k.startswith("module.") for k in state["modules"]["G"])
    assert json.loads(lines[-1])["iter"] == 3


@needs_torchrun
@pytest.mark.slow
def test_a_time_budget_under_torchrun_ends_every_rank_at_one_step(tmp_path):
    """--minutes with two processes: rank 0's clock decides, so both ranks stop at the same step (a rank that went
    on alone would wait in its next all-reduce until the timeout) and the run ends by its deadline."""
    run = tmp_path / "run"
    res = _torchrun("-m", "ganlab.cli", "train", *TINY, "--minutes", "0.1", "--out", str(run), timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "stopped by the budget" in res.stdout
    budget = _state(run)["budget"]
    assert budget["stopped_at"] == _state(run)["method_state"]["g_steps"] > 4
    assert 0.8 * 6 <= budget["used_s"] <= 6 * 1.05


@needs_torchrun
@pytest.mark.slow
def test_a_resume_under_torchrun_equals_an_uninterrupted_run(tmp_path):
    """n_critic=5 with LeCam: after a resume every rank must agree with rank 0's checkpoint on when the G steps come
    (d_steps), on LeCam's averages and on Adam's moments, or the ranks enter different collectives (a hang) or drift
    apart. Stopped after 2 epochs (8 D steps, 1 G step, so 8 % 5 != 0) and resumed to 3, it ends as a run of 3."""
    flags = [*TINY, "--set", "train.n_critic=5", "--set", "objective.lecam_weight=0.1",
             "--set", "train.dist_timeout=60"]  # a hang (ranks in different collectives) ends in a minute
    full, part = tmp_path / "full", tmp_path / "part"
    res = _torchrun("-m", "ganlab.cli", "train", *flags, "--epochs", "3", "--out", str(full))
    assert res.returncode == 0, res.stderr[-2000:]
    res = _torchrun("-m", "ganlab.cli", "train", *flags, "--epochs", "2", "--out", str(part))
    assert res.returncode == 0, res.stderr[-2000:]
    saved = _state(part)
    assert saved["method_state"]["d_steps"] == 8 and saved["method_state"]["g_steps"] == 1
    assert saved["method_state"]["lecam_ema"] is not None
    assert all(opt["state"] for opt in saved["optimizers"].values())  # Adam's moments of D and of G
    res = _torchrun("-m", "ganlab.cli", "train", "--resume", str(part), "--epochs", "3")
    assert res.returncode == 0, [line for line in res.stderr.splitlines() if "ganlab" in line or "Error" in line]
    a, b = _state(full), _state(part)
    assert (a["epoch"], a["global_iter"]) == (b["epoch"], b["global_iter"]) == (3, 12)
    assert a["method_state"]["g_steps"] == b["method_state"]["g_steps"] == 2
    assert a["method_state"]["d_steps"] == b["method_state"]["d_steps"] == 12
    assert torch.equal(a["method_state"]["lecam_ema"], b["method_state"]["lecam_ema"])
    for net in a["modules"]:
        for k, v in a["modules"][net].items():
            assert torch.equal(v, b["modules"][net][k]), (net, k)
    for name, opt in a["optimizers"].items():
        for pid, st in opt["state"].items():
            for k, v in st.items():
                assert torch.equal(v, b["optimizers"][name]["state"][pid][k]), (name, pid, k)


SPY = """
import hashlib, json, os, sys
import torch
from ganlab.cli import main
from ganlab.methods import METHODS

cls, states = METHODS["gan"], []
step = cls.train_step


def spy(self, batch):  # the state of the random stream each step starts from
    states.append(hashlib.sha1(torch.get_rng_state().numpy().tobytes()).hexdigest())
    return step(self, batch)


cls.train_step = spy
rc = main(sys.argv[2:])
with open(os.path.join(sys.argv[1], f"rank{os.environ.get('RANK', 'single')}.json"), "w") as f:
    json.dump(states, f)
sys.exit(rc)
"""


@needs_torchrun
@pytest.mark.slow
def test_each_rank_draws_its_own_noise_and_rank_0_draws_a_single_processs(tmp_path):
    """train.seed seeds every process alike; each step of a rank other than 0 then starts from its own stream
    (different z, DiffAugment draws, penalty points, label noise on every rank), while rank 0 draws exactly what a
    single process draws (its streams are the ones a checkpoint saves)."""
    spy = tmp_path / "spy.py"
    spy.write_text(SPY)
    args = [*TINY, "--epochs", "1", "--set", "tricks.diffaug=[translation]"]
    res = _torchrun(str(spy), str(tmp_path), "train", *args, "--out", str(tmp_path / "two"))
    assert res.returncode == 0, res.stderr[-2000:]
    res = subprocess.run([sys.executable, str(spy), str(tmp_path), "train", *args, "--limit", "64",
                          "--out", str(tmp_path / "one")], capture_output=True, text=True, timeout=300, env=ENV)
    assert res.returncode == 0, res.stderr[-2000:]
    r0, r1, single = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in ("0", "1", "single"))
    assert len(r0) == len(r1) == len(single) == 4
    assert all(a != b for a, b in zip(r0, r1))  # a different stream on each rank at every step
    assert len(set(r1)) == len(r1)
    assert r0 == single  # rank 0: unchanged


def test_rank_seeds_are_distinct_and_depend_only_on_the_position():
    assert dist.rank_seed(0, 0, 5) is None  # rank 0 keeps train.seed's stream
    seeds = {dist.rank_seed(seed, rank, it) for seed in (0, 1) for rank in (1, 2, 3) for it in range(50)}
    assert len(seeds) == 2 * 3 * 50 and all(0 <= s < 2 ** 63 for s in seeds)
    assert dist.rank_seed(7, 2, 11) == dist.rank_seed(7, 2, 11)


def test_seeding_a_rank_leaves_rank_0_alone_and_moves_the_others():
    torch.manual_seed(3)
    before = torch.get_rng_state()
    dist.seed_rank_streams(3, 0, 10, torch.device("cpu"))
    assert torch.equal(torch.get_rng_state(), before)
    dist.seed_rank_streams(3, 1, 10, torch.device("cpu"))
    a = torch.randn(8)
    dist.seed_rank_streams(3, 1, 10, torch.device("cpu"))
    assert torch.equal(a, torch.randn(8))  # the position alone decides
    dist.seed_rank_streams(3, 2, 10, torch.device("cpu"))
    assert not torch.equal(a, torch.randn(8))


# ------------------------------------------------------------------------------------ backend and device
@pytest.fixture
def one_gpu(monkeypatch):
    """A machine with one (pretended) GPU, under torchrun with two processes on it; set_device is recorded."""
    calls = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "set_device", calls.append)
    monkeypatch.setenv("WORLD_SIZE", "2")
    return calls


def test_the_backend_follows_the_runs_device_not_cudas_presence(one_gpu):
    assert dist.backend_for(torch.device("cpu")) == "gloo"
    assert dist.backend_for(torch.device("cuda")) == "nccl"
    assert dist.backend_for(torch.device("cuda:0")) == "nccl"


def test_setup_initialises_the_group_with_the_runs_backend(one_gpu, monkeypatch):
    got = []
    monkeypatch.setattr(dist.td, "is_initialized", lambda: False)
    monkeypatch.setattr(dist.td, "init_process_group", lambda backend, **kw: got.append(backend))
    monkeypatch.setattr(dist.td, "get_rank", lambda: 1)
    monkeypatch.setattr(dist.td, "get_world_size", lambda: 2)
    assert dist.setup(60, torch.device("cpu")) == (1, 2)
    assert dist.setup(60, torch.device("cuda")) == (1, 2)
    assert got == ["gloo", "nccl"]


def test_a_cpu_run_stays_on_the_cpu_whatever_gpus_there_are(one_gpu, monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert dist.device_for_rank(torch.device("cpu"), 1) == torch.device("cpu")
    assert one_gpu == []  # no GPU was asked for


def test_more_processes_than_gpus_is_one_line(one_gpu, monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert dist.device_for_rank(torch.device("cuda"), 0) == torch.device("cuda", 0) and one_gpu == [0]
    monkeypatch.setenv("LOCAL_RANK", "1")
    with pytest.raises(ConfigError, match=r"process 1 \(local rank 1\) needs GPU 1, and this machine has 1") as e:
        dist.device_for_rank(torch.device("cuda"), 1)
    assert "\n" not in str(e.value) and "--nproc_per_node" in str(e.value)
