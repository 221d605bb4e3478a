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


def setup(timeout: float = 1800.0) -> tuple[int, int]:
    """(rank, world size). ``timeout``: seconds a collective waits for the other processes before it fails, so
    that a node that died stops the others instead of leaving them waiting."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    if not td.is_initialized():
        td.init_process_group("nccl" if torch.cuda.is_available() else "gloo", timeout=timedelta(seconds=timeout))
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
    if device.type == "cuda" and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        local = int(os.environ.get("LOCAL_RANK", rank))
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return device


def unwrap(module):
    return module.module if isinstance(module, DDP) else module


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
    """Make every process start from rank 0's weights and position (after a resume, say)."""
    if trainer.world <= 1:
        return
    for m in trainer.method.modules().values():
        for t in list(m.parameters()) + list(m.buffers()):
            td.broadcast(t.data, 0)
    pos = torch.tensor([trainer.epoch, trainer.iter_in_epoch, trainer.global_iter, trainer.method.g_steps],
                       device=trainer.device if trainer.device.type == "cuda" else "cpu")
    td.broadcast(pos, 0)
    trainer.epoch, trainer.iter_in_epoch, trainer.global_iter, trainer.method.g_steps = (int(v) for v in pos.tolist())


def cleanup() -> None:
    if td.is_initialized():
        td.destroy_process_group()
