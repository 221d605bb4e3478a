"""Several processes under ``torchrun``: one per GPU (or CPU process with gloo), each taking a
disjoint share of every epoch's batches, gradients averaged by DistributedDataParallel.
With one process every function here is a no-op."""
from __future__ import annotations

import os
import warnings

import torch
import torch.distributed as td
from torch.nn.parallel import DistributedDataParallel as DDP


def setup() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    if not td.is_initialized():
        td.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return td.get_rank(), td.get_world_size()


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
