"""train.trackers: the run's config, per-step losses, sample grids and evaluation rows logged to MLflow (a local
file store) and to Weights & Biases (offline), read back with each tool's own client; a resume continues the same
tracker run."""
import json
from pathlib import Path

import pytest

from ganlab.errors import ConfigError


def tiny(tiny_config, **values):
    return tiny_config(**{"train.epochs": 2, "eval.every": 1, "eval.metrics": ["swd"], "eval.n": 64, **values})


@pytest.mark.slow
def test_mlflow_gets_params_losses_grids_and_evaluations(tiny_config, tmp_path, monkeypatch):
    pytest.importorskip("mlflow", reason="the mlflow extra is not installed")
    from mlflow.tracking import MlflowClient

    from ganlab.train import train
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    run = train(tiny(tiny_config, **{"train.trackers": ["mlflow"]}), out=tmp_path / "runs" / "m",
                log=lambda *a: None)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = MlflowClient(tracking_uri=(tmp_path / "runs" / "mlruns").as_uri())
    exp = client.get_experiment_by_name("ganlab")
    (mrun,) = client.search_runs([exp.experiment_id])
    assert mrun.info.run_name == "m" and mrun.info.status == "FINISHED"
    assert mrun.data.params["train.batch_size"] == "32" and mrun.data.params["method"] == "gan"
    lines = [json.loads(x) for x in run.metrics_path.read_text().splitlines()]
    hist = client.get_metric_history(mrun.info.run_id, "train/d_loss")
    assert sorted(m.step for m in hist) == [r["iter"] for r in lines]
    assert [round(m.value, 5) for m in sorted(hist, key=lambda m: m.step)] == [round(r["d_loss"], 5) for r in lines]
    swd = client.get_metric_history(mrun.info.run_id, "eval/swd")
    assert len(swd) == 2
    arts = [a.path for a in client.list_artifacts(mrun.info.run_id, "samples")]
    assert arts == ["samples/epoch-0001.png", "samples/epoch-0002.png"]
    # a resume logs into the same MLflow run
    from ganlab.train import resume_config
    train(resume_config(run, {"train.epochs": 3}), resume=run.path, log=lambda *a: None)
    (again,) = client.search_runs([exp.experiment_id])
    assert again.info.run_id == mrun.info.run_id
    assert len(client.get_metric_history(mrun.info.run_id, "eval/swd")) == 3


@pytest.mark.slow
def test_wandb_offline_gets_the_run(tiny_config, tmp_path, monkeypatch):
    pytest.importorskip("wandb", reason="the wandb extra is not installed")
    from ganlab.train import train
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_MODE", raising=False)
    run = train(tiny(tiny_config, **{"train.trackers": ["wandb"]}), out=tmp_path / "w", log=lambda *a: None)
    (folder,) = (Path(run.path) / "wandb").glob("offline-run-*")
    assert json.loads((Path(run.path) / "trackers.json").read_text())["wandb"] in folder.name
    # wandb 0.31 has no public reader for an offline run before 'wandb sync'; its record file holds the keys as
    # text, once per logged step, and the grids are in the run's media
    (records,) = folder.glob("*.wandb")
    data = records.read_bytes()
    lines = run.metrics_path.read_text().splitlines()
    assert data.count(b"train/d_loss") >= len(lines) and data.count(b"eval/swd") >= 2
    assert b"train.batch_size" in data  # the config
    assert len(list((folder / "files" / "media" / "images").glob("samples_*.png"))) == 2


class Recorder:
    """A tracker that keeps what the loop hands it (the loop's side of the tracker interface)."""

    def __init__(self):
        self.records, self.images, self.evaluations, self.closed = [], [], [], []

    def metrics(self, records):
        self.records.extend(records)

    def image(self, path, step):
        self.images.append((Path(path).name, step))

    def eval_rows(self, rows, step):
        self.evaluations.append((rows, step))

    def close(self, finished):
        self.closed.append(finished)


@pytest.fixture
def recorder(monkeypatch):
    """train.trackers opens this Recorder instead of MLflow or W&B."""
    import ganlab.train.trackers as trackers
    rec = Recorder()
    monkeypatch.setattr(trackers, "open_trackers", lambda names, run, cfg: [rec])
    return rec


def test_a_resume_past_a_cut_evaluation_line_hands_the_trackers_that_epochs_rows(tiny_config, tmp_path,
                                                                                 recorder):
    """A kill while eval.jsonl was written leaves its last line cut. The resume drops that line (it must not
    crash on it, nor append the next rows onto it) and the trackers get the rows of each new evaluation."""
    from ganlab.runs.folder import RunDir
    from ganlab.train import resume_config, train
    cfg = tiny(tiny_config, **{"train.epochs": 1, "train.trackers": ["mlflow"]})
    run = train(cfg, out=tmp_path / "r", log=lambda *a: None)
    with open(run.eval_path, "a") as f:
        f.write('{"metric": "swd", "val')  # the process was writing this line when it was killed
    recorder.evaluations.clear()
    train(resume_config(RunDir(run.path), {"train.epochs": 2}), resume=run.path, log=lambda *a: None)
    rows = [json.loads(line) for line in run.eval_path.read_text().splitlines()]  # every line whole again
    assert [(r["epoch"], r["metric"]) for r in rows] == [(1, "swd"), (2, "swd")]
    ((handed, step),) = recorder.evaluations
    assert handed == [rows[1]] and step == 8


def test_the_vaes_held_out_score_reaches_tensorboard_and_the_trackers(tiny_config, tmp_path, recorder):
    """test_mse is logged like every other value: metrics.jsonl, the TensorBoard event files and the trackers."""
    pytest.importorskip("tensorboard", reason="tensorboard is not installed")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from ganlab.train import train
    cfg = tiny_config(**{"method": "vae", "train.epochs": 2, "train.tensorboard": True,
                         "train.trackers": ["mlflow"]})
    run = train(cfg, out=tmp_path / "vae", log=lambda *a: None)
    logged = [json.loads(x) for x in run.metrics_path.read_text().splitlines()]
    scores = [(r["iter"], r["test_mse"]) for r in logged if "test_mse" in r]
    assert len(scores) == 2
    assert [(r["iter"], r["test_mse"]) for r in recorder.records if "test_mse" in r] == scores
    events = EventAccumulator(str(run.tb)).Reload()
    assert [(e.step, round(e.value, 5)) for e in events.Scalars("train/test_mse")] == \
        [(i, round(v, 5)) for i, v in scores]


def test_unknown_trackers_are_refused(tiny_config):
    with pytest.raises(ConfigError, match="train.trackers: unknown 'comet'; choose from tensorboard, mlflow, wandb"):
        tiny_config(**{"train.trackers": ["comet"]})
