"""Learning-rate decay over a run (``optim.lr_decay``, ``optim.lr_floor``).

The rate of every optimizer at generator step ``t`` of a run planned for ``T`` steps is its configured rate
times ``factor(t / T)``: 1 throughout for ``none``, falling linearly (``linear``) or along half a cosine
(``cosine``) from 1 to ``lr_floor`` at the end. It is a pure function of the step count, so a resumed run
takes the same rates as an uninterrupted one.
"""
from __future__ import annotations

import math

LR_DECAYS = ("none", "linear", "cosine")


def lr_factor(kind: str, progress: float, floor: float = 0.0) -> float:
    """The multiplier of the base rates at ``progress`` (0 = start, 1 = end of the planned steps)."""
    t = min(1.0, max(0.0, float(progress)))
    if kind == "none":
        return 1.0
    if kind == "linear":
        f = 1.0 - t
    elif kind == "cosine":
        f = 0.5 * (1.0 + math.cos(math.pi * t))
    else:
        raise ValueError(f"unknown lr decay {kind!r}; choose from: {', '.join(LR_DECAYS)}")
    return floor + (1.0 - floor) * f


def apply_lr_decay(optimizers, kind: str, step: int, total: int | None, floor: float = 0.0) -> float:
    """Set the rates of ``optimizers`` for generator step ``step`` of ``total`` (an unknown total: no decay) and
    return the factor used. Each parameter group keeps its configured rate as ``initial_lr`` (the key torch's
    own schedulers use), which travels with the optimizer's state into checkpoints, so a resumed run decays
    from the configured rates, not from the last decayed one."""
    f = 1.0 if kind == "none" or not total else lr_factor(kind, step / total, floor)
    for opt in optimizers:
        for group in opt.param_groups:
            group["lr"] = group.setdefault("initial_lr", group["lr"]) * f
    return f


class Schedule:
    """A method's plan over its run: how many generator steps one iteration of the loop takes
    (``g_per_iteration``: 1 for a plain method, ``n_gen / n_critic`` for an adversarial one), the run's planned
    generator steps (``total_steps``, once ``plan`` is told how many iterations the loop has left), and the
    learning rates along them (``optim.lr_decay``). Annealed instance noise reads ``total_steps`` too.

    ``total_steps`` is not saved: ``plan`` recomputes it when a run resumes, from the steps already taken."""

    def __init__(self, cfg, g_per_iteration: float = 1.0):
        self.steps, self.decay, self.floor = cfg.train.steps, cfg.optim.lr_decay, cfg.optim.lr_floor
        self.g_per_iteration = g_per_iteration
        self.total_steps: int | None = None

    def plan(self, g_steps: int, iterations: int) -> int:
        """With ``g_steps`` taken and ``iterations`` left in the run's epochs: the iterations the run will take
        (``train.steps`` may end it sooner); records the planned generator steps of the whole run."""
        if self.steps is not None:
            iterations = min(iterations, math.ceil((self.steps - g_steps) / self.g_per_iteration))
        iterations = max(0, iterations)
        self.total_steps = g_steps + int(iterations * self.g_per_iteration)
        return iterations

    def set_learning_rates(self, optimizers, g_steps: int) -> None:
        """The rates of ``optimizers`` for the step after ``g_steps`` (nothing is touched without a decay, so
        such a run's optimizer state holds no ``initial_lr``)."""
        if self.decay != "none":
            apply_lr_decay(optimizers, self.decay, g_steps, self.total_steps, self.floor)
