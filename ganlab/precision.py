"""Numeric precision of training (``train.precision``): what ``auto`` picks on a device, and the autocast
context a training step runs under.

``bf16`` runs the networks' convolutions and matrix products in bfloat16 under ``torch.autocast``; the
weights, their gradients and the optimizer state stay float32 (autocast casts copies), and so do the
losses, batch-norm statistics and the gradient penalty (the methods compute those outside autocast or cast
to float32 first). ``auto`` picks bf16 only where the hardware computes in bfloat16 natively: CUDA devices
of compute capability 8.0 or more (Ampere and later; asked of the run's own device, not the current one), and
CPUs with the AVX512-BF16 or AMX extensions. Elsewhere bfloat16 is emulated and slower than float32 (and on
pre-Ampere GPUs unsupported by some cuDNN kernels), so ``auto`` picks fp32 there, and asking for bf16 on such
a GPU (``train.precision=bf16``, ``train.amp=true``, a resumed run recorded as bf16) warns.
"""
from __future__ import annotations

import contextlib
import warnings
from functools import lru_cache
from pathlib import Path

import torch

from ganlab.errors import ConfigError

PRECISIONS = ("auto", "fp32", "bf16")
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset:
    """The CPU's feature flags as Linux lists them in /proc/cpuinfo (empty where that file is not there)."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags") and ":" in line:
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_bf16_native() -> tuple[bool, str]:
    """Whether this CPU computes bfloat16 natively, and what says so."""
    found = [f for f in CPU_BF16_FLAGS if f in cpu_flags()]
    if found:
        return True, f"the CPU has {' and '.join(found)}"
    capability = str(torch.backends.cpu.get_cpu_capability())
    if "AMX" in capability.upper():
        return True, f"torch reports CPU capability {capability}"
    return False, f"the CPU has neither {' nor '.join(CPU_BF16_FLAGS)} (torch: {capability})"


# the first CUDA compute capability with bfloat16 in hardware (Ampere); below it bfloat16 is emulated
CUDA_BF16_CAPABILITY = (8, 0)


def cuda_bf16_native(device: torch.device) -> tuple[bool, str]:
    """Whether the CUDA device ``device`` (not the current one) computes bfloat16 natively, and what says so: its
    compute capability, 8.0 or more. (``torch.cuda.is_bf16_supported()`` asks about the current device and, by
    default, counts emulation.)"""
    if not torch.cuda.is_available():
        return False, "CUDA is not available"
    index = device.index if device.index is not None else torch.cuda.current_device()
    if torch.version.hip:  # ROCm: every supported AMD GPU has bfloat16
        return True, f"{torch.cuda.get_device_name(index)} (ROCm) computes in bfloat16"
    major, minor = torch.cuda.get_device_capability(index)
    name = torch.cuda.get_device_name(index)
    if (major, minor) >= CUDA_BF16_CAPABILITY:
        return True, f"{name} (compute capability {major}.{minor}) computes in bfloat16"
    return False, (f"{name} (compute capability {major}.{minor}, below 8.0) only emulates bfloat16, slower than "
                   "float32")


def choose(precision: str, device, key: str = "train.precision") -> tuple[str, str]:
    """(fp32 or bf16, the reason) for ``train.precision=precision`` on ``device`` (a torch.device, or a name: auto
    is the device ``ganlab.devices.resolve`` picks); ``key`` is the setting's name in the messages (a command's
    flag, e.g. ``--precision``).
    bf16 asked for on a CUDA device that only emulates it is kept, with a warning."""
    if isinstance(device, str) and device.strip() == "auto":
        from ganlab.devices import resolve
        device = resolve(device, "device")
    device = torch.device(device)  # whether it is present is asked where it is used
    if precision not in PRECISIONS:
        raise ConfigError(f"{key}: {precision!r} is not allowed; choose one of: {', '.join(PRECISIONS)}")
    if precision == "bf16" and device.type not in ("cpu", "cuda"):
        raise ConfigError(f"{key}=bf16 on a {device.type} device: ganlab runs bfloat16 on CPUs and CUDA "
                          f"devices; use {key}=fp32 or auto")
    if precision == "bf16" and device.type == "cuda":
        native, why = cuda_bf16_native(device)
        if not native:
            warnings.warn(f"{key}=bf16 on {device}: {why} (and some cuDNN kernels refuse it); use {key}=fp32 or "
                          "auto there", UserWarning, stacklevel=2)
            return "bf16", f"{key}=bf16, though {why}"
    if precision != "auto":
        return precision, f"{key}={precision}"
    if device.type == "cuda":
        native, why = cuda_bf16_native(device)
        return ("bf16" if native else "fp32"), f"auto: {why}"
    if device.type == "cpu":
        native, why = cpu_bf16_native()
        return ("bf16" if native else "fp32"), f"auto: {why}"
    return "fp32", f"auto: bfloat16 is not used on {device.type} devices"


def autocast(precision: str, device: torch.device):
    """The context a training step's network passes run under: bfloat16 autocast for bf16, nothing for fp32
    (``auto`` is resolved for ``device`` first)."""
    device = torch.device(device)
    if precision == "auto":
        precision = choose(precision, device)[0]
    if precision == "bf16" and device.type in ("cpu", "cuda"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
