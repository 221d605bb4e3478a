"""A trained run, loaded from its folder for sampling:

    import ganlab
    g = ganlab.load("runs/dcgan-digits")
    images = g.sample(16, seed=0)        # float [16, C, H, W] in [0, 1]
"""
from __future__ import annotations

from pathlib import Path

import torch

from ganlab.devices import resolve as resolve_device
from ganlab.experiment import experiment_from_dict
from ganlab.methods import DataInfo, build_method
from ganlab.plots import to_unit
from ganlab.runs import checkpoint as ckpt
from ganlab.runs.folder import RunDir


class TrainedGenerator:
    """A method restored from a checkpoint, in eval mode, with a simple sampling interface."""

    def __init__(self, method, run: RunDir, checkpoint_path: Path, state: dict):
        self.method, self.run, self.checkpoint_path = method, run, checkpoint_path
        self.data_info: DataInfo = method.data_info
        self.cfg = method.cfg
        self.epoch = state.get("epoch")
        self.g_steps = state.get("method_state", {}).get("g_steps")
        method.train(False)

    @property
    def G(self) -> torch.nn.Module:
        return self.method.G

    @property
    def device(self) -> torch.device:
        return self.method.device

    def inputs(self, n: int, seed: int | None = None, cond: dict | None = None) -> dict:
        """Generator inputs for ``n`` samples (the same for a seed on every device); ``cond`` as in ``sample``."""
        g = torch.Generator().manual_seed(seed) if seed is not None else None
        return self.method.sample_inputs(n, g, cond)

    @torch.no_grad()
    def generate(self, inputs: dict, raw: bool = False, batch_size: int = 256) -> torch.Tensor:
        """Outputs on the CPU for ``inputs`` (in batches): [0, 1] images, or (``raw``) as the networks make them."""
        out = self.method.generate_in_batches(inputs, batch_size)
        if raw or self.data_info.kind != "images":
            return out
        return to_unit(out, self.data_info.output)

    @torch.no_grad()
    def sample(self, n: int = 64, seed: int | None = None, cond: dict | None = None, raw: bool = False,
               batch_size: int = 256) -> torch.Tensor:
        """``n`` samples as float images in [0, 1] (``raw=True``: as the networks produce them; 2-D toy
        data: points). ``cond`` gives conditions for conditional methods, e.g. {"hair": "blue"} or {"c0": 3}."""
        return self.generate(self.inputs(n, seed, cond), raw=raw, batch_size=batch_size)


def load(run, checkpoint: str | int | None = None, device: str | torch.device = "cpu") -> TrainedGenerator:
    """The generator of run folder ``run`` at its latest (or named: 'best', an epoch, a path) checkpoint, on
    ``device`` (cpu, auto, cuda, cuda:N)."""
    rd = RunDir(run).require()
    device = resolve_device(device, "--device")
    path = rd.checkpoint(checkpoint)
    state = ckpt.load_run_state(path, map_location=device)
    cfg = experiment_from_dict(state["config"])
    info = DataInfo.from_dict(state["data_info"])
    method = build_method(cfg, info, device)
    for k, m in method.modules().items():
        m.load_state_dict(state["modules"][k])
    method.load_extra_state(state.get("method_state", {}))
    return TrainedGenerator(method, rd, path, state)
