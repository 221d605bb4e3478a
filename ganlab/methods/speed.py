"""How long one training step of a method takes on this machine: the probe that lets the recipe ladder read a
time budget as the amount of training it buys here (``ganlab.experiment.default_recipe``).

The ladder's rungs were raced on one CPU core; a budget of M minutes on a machine whose steps take half as long
trains as much as 2M minutes there. ``step_seconds`` builds the method of a config on random images of its size
(no data is read) and times a few of its training steps after a warm-up, on the device, precision and memory
layout the run would use, with the threads the process has.
"""
from __future__ import annotations

import statistics
import time

import torch

from ganlab import devices, precision
from ganlab.methods import Batch, DataInfo, build_method

WARMUP_STEPS = 2   # the first steps allocate, pick kernels and fill caches: not timed
TIMED_STEPS = 5


def step_seconds(cfg, device="auto", warmup: int = WARMUP_STEPS, steps: int = TIMED_STEPS) -> float:
    """The median wall time, in seconds, of one ``train_step`` of ``cfg``'s method at ``cfg``'s batch size and
    image size on ``device``, on random images. Sets ``cfg.train.precision`` to what ``auto`` resolves to, as the
    loop does. The CPU's global random stream is put back as it was (a run seeds its streams itself before it
    builds anything, ``ganlab.runs.checkpoint.seed_everything``)."""
    device = devices.resolve(device)
    cfg.train.precision = precision.choose(cfg.train.precision, device)[0]
    size, batch = cfg.data.image_size, cfg.train.batch_size
    state = torch.random.get_rng_state()
    try:
        method = build_method(cfg, DataInfo("images", (3, size, size), {}, cfg.model.output), device)
        g = torch.Generator().manual_seed(0)
        x = (torch.rand(batch, 3, size, size, generator=g) * 2 - 1).to(device)
        if cfg.train.channels_last:  # the layout the loop trains in
            method.to_channels_last()
            x = x.contiguous(memory_format=torch.channels_last)
        times = []
        for _ in range(warmup + steps):
            t = time.perf_counter()
            method.train_step(Batch(x, {}))
            devices.synchronize(device)
            times.append(time.perf_counter() - t)
    finally:
        torch.random.set_rng_state(state)
    return statistics.median(times[warmup:])
