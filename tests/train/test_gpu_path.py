"""The parts of the GPU path that can be shown on a CPU: a checkpoint carrying more CUDA random states than the
machine has GPUs, the data set held once on the device, the step-time split measured at a few points (not per step),
and the statistics of every step required on the method's device."""
import time
import warnings

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from ganlab.methods import METHODS
from ganlab.runs import checkpoint as ckpt
from ganlab.runs.folder import RunDir
from ganlab.train import loop, resume_config, train
from ganlab.train.batches import InMemory, fill_by_chunks

QUIET = {"log": lambda *a: None}


# ------------------------------------------------------------------------------------ CUDA random states
@pytest.fixture
def fake_cuda(monkeypatch):
    """``fake_cuda(n)``: CUDA with ``n`` GPUs, as far as restoring random states goes; each state set is recorded,
    and (as torch does) setting the state of a GPU the machine lacks fails."""
    restored = []

    def make(n: int):
        def set_rng_state(state, device="cuda"):
            i = device if isinstance(device, int) else (torch.device(device).index or 0)
            if i >= n:
                raise RuntimeError(f"CUDA error: invalid device ordinal {i}")
            restored.append((i, bytes(state.numpy())))
        monkeypatch.setattr(torch.cuda, "is_available", lambda: n > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: n)
        monkeypatch.setattr(torch.cuda, "set_rng_state", set_rng_state)
        monkeypatch.setattr(torch.cuda.random, "set_rng_state", set_rng_state)  # what set_rng_state_all calls
        return restored
    return make


def _cpu_state(n_cuda: int) -> dict:
    state = ckpt.rng_state()
    state["cuda"] = [torch.full((16,), i, dtype=torch.uint8) for i in range(n_cuda)]
    return state


@pytest.mark.parametrize("saved, here, restored", [(4, 1, 1), (4, 0, 0), (2, 2, 2), (1, 3, 1)])
def test_cuda_random_states_are_restored_as_far_as_the_gpus_go(fake_cuda, saved, here, restored):
    got = fake_cuda(here)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        ckpt.set_rng_state(_cpu_state(saved))
    assert [i for i, _ in got] == list(range(restored))
    assert [b[0] for _, b in got] == list(range(restored))  # state i on GPU i
    said = [str(x.message) for x in w]
    if saved > here:
        assert len(said) == 1 and f"random state of {saved} CUDA device(s) and this machine has {here}" in said[0]
    else:
        assert said == []


@pytest.mark.slow
def test_a_checkpoint_from_a_four_gpu_machine_resumes_on_the_cpu(tmp_path, tiny_config, same_run):
    """Four CUDA random states in latest.pt, resumed on a CPU-only machine: one warning, and the run goes on as an
    uninterrupted CPU run (the CUDA states never mattered to it)."""
    full = train(tiny_config(), out=tmp_path / "full", **QUIET)
    part = train(tiny_config(**{"train.epochs": 1}), out=tmp_path / "part", **QUIET)
    latest = RunDir(part.path).latest
    state = torch.load(latest, weights_only=False)
    state["rng"]["cuda"] = [torch.zeros(16, dtype=torch.uint8) for _ in range(4)]
    torch.save(state, latest)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        with pytest.MonkeyPatch.context() as m:
            m.setattr(torch.cuda, "is_available", lambda: False)  # CPU-only, on any machine
            train(resume_config(part, {"train.epochs": 2}), resume=part.path, **QUIET)
    said = [str(x.message) for x in w if "CUDA device(s)" in str(x.message)]
    assert len(said) == 1 and "4 CUDA device(s) and this machine has 0" in said[0]
    assert same_run(full.path, part.path)


# ------------------------------------------------------------------------------------ the data set on the device
class _Allocations(TorchDispatchMode):
    """Records every new tensor of at least ``numel`` elements made on ``device`` (views, and ops that write into a
    tensor given to them, left out)."""

    def __init__(self, device: str, numel: int):
        super().__init__()
        self.device, self.numel, self.made = device, numel, []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        writes = any(a.alias_info is not None and a.alias_info.is_write for a in func._schema.arguments)
        if not func.is_view and not writes:
            for t in out if isinstance(out, (list, tuple)) else [out]:
                if torch.is_tensor(t) and t.device.type == self.device and t.numel() >= self.numel:
                    self.made.append(func.__name__)
        return out


def test_the_in_memory_set_is_made_once_on_the_device():
    """A device copy, then a channels-last copy of it, held the set twice at start; now one tensor of the set's size
    is made there (the "meta" device stands in for a GPU: it allocates nothing, and its tensors are counted)."""
    data = torch.randint(0, 256, (300, 3, 8, 8), dtype=torch.uint8)
    with _Allocations("meta", data.numel()) as seen:
        src = InMemory(data, torch.device("meta"), channels_last=True)
    assert seen.made == ["empty.memory_format"]
    assert src.data.shape == data.shape and src.data.is_contiguous(memory_format=torch.channels_last)
    with _Allocations("meta", data.numel()) as seen:
        InMemory(data, torch.device("meta"), channels_last=False)
    assert len(seen.made) == 1


def test_the_chunked_copy_keeps_every_value_and_the_layout():
    data = torch.randint(0, 256, (37, 3, 5, 4), dtype=torch.uint8)
    out = torch.empty(data.shape, dtype=data.dtype, memory_format=torch.channels_last)
    fill_by_chunks(out, data, chunk_bytes=3 * 5 * 4 * 4)  # 4 rows at a time, the last chunk short
    assert torch.equal(out, data) and out.is_contiguous(memory_format=torch.channels_last)
    cpu = InMemory(data, torch.device("cpu"), channels_last=True).data
    assert torch.equal(cpu, data) and cpu.is_contiguous(memory_format=torch.channels_last)


# ------------------------------------------------------------------------------------ the step-time split
@pytest.mark.slow
def test_the_steps_are_measured_at_a_few_points_not_per_step(tmp_path, tiny_config, monkeypatch):
    """On CUDA a step returns once its kernels are queued: the loop synchronizes at its measuring points (each flush,
    the start of each timed part) and counts the wait as step time; never once per step."""
    waits = []

    def synchronize(device):
        waits.append(device)
        time.sleep(0.05)  # the GPU finishing the queued steps
    monkeypatch.setattr(loop.devices, "synchronize", synchronize)
    seen = {}
    real_report = loop.Trainer.time_report

    def report(self, total):
        seen["timing"], seen["steps"] = dict(self.timing), self.global_iter
        return real_report(self, total)
    monkeypatch.setattr(loop.Trainer, "time_report", report)
    train(tiny_config(**{"train.epochs": 1, "train.batch_size": 8, "train.log_every": 100}), out=tmp_path / "r",
          **QUIET)
    assert seen["steps"] == 16 and 0 < len(waits) < seen["steps"] / 2
    assert all(d == torch.device("cpu") for d in waits)
    assert seen["timing"]["steps"] >= 0.05 * len(waits)  # the waits are the steps' time


# ------------------------------------------------------------------------------------ stats on the device
@pytest.fixture
def step_returns(monkeypatch):
    """``step_returns(name, value)``: the GAN's training step adds the statistic ``name`` = ``value``."""
    def add(name, value):
        step = METHODS["gan"].train_step

        def with_extra(self, batch):
            return {**step(self, batch), name: value}
        monkeypatch.setattr(METHODS["gan"], "train_step", with_extra)
    return add


def test_a_statistic_off_the_methods_device_fails_loudly_naming_it(tmp_path, tiny_config, step_returns):
    step_returns("d_updates", torch.zeros((), device="meta"))
    with pytest.raises(RuntimeError, match=r"train_step returned d_updates on meta at iteration 0, not on the "
                                           r"method's device cpu") as e:
        train(tiny_config(**{"train.epochs": 1}), out=tmp_path / "r", **QUIET)
    assert "\n" not in str(e.value)


def test_a_statistic_that_is_no_tensor_is_named(tmp_path, tiny_config, step_returns):
    step_returns("d_updates", 2.0)
    with pytest.raises(RuntimeError, match=r"returned d_updates=2.0 at iteration 0, not a tensor"):
        train(tiny_config(**{"train.epochs": 1}), out=tmp_path / "r", **QUIET)


def test_cuda_without_an_index_is_the_current_gpu():
    assert loop._same_device(torch.device("cuda", 0), torch.device("cuda"))
    assert not loop._same_device(torch.device("cuda", 0), torch.device("cuda", 1))
    assert not loop._same_device(torch.device("meta"), torch.device("cpu"))


# ------------------------------------------------------------------------------------ on a GPU (marker cuda)
@pytest.mark.cuda
@pytest.mark.parametrize("method", sorted(METHODS) + ["gan-dynamic"])
def test_every_method_trains_on_the_gpu(tmp_path, tiny_config, method):
    """Every value a step returns is on the GPU (the loop's flush asserts it), the dynamic updates' counts too."""
    values = {"tricks.dynamic": True} if method == "gan-dynamic" else {}
    run = train(tiny_config(method=method.split("-")[0], **{"train.device": "cuda", "train.steps": 2,
                                                            "train.epochs": 100, **values}),
                out=tmp_path / "r", **QUIET)
    assert torch.load(RunDir(run.path).latest, weights_only=False)["method_state"]["g_steps"] == 2


@pytest.mark.cuda
def test_auto_precision_follows_the_gpus_capability():
    from ganlab import precision
    major, _ = torch.cuda.get_device_capability()
    assert precision.choose("auto", torch.device("cuda"))[0] == ("bf16" if major >= 8 else "fp32")


@pytest.mark.cuda
def test_the_in_memory_set_takes_its_size_once_on_the_gpu():
    data = torch.randint(0, 256, (2048, 3, 64, 64), dtype=torch.uint8)  # 24 MiB
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    src = InMemory(data, torch.device("cuda"), channels_last=True)
    torch.cuda.synchronize()
    assert torch.cuda.max_memory_allocated() - base <= data.numel() * 1.02 + 2 ** 21
    assert torch.equal(src.data.cpu(), data) and src.data.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.cuda
def test_a_gpu_checkpoint_resumes_on_the_cpu(tmp_path, tiny_config):
    run = train(tiny_config(**{"train.device": "cuda", "train.epochs": 1}), out=tmp_path / "r", **QUIET)
    train(resume_config(run, {"train.epochs": 2, "train.device": "cpu"}), resume=run.path, **QUIET)
    assert torch.load(RunDir(run.path).latest, weights_only=False)["epoch"] == 2
