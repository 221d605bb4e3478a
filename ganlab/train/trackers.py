"""Experiment trackers beside TensorBoard (``train.trackers``): MLflow (a local file store by default) and Weights &
Biases (offline by default). Each gets the run's config, the per-step losses, the sample grids and the evaluation
rows; each is an optional extra, imported only when asked for.

A resumed run continues the same tracker run: its id is kept in ``RUN/trackers.json``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from ganlab.config import flatten
from ganlab.errors import ConfigError

EXTRAS = {"mlflow": "mlflow-skinny (pip install -e \".[mlflow]\")", "wandb": "wandb (pip install -e \".[wandb]\")"}


def _ids(run) -> dict:
    p = Path(run.path) / "trackers.json"
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return {}


def _save_id(run, name: str, value: str) -> None:
    ids = _ids(run)
    ids[name] = value
    run.write_text_atomic(Path(run.path) / "trackers.json", json.dumps(ids, indent=1))


class MLflowTracker:
    """MLflow: experiment ``ganlab`` in $MLFLOW_TRACKING_URI, or a file store ``mlruns/`` beside the run folder
    (``MLFLOW_ALLOW_FILE_STORE=true mlflow ui --backend-store-uri file:RUNS/mlruns`` shows every run of that
    folder). MLflow 3 keeps its file store in maintenance mode behind that variable; ganlab sets it for its own
    default store, and a database store (``sqlite:///...``) works through $MLFLOW_TRACKING_URI."""

    def __init__(self, run, cfg):
        try:
            import mlflow
        except ImportError:
            raise ConfigError(f"train.trackers has mlflow, which is not installed: {EXTRAS['mlflow']}") from None
        from mlflow.tracking import MlflowClient
        uri = os.environ.get("MLFLOW_TRACKING_URI")
        if not uri:
            uri = (Path(run.path).resolve().parent / "mlruns").as_uri()
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self.client = MlflowClient(tracking_uri=uri)
        self.uri = uri
        exp = self.client.get_experiment_by_name("ganlab")
        exp_id = exp.experiment_id if exp is not None else self.client.create_experiment("ganlab")
        known = _ids(run).get("mlflow")
        if known:
            self.run_id = known
        else:
            self.run_id = self.client.create_run(exp_id, run_name=Path(run.path).name,
                                                 tags={"ganlab.run_folder": str(Path(run.path).resolve())}).info.run_id
            _save_id(run, "mlflow", self.run_id)
            for k, v in flatten(cfg.to_dict()).items():
                self.client.log_param(self.run_id, k, str(v)[:500])
        del mlflow

    def metrics(self, records: list[dict]) -> None:
        from mlflow.entities import Metric
        import time
        now = int(time.time() * 1000)
        batch = [Metric(f"train/{k}", float(v), now, int(r["iter"])) for r in records for k, v in r.items()
                 if k not in ("iter", "epoch", "g_step") and isinstance(v, (int, float))]
        for i in range(0, len(batch), 900):
            self.client.log_batch(self.run_id, metrics=batch[i:i + 900])

    def image(self, path: Path, step: int) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path="samples")

    def eval_rows(self, rows: list[dict], step: int) -> None:
        for r in rows:
            if isinstance(r.get("value"), (int, float)):
                self.client.log_metric(self.run_id, f"eval/{r['metric']}", float(r["value"]), step=step)

    def close(self, finished: bool) -> None:
        self.client.set_terminated(self.run_id, "FINISHED" if finished else "KILLED")


class WandbTracker:
    """Weights & Biases, offline unless $WANDB_MODE says otherwise (``wandb sync RUN/wandb/offline-run-*`` uploads
    later), files under the run folder."""

    def __init__(self, run, cfg):
        try:
            import wandb
        except ImportError:
            raise ConfigError(f"train.trackers has wandb, which is not installed: {EXTRAS['wandb']}") from None
        self.wandb = wandb
        known = _ids(run).get("wandb")
        self.run = wandb.init(project="ganlab", name=Path(run.path).name, dir=str(run.path),
                              mode=os.environ.get("WANDB_MODE", "offline"), config=flatten(cfg.to_dict()),
                              id=known, resume="allow", reinit="finish_previous")
        if not known:
            _save_id(run, "wandb", self.run.id)

    def metrics(self, records: list[dict]) -> None:
        for r in records:
            self.run.log({f"train/{k}": v for k, v in r.items() if k not in ("iter", "epoch", "g_step")},
                         step=int(r["iter"]))

    def image(self, path: Path, step: int) -> None:
        self.run.log({"samples": self.wandb.Image(str(path))}, step=step)

    def eval_rows(self, rows: list[dict], step: int) -> None:
        self.run.log({f"eval/{r['metric']}": r["value"] for r in rows if isinstance(r.get("value"), (int, float))},
                     step=step)

    def close(self, finished: bool) -> None:
        self.run.finish(exit_code=0 if finished else 1)


def open_trackers(names: list, run, cfg) -> list:
    """The external trackers of ``train.trackers`` (TensorBoard is the loop's own writer)."""
    return [{"mlflow": MLflowTracker, "wandb": WandbTracker}[n](run, cfg) for n in dict.fromkeys(names)
            if n != "tensorboard"]
