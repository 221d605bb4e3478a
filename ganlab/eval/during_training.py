"""Evaluation during training (``eval.every``): metrics on the in-memory data, appended to eval.jsonl, and
``checkpoints/best.pt`` kept for the best value of the chosen metric (its direction from the registry)."""
from __future__ import annotations

import json
import math
import os
import time

import torch

from ganlab.eval.metrics import registry
from ganlab.eval.run import compute, to_uint8
from ganlab.files import read_jsonl
from ganlab.plots import to_unit


class TrainingEvaluator:
    """Called by the loop with the method, the epoch and a ``save_best()`` that writes best.pt."""

    def __init__(self, cfg, run, dataset, device, log=print):
        self.ec, self.run, self.dataset, self.device, self.log = cfg.eval, run, dataset, device, log
        self.metric = registry.ranking_row(self.ec.best or self.ec.metrics[0])
        self.lower = registry.direction(self.metric) == "lower"
        self.extractor = None
        n_real = min(len(dataset), self.ec.n)
        idx = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(cfg.train.seed))[:n_real]
        self.real = dataset.data[idx]
        self.best = self._best_so_far()

    def _better(self, a: float, b: float | None) -> bool:
        if b is None or math.isnan(b):
            return not math.isnan(a)
        return a < b if self.lower else a > b

    def _best_so_far(self) -> float | None:
        best = None
        for r in self._rows():
            if (r.get("metric") == self.metric and r.get("during_training")
                    and isinstance(r.get("value"), (int, float)) and self._better(r["value"], best)):
                best = r["value"]
        return best

    def __call__(self, method, epoch: int, save_best) -> list[dict]:
        from ganlab.eval.features import get_extractor
        if self.extractor is None and registry.needs_extractor(self.ec.metrics):
            self.extractor = get_extractor(self.ec.features, self.device)
        inputs = method.sample_inputs(self.ec.n, torch.Generator().manual_seed(12345))
        method.train(False)
        try:
            out = method.generate_in_batches(inputs)
        finally:
            method.train(True)
        info = method.data_info
        fake = to_uint8(to_unit(out, info.output)) if info.kind == "images" else out
        rows = compute(self.ec.metrics, self.real, fake, self.extractor, kind=info.kind,
                       requested=method.requested_labels(inputs), modes=self.dataset.modes,
                       mode_std=self.dataset.mode_std, device=self.device, progress=False)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        rows = [{**r, "epoch": epoch, "checkpoint_step": method.g_steps, "n": len(fake), "n_real": len(self.real),
                 "features": self.ec.features, "time": stamp, "during_training": True} for r in rows]
        value = next((r["value"] for r in rows if r["metric"] == self.metric), None)
        better = value is not None and self._better(value, self.best)
        if better:  # best.pt before the rows: an evaluation cut between the two runs again and saves it again
            save_best()
        self._append(rows)
        if better:
            self.best = value
            self.log(f"epoch {epoch}: {self.metric} {value:.4g} (best so far; saved best.pt)")
        elif value is not None:
            self.log(f"epoch {epoch}: {self.metric} {value:.4g} (best {self.best:.4g})")
        return rows

    def has_rows(self, epoch: int) -> bool:
        """Whether eval.jsonl holds the rows of the evaluation at ``epoch`` (written in one piece, see append)."""
        return any(r.get("during_training") and r.get("epoch") == epoch for r in self._rows())

    def _rows(self) -> list[dict]:
        return read_jsonl(self.run.eval_path)

    def _append(self, rows: list[dict]) -> None:
        """All rows in one write() to an O_APPEND file: a kill leaves all of them or none. A short write (the disk
        filled up during it) writes on until the disk says why it cannot, so a cut line is an error, not silence."""
        data = memoryview("".join(json.dumps(r) + "\n" for r in rows).encode())
        fd = os.open(self.run.eval_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            while data:
                data = data[os.write(fd, data):]
        finally:
            os.close(fd)
