"""Which device a run or a command computes on: ``auto`` resolved in this one place, and a named device checked
against the machine (CUDA present, ``cuda:N`` within the device count) before any work starts.

Every entry point that takes a device name (``train.device``, the commands' ``--device``, ``ganlab.load``,
the feature extractors, the classifier) resolves it here, so ``auto`` never reaches ``torch.device``.
"""
from __future__ import annotations

import re

import torch

from ganlab.errors import ConfigError

NAMES = re.compile(r"(auto|cpu|mps|cuda(:\d+)?)")


def resolve(name, what: str = "train.device") -> torch.device:
    """The torch.device for ``name`` (auto, cpu, cuda, cuda:N, mps, or a torch.device): ``auto`` is the first CUDA
    device where there is one, else the CPU. ConfigError (one line naming ``what`` and the value) for a device
    this machine does not have. ``what`` is the setting's name in the message (``--device``, say)."""
    if isinstance(name, torch.device):
        text = str(name)
    elif isinstance(name, str) and NAMES.fullmatch(name.strip()):
        text = name.strip()
    else:
        raise ConfigError(f"{what}={name!r} is not a device; use auto, cpu, cuda or cuda:N")
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(text)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"{what}={text}: CUDA is not available on this machine; use cpu or auto")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            have = "cuda:0" if count == 1 else f"cuda:0 to cuda:{count - 1}"
            raise ConfigError(f"{what}={text}: this machine has {count} CUDA device(s) ({have}); use one of them, "
                              "cuda, cpu or auto")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"{what}={text}: MPS (Apple's GPU) is not available on this machine; use cpu or auto")
    return device


def synchronize(device) -> None:
    """Wait for the work queued on ``device`` (a CUDA or MPS device) to finish; nothing on the CPU. For timings: on
    a GPU a step returns once its kernels are queued, not run."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def use_cudnn_autotuner(device) -> bool:
    """For training on a CUDA device, whose batches keep one shape: let cuDNN time its convolution algorithms once
    per input shape and keep the fastest (``torch.backends.cudnn.benchmark``). Left off on other devices and where
    deterministic algorithms are asked for (``torch.use_deterministic_algorithms``: the fastest algorithm can differ
    from run to run). Returns whether it was turned on."""
    if torch.device(device).type != "cuda" or torch.are_deterministic_algorithms_enabled():
        return False
    torch.backends.cudnn.benchmark = True
    return True
