"""How much of a decoded data set may be held in memory (``data.loading``, ``data.max_memory``): a set over the
budget is memory-mapped from its cache file and streamed batch by batch instead of loaded whole."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import torch

GIB = 2 ** 30


def size_text(nbytes: int) -> str:
    """1.5 GiB, 12.0 MiB, 300 KiB."""
    for unit, scale in (("GiB", GIB), ("MiB", 2 ** 20)):
        if nbytes >= scale:
            return f"{nbytes / scale:.1f} {unit}"
    return f"{max(1, round(nbytes / 1024))} KiB"


def available_ram() -> int:
    """Bytes of RAM this process can still take: MemAvailable, or less where a cgroup (a container) caps it."""
    avail = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                avail = int(line.split()[1]) * 1024
                break
    except (OSError, ValueError, IndexError):
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):  # not a POSIX system: assume plenty
            return 1 << 62
    for limit_file, used_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                  ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                   "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            limit = Path(limit_file).read_text().strip()
            if limit != "max" and int(limit) < 1 << 60:
                avail = min(avail, max(0, int(limit) - int(Path(used_file).read_text().strip())))
            break
        except (OSError, ValueError):
            continue
    return avail


def memory_budget(max_memory: Optional[float], device: Optional[torch.device] = None) -> tuple[int, str]:
    """(bytes, what that is in words): ``max_memory`` GiB, else half the available RAM, and on a GPU no more
    than half its free memory. The set is held on the device once (``train.batches.to_device_once`` makes its
    channels-last copy there directly, a chunk at a time), so the other half is left to the networks, their
    activations and the optimizer state."""
    if max_memory is not None:
        return int(max_memory * GIB), f"data.max_memory={max_memory:g} GiB"
    ram = available_ram()
    if device is not None and device.type == "cuda":
        free = torch.cuda.mem_get_info(device)[0]
        if free < ram:
            return free // 2, f"half the free memory of {device}, {size_text(free)}"
    return ram // 2, f"half the available RAM, {size_text(ram)}"


def choose_loading(loading: str, max_memory: Optional[float], nbytes: int,
                   device: Optional[torch.device] = None) -> tuple[bool, str]:
    """(stream it?, why) for a decoded image set of ``nbytes``, by ``data.loading`` (auto|memory|stream)."""
    if loading in ("memory", "stream"):
        return loading == "stream", f"data.loading={loading}"
    limit, what = memory_budget(max_memory, device)
    return (True, f"over {what}") if nbytes > limit else (False, f"within {what}")
