"""Several processes under ``torchrun``: one per GPU (or CPU process with gloo), each taking a
disjoint share of every epoch's batches, gradients averaged by DistributedDataParallel.
With one process every function here is a no-op."""
from __future__ import annotations

import os
import warnings
from datetime import timedelta

import torch
import torch.distributed as td
from torch.nn.parallel import DistributedDataParallel as DDP

from ganlab.errors import ConfigError


def backend_for(device: torch.device) -> str:
    """The process group's backend for a run on ``device``: NCCL for CUDA, gloo for anything else (a run with
    ``--device cpu`` on a GPU machine included)."""
    return "nccl" if torch.device(device).type == "cuda" else "gloo"


def setup(timeout: float = 1800.0, device: torch.device | None = None) -> tuple[int, int]:
    """(rank, world size). ``timeout``: seconds a collective waits for the other processes before it fails, so
    that a node that died stops the others instead of leaving them waiting. ``device``: the run's device, which
    picks the backend (``backend_for``); without it, CUDA's presence does."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    if not td.is_initialized():
        if device is None:
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        td.init_process_group(backend_for(device), timeout=timedelta(seconds=timeout))
    return td.get_rank(), td.get_world_size()


# what a collective says when another process is gone or silent (gloo's and NCCL's words); narrow on purpose, so
# that a genuine error inside a step (out of memory, a bad shape) keeps its own message
PEER_FAILURE = ("timed out", "connection reset", "connection closed", "connection refused", "broken pipe",
                "by peer", "remote process exited")


def peer_failure(e: BaseException) -> bool:
    """Whether ``e`` (raised inside a training step under torchrun) says another process stopped answering."""
    return isinstance(e, td.DistError) or any(w in str(e).lower() for w in PEER_FAILURE)


class Watchdog:
    """Under torchrun, a process whose peer died can wait forever inside a collective (gloo's allreduce in DDP's
    backward does, whatever the process group's timeout). This thread ends the process with a message when no
    training step has finished for ``timeout`` seconds; ``beat()`` after every step."""

    def __init__(self, timeout: float, message):
        import threading
        self.timeout, self.message, self.last = timeout, message, None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="ganlab-watchdog", daemon=True)

    def start(self):
        import time
        self.last = time.monotonic()
        self._thread.start()
        return self

    def beat(self):
        import time
        self.last = time.monotonic()

    def stop(self):
        """End the thread and wait for it: a thread still alive at exit, holding the trainer, can make the
        process group's teardown abort."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _watch(self):
        import sys
        import time
        while not self._stop.wait(min(5.0, self.timeout / 4)):
            if time.monotonic() - self.last > self.timeout:
                print("ganlab train: " + self.message(time.monotonic() - self.last), file=sys.stderr, flush=True)
                os._exit(2)


def first_line(e: BaseException, limit: int = 160) -> str:
    line = next((ln.strip() for ln in str(e).splitlines() if ln.strip()), type(e).__name__)
    return line if len(line) <= limit else line[:limit] + "..."


def device_for_rank(device: torch.device, rank: int) -> torch.device:
    """The device of process ``rank`` under torchrun: on CUDA, the GPU of its local rank (one process per GPU);
    a CPU run stays on the CPU whatever GPUs the machine has."""
    if device.type == "cuda" and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        local = int(os.environ.get("LOCAL_RANK", rank))
        count = torch.cuda.device_count()
        if local >= count:
            raise ConfigError(f"train.device={device}: process {rank} (local rank {local}) needs GPU {local}, and "
                              f"this machine has {count}; start at most {count} process(es) per node "
                              "(torchrun --nproc_per_node), or use --device cpu")
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return device


def wrap_method(method, device):
    """Replace each of the method's modules (attributes named as in ``modules()``) with a DDP wrapper."""
    for name, module in method.modules().items():
        if any(p.requires_grad for p in module.parameters()):
            kw = {"device_ids": [device.index]} if device.type == "cuda" else {}
            with warnings.catch_warnings():  # broadcast_buffers is deprecated in favour of a flag not yet usable
                warnings.simplefilter("ignore", FutureWarning)
                # no buffer syncing inside forward: rank 0 alone runs G for the sample grids
                setattr(method, name, DDP(module, broadcast_buffers=False, **kw))
    return method


def broadcast_state(trainer) -> None:
    """Make every process start from rank 0's state: the networks' weights and buffers, the optimizers' state
    (Adam's moments and step counts), the method's own state (``extra_state``: the D step counters that decide
    when a G step comes, LeCam's moving averages, ...) and the position in the run. After a resume only rank 0
    has read the checkpoint: without all of this the ranks would disagree on when to take a G step (and enter
    different collectives) or drift apart silently."""
    if trainer.world <= 1:
        return
    comm = _comm_device(trainer.device)
    method = trainer.method
    for m in method.modules().values():
        for t in list(m.parameters()) + list(m.buffers()):
            td.broadcast(t.data, 0)
    for opt in method.optimizers().values():
        _broadcast_optimizer(opt, trainer.rank, comm)
    extra = [_on_cpu(method.extra_state()) if trainer.rank == 0 else None]
    td.broadcast_object_list(extra, src=0, device=comm if comm.type == "cuda" else None)
    if trainer.rank != 0:
        method.load_extra_state(extra[0])
    pos = torch.tensor([trainer.epoch, trainer.iter_in_epoch, trainer.global_iter, trainer.method.g_steps],
                       device=comm)
    td.broadcast(pos, 0)
    trainer.epoch, trainer.iter_in_epoch, trainer.global_iter, trainer.method.g_steps = (int(v) for v in pos.tolist())


def _comm_device(device: torch.device) -> torch.device:
    """Where tensors go for a collective: the run's GPU under NCCL (which moves only CUDA tensors), else the CPU."""
    return device if td.get_backend() == "nccl" else torch.device("cpu")


def rank0_value(value: float, device: torch.device) -> float:
    """Rank 0's ``value`` on every process (one small broadcast): for decisions every rank must take alike, such as
    a time budget's plan and its stop, which each process's own clock would otherwise take at different steps."""
    t = torch.tensor([float(value)], dtype=torch.float64, device=_comm_device(device))
    td.broadcast(t, src=0)
    return float(t.item())


def _on_cpu(obj):
    """``obj`` (dicts, lists and tuples of tensors and numbers) with every tensor on the CPU: what is pickled for
    ``broadcast_object_list``, so that no process unpickles a tensor on another process's GPU."""
    if torch.is_tensor(obj):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _on_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_on_cpu(v) for v in obj)
    return obj


def _broadcast_optimizer(opt: torch.optim.Optimizer, rank: int, comm: torch.device) -> None:
    """Rank 0's optimizer state on every process: the layout (parameter groups, the shapes and dtypes of each
    parameter's state) as one pickled object, then each tensor by a broadcast of its own."""
    if rank == 0:
        sd = opt.state_dict()
        layout = {"param_groups": sd["param_groups"],
                  "state": {pid: {k: (("tensor", tuple(v.shape), v.dtype) if torch.is_tensor(v) else ("value", v))
                                  for k, v in st.items()} for pid, st in sd["state"].items()}}
    box = [layout if rank == 0 else None]
    td.broadcast_object_list(box, src=0, device=comm if comm.type == "cuda" else None)
    layout = box[0]
    state: dict = {}
    for pid, st in layout["state"].items():
        state[pid] = {}
        for k, (kind, *what) in st.items():
            if kind == "value":
                state[pid][k] = what[0]
                continue
            if rank == 0:  # contiguous: a collective moves the storage in memory order (a channels-last moment too)
                t = sd["state"][pid][k].detach().to(comm).contiguous()
            else:
                t = torch.empty(what[0], dtype=what[1], device=comm)
            td.broadcast(t, 0)
            state[pid][k] = t
    if rank != 0:
        opt.load_state_dict({"state": state, "param_groups": layout["param_groups"]})


# --------------------------------------------------------------------------------------------- random streams
_MASK64 = (1 << 64) - 1


def _mix64(x: int) -> int:
    """SplitMix64's finaliser: a 64-bit number whose bits all depend on every bit of ``x``."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def rank_seed(seed: int, rank: int, iteration: int) -> int | None:
    """The seed of process ``rank``'s random streams for training iteration ``iteration`` under torchrun, or None
    for rank 0.

    Rank 0 draws from ``train.seed``'s stream exactly as a single process does: its streams are the ones a
    checkpoint saves, and a single-process run, or rank 0 of many, is unchanged. Every other rank reseeds torch's
    generators (the CPU's and its GPU's) before each step with a number mixed from (seed, rank, iteration)
    (``seed_rank_streams``), so that the ranks draw different noise (z, DiffAugment, the gradient penalty's
    interpolation points, label noise): n processes see n different batches of fakes, not one batch n times.
    A rank's draws then depend only on where the run is, so a resume under torchrun, which restores only rank
    0's streams from latest.pt, continues every rank exactly as an uninterrupted run would."""
    if rank == 0:
        return None
    return _mix64(_mix64(_mix64(seed & _MASK64) ^ rank) ^ iteration) >> 1  # 63 bits: any torch seed


def seed_rank_streams(seed: int, rank: int, iteration: int, device: torch.device) -> None:
    """Before training iteration ``iteration`` on process ``rank`` (a rank other than 0; rank 0 is left alone):
    seed the CPU's generator and, on CUDA, the current GPU's with ``rank_seed`` (about a microsecond: the host's
    generator states only, no device work)."""
    s = rank_seed(seed, rank, iteration)
    if s is None:
        return
    torch.default_generator.manual_seed(s)
    if device.type == "cuda":
        torch.cuda.manual_seed(s)


def cleanup() -> None:
    if td.is_initialized():
        td.destroy_process_group()
