"""The layout of a run folder, which every command reads and writes through this class.

    RUN/config.yaml            fully resolved config
    RUN/data.json              what the networks were built for (shape, attributes)
    RUN/checkpoints/latest.pt  and epoch-NNNN.pt every train.checkpoint_every epochs (best.pt by eval)
    RUN/samples/epoch-NNNN.png a grid from the same fixed inputs every train.sample_every epochs and the last
    RUN/metrics.jsonl          per-step losses and statistics
    RUN/losses.png             smoothed curves, one panel per quantity
    RUN/tb/                    TensorBoard event files
    RUN/eval.jsonl             metrics from ``ganlab eval``
    RUN/health.jsonl           the training-health monitor's findings, one per line (none: no file)
    RUN/directions/            latent directions saved by ``ganlab edit`` (labelled and label-free)
    RUN/figures/               pictures made by the exploration commands
"""
from __future__ import annotations

from pathlib import Path

import yaml

from ganlab.errors import RunError
from ganlab.files import read_jsonl, write_text_atomic


class RunDir:
    def __init__(self, path):
        self.path = Path(path)

    def __repr__(self):
        return f"RunDir({str(self.path)!r})"

    # paths
    @property
    def config_path(self): return self.path / "config.yaml"
    @property
    def data_info_path(self): return self.path / "data.json"
    @property
    def checkpoints(self): return self.path / "checkpoints"
    @property
    def samples(self): return self.path / "samples"
    @property
    def metrics_path(self): return self.path / "metrics.jsonl"
    @property
    def losses_png(self): return self.path / "losses.png"
    @property
    def tb(self): return self.path / "tb"
    @property
    def eval_path(self): return self.path / "eval.jsonl"
    @property
    def health_path(self): return self.path / "health.jsonl"
    @property
    def figures(self): return self.path / "figures"
    @property
    def latest(self): return self.checkpoints / "latest.pt"

    def epoch_checkpoint(self, epoch: int) -> Path:
        return self.checkpoints / f"epoch-{epoch:04d}.pt"

    def sample_grid(self, epoch: int) -> Path:
        return self.samples / f"epoch-{epoch:04d}.png"

    def sample_grids(self) -> list[Path]:
        return sorted(self.samples.glob("epoch-*.png"))

    def findings(self) -> list[dict]:
        """The health monitor's findings (``RUN/health.jsonl``), in order; [] for a healthy run or an old one."""
        if not self.health_path.is_file():
            return []
        return [r for r in read_jsonl(self.health_path) if isinstance(r, dict) and isinstance(r.get("kind"), str)]

    def is_run(self) -> bool:
        return self.config_path.is_file()

    def create(self) -> "RunDir":
        try:
            for d in (self.path, self.checkpoints, self.samples, self.figures):
                d.mkdir(parents=True, exist_ok=True)
            probe = self.path / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as e:
            raise RunError(f"cannot write the run folder {self.path}: {e.strerror or e}") from None
        return self

    def require(self) -> "RunDir":
        if not self.path.exists():
            raise RunError(f"{self.path} does not exist")
        if not self.is_run():
            raise RunError(f"{self.path} is not a ganlab run folder (no config.yaml)")
        return self

    def clear_outputs(self) -> None:
        """Remove what a run wrote while training (metrics, evaluations, grids, plots, event files), keeping its
        config: for a run that is trained again from the beginning."""
        import shutil
        for p in (self.metrics_path, self.eval_path, self.losses_png):
            p.unlink(missing_ok=True)
        for p in self.sample_grids():
            p.unlink()
        shutil.rmtree(self.tb, ignore_errors=True)

    def read_config(self) -> dict:
        try:
            d = yaml.safe_load(self.config_path.read_text())
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
            raise RunError(f"{self.config_path} cannot be read: {str(e).splitlines()[0]}") from None
        if not isinstance(d, dict):
            raise RunError(f"{self.config_path} does not hold a config (a mapping of sections)")
        return d

    def readable_checkpoint(self, load, log=print):
        """The state of latest.pt, or (when it cannot be read: cut short, overwritten) of the newest numbered
        checkpoint that can, saying so. ``load(path)`` reads one and raises RunError for an unreadable file."""
        try:
            return load(self.latest if self.latest.exists() else self.checkpoint("latest"))
        except RunError as first:
            for p in sorted(self.checkpoints.glob("epoch-*.pt"), reverse=True):
                try:
                    state = load(p)
                except RunError:
                    continue
                log(f"{self.latest} cannot be read ({first}); continuing from {p.name} instead")
                return state
            raise

    def write_text_atomic(self, path: Path, text: str) -> None:
        write_text_atomic(path, text)

    def checkpoint(self, which: str | int | None = None) -> Path:
        """'latest' (default), 'best', an epoch number, or a path."""
        if which is None or which == "latest":
            p = self.latest
        elif which == "best":
            p = self.checkpoints / "best.pt"
        elif isinstance(which, int) or (isinstance(which, str) and which.isdigit()):
            p = self.epoch_checkpoint(int(which))
        else:
            p = Path(which)
            if not p.is_absolute() and not p.exists():
                p = self.checkpoints / which
        if not p.is_file():
            have = ", ".join(sorted(x.name for x in self.checkpoints.glob("*.pt"))) or "none"
            raise RunError(f"no checkpoint {which or 'latest'} in {self.path} (checkpoints there: {have})")
        return p
