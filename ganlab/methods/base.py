"""What every method shares: the data description, batches, and the update schedule.

A method owns its networks, optimizers and training step; the loop in ``ganlab.train`` only
feeds it batches, asks it for samples and saves what ``state()`` returns. ``AdversarialMethod``
implements the D:G update schedule (``n_critic`` D steps per G step, or ``n_gen`` G steps per D
step) on top of a method's ``d_step``/``g_step``.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import torch
from torch import nn

from ganlab.config import Config


@dataclass
class DataInfo:
    """What a method needs to know about its data: enough to rebuild it from a checkpoint alone."""
    kind: str                      # "images" or "points"
    shape: tuple                   # (C, H, W) or (2,)
    attributes: dict = field(default_factory=dict)  # name -> list of value names
    output: str = "tanh"           # how images are scaled for the networks (see ganlab.data.to_float)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "shape": list(self.shape), "attributes": self.attributes, "output": self.output}

    @classmethod
    def from_dict(cls, d: dict) -> "DataInfo":
        return cls(d["kind"], tuple(d["shape"]), dict(d.get("attributes", {})), d.get("output", "tanh"))


@dataclass
class Batch:
    x: torch.Tensor                                  # float, already scaled for the networks
    labels: dict = field(default_factory=dict)       # attribute name -> int64 codes [B]

    def __len__(self):
        return self.x.shape[0]


class Method:
    """Base of all methods. Subclasses set ``name`` and build their networks in ``__init__``."""
    name = "base"
    needs_labels = False
    description = ""

    def __init__(self, cfg: Config, info: DataInfo, device: torch.device):
        self.cfg, self.info, self.device = cfg, info, torch.device(device)
        self.g_steps = 0  # generator updates so far: what train.steps caps

    @classmethod
    def validate(cls, cfg: Config) -> None:
        """Raise ConfigError for settings this method cannot use."""

    # --- what the loop uses -------------------------------------------------------------------
    def modules(self) -> dict[str, nn.Module]:
        """Networks by name; each name is also the attribute that holds it (the loop may wrap them)."""
        raise NotImplementedError

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def train_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def sample_inputs(self, n: int, generator: torch.Generator | None = None, cond: dict | None = None) -> dict:
        """Generator inputs for ``n`` samples, drawn on the CPU from ``generator`` (so a seed gives the same
        samples on every device). ``cond`` maps attribute names to value names or codes, for conditional
        methods."""
        raise NotImplementedError

    def fixed_inputs(self, n: int, seed: int) -> dict:
        """Inputs for the sample grid, drawn once and kept for the whole run."""
        inputs = self.sample_inputs(n, torch.Generator().manual_seed(seed))
        return {k: v.to(self.device) if torch.is_tensor(v) else v for k, v in inputs.items()}

    def generate(self, inputs: dict) -> torch.Tensor:
        """Samples (scaled like the data the networks see) for ``fixed_inputs``-style inputs."""
        raise NotImplementedError

    def extra_state(self) -> dict:
        return {"g_steps": self.g_steps}

    def load_extra_state(self, state: dict) -> None:
        self.g_steps = int(state.get("g_steps", 0))

    # --- helpers ------------------------------------------------------------------------------
    def autocast(self):
        if self.cfg.train.amp and self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def train(self, mode: bool = True) -> None:
        for m in self.modules().values():
            m.train(mode)

    def adam(self, params, lr: float, betas) -> torch.optim.Adam:
        return torch.optim.Adam(params, lr=lr, betas=tuple(betas))


class AdversarialMethod(Method):
    """The update schedule shared by the GAN family: ``d_step`` then, every ``n_critic`` batches, ``n_gen``
    ``g_step``s. Subclasses implement ``d_step(batch)`` and ``g_step(batch)``, each returning a dict of
    scalar tensors (no host syncs)."""

    def __init__(self, cfg, info, device):
        super().__init__(cfg, info, device)
        self.d_steps = 0

    def d_step(self, batch: Batch) -> dict:
        raise NotImplementedError

    def g_step(self, batch: Batch) -> dict:
        raise NotImplementedError

    def train_step(self, batch: Batch) -> dict:
        tc = self.cfg.train
        stats = self.d_step(batch)
        self.d_steps += 1
        if self.d_steps % tc.n_critic == 0:
            for _ in range(tc.n_gen):
                stats.update(self.g_step(batch))
                self.g_steps += 1
        return stats

    def extra_state(self) -> dict:
        return {**super().extra_state(), "d_steps": self.d_steps}

    def load_extra_state(self, state: dict) -> None:
        super().load_extra_state(state)
        self.d_steps = int(state.get("d_steps", 0))
