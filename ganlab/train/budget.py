"""A run's time budget (``train.minutes``): how much of it is used, and how many iterations are left in it.

The budget counts the run's own time: from the start of ``train()`` (data loading, building, checkpoints, grids
and evaluations included) to now, plus what earlier sessions of the run used (saved in each checkpoint as
``budget.used_s``); time while the run was stopped does not count. A resumed run continues the rest; a new
``train.minutes`` on resume is the new total.

The loop plans over the budget from the measured cost of an iteration *with* everything written between steps
(the loop's time since its first step, divided by its iterations since), re-estimated at each flush, and stops at
the step where the time left falls under the reserve: the measured cost of the run's final outputs (a grid, the
loss plot, the checkpoint and any evaluation), so that the run has ended, its final files written, by the deadline.
"""
from __future__ import annotations

import math
import time

MIN_RESERVE_S = 1.0      # the final outputs' reserve before any has been measured ...
RESERVE_SHARE = 0.02     # ... or this share of the budget, whichever is larger
WARMUP_ITERATIONS = 5    # iterations before the step rate is trusted (the first ones compile, fill caches)


class Budget:
    def __init__(self, minutes: float, used_s: float = 0.0, started: float | None = None):
        self.total_s = float(minutes) * 60
        self.used_before = float(used_s)
        self.started = time.perf_counter() if started is None else started
        self.loop_started: float | None = None
        self.loop_iters = 0
        self.reserve_s = max(MIN_RESERVE_S, RESERVE_SHARE * self.total_s)
        self.stopped_at: int | None = None  # the generator step where the deadline stopped the run

    def used(self) -> float:
        return self.used_before + time.perf_counter() - self.started

    def left(self) -> float:
        return self.total_s - self.used()

    def start_loop(self) -> None:
        self.loop_started, self.loop_iters = time.perf_counter(), 0

    def step(self) -> None:
        self.loop_iters += 1

    def per_iteration(self) -> float | None:
        """Seconds per iteration, everything between steps included; None until enough iterations were timed."""
        if self.loop_started is None or self.loop_iters < WARMUP_ITERATIONS:
            return None
        return (time.perf_counter() - self.loop_started) / self.loop_iters

    def iterations_left(self) -> int | None:
        per = self.per_iteration()
        if per is None:
            return None
        return max(0, math.floor((self.left() - self.reserve_s) / per))

    def measured_final(self, seconds: float) -> None:
        """The cost of one round of end-of-run outputs (grid, plot, checkpoint, evaluation): the reserve keeps room
        for the largest seen, with a margin."""
        self.reserve_s = max(self.reserve_s, 1.5 * seconds)

    def out_of_time(self) -> bool:
        return self.left() <= self.reserve_s

    def state(self) -> dict:
        return {"minutes": self.total_s / 60, "used_s": round(self.used(), 3), "stopped_at": self.stopped_at}
