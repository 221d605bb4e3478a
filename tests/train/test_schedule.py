"""What the loop writes between steps, and when: latest.pt on train.checkpoint_minutes (and always at the end, on a
stop, with each numbered checkpoint and before an evaluation), the sample grid every train.sample_every epochs
(and the last), the loss plot on train.plot_minutes (and at the end and on a stop). The schedule never changes
the weights, and a run stopped between scheduled checkpoints still resumes exactly."""
import json
import os
import re
import signal

import pytest
import torch

from ganlab.config import TrainConfig
from ganlab.errors import ConfigError, Interrupted
from ganlab.experiment import check_resume_config, load_experiment
from ganlab.runs.folder import RunDir
from ganlab.train import Trainer, loop, resume_config, train

QUIET = {"log": lambda *a: None}
RARELY = {"train.checkpoint_minutes": 1000, "train.plot_minutes": 1000}  # the clocks never come due in a test


def _grids(run):
    return [p.name for p in RunDir(run).sample_grids()]


class Writes:
    """Records every latest.pt write (the epoch and iteration it holds) and every loss plot drawn."""

    def __init__(self, monkeypatch):
        self.latest, self.plots = [], 0
        save, plot = loop.ckpt.save_atomic, loop.plots.plot_losses

        def saving(state, path):
            if path.name == "latest.pt":
                self.latest.append((state["epoch"], state["iter_in_epoch"]))
            return save(state, path)

        def plotting(*a, **k):
            self.plots += 1
            return plot(*a, **k)
        monkeypatch.setattr(loop.ckpt, "save_atomic", saving)
        monkeypatch.setattr(loop.plots, "plot_losses", plotting)


@pytest.mark.parametrize("setting, needle", [
    ("train.sample_every=0", "train.sample_every"), ("train.sample_every=1.5", "train.sample_every"),
    ("train.sample_every=often", "train.sample_every"), ("train.checkpoint_minutes=-1", "train.checkpoint_minutes"),
    ("train.checkpoint_minutes=soon", "train.checkpoint_minutes"), ("train.plot_minutes=-0.5", "train.plot_minutes"),
    ("train.sample_evry=2", "train.sample_evry")])
def test_bad_schedule_values_are_one_line_naming_the_key(setting, needle):
    with pytest.raises(ConfigError) as e:
        load_experiment("dcgan", [setting])
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_schedule_defaults_and_the_grid_interval():
    cfg = load_experiment("dcgan", [])
    tc = cfg.train
    assert (tc.checkpoint_minutes, tc.sample_every, tc.plot_minutes) == (5.0, None, 1.0)
    assert [TrainConfig(epochs=e).grid_every() for e in (1, 25, 26, 50, 100, 101)] == [1, 1, 2, 2, 4, 5]
    assert TrainConfig(epochs=100, sample_every=3).grid_every() == 3
    assert load_experiment("dcgan", ["train.sample_every=null"]).train.sample_every is None


def test_the_schedule_may_change_on_resume_but_training_settings_may_not(tmp_path, tiny_config):
    old = tiny_config().to_dict()
    check_resume_config(old, tiny_config(**{"train.sample_every": 7, "train.plot_minutes": 0,
                                            "train.checkpoint_minutes": 0.5}).to_dict())
    from ganlab.errors import RunError
    with pytest.raises(RunError, match="train.batch_size"):
        check_resume_config(old, tiny_config(**{"train.batch_size": 16}).to_dict())


def test_grids_every_n_epochs_and_after_the_last(tmp_path, tiny_config):
    run = train(tiny_config(**{"train.epochs": 5, "train.sample_every": 2}), out=tmp_path / "r", **QUIET)
    assert _grids(run.path) == ["epoch-0002.png", "epoch-0004.png", "epoch-0005.png"]
    run = train(tiny_config(**{"train.epochs": 3}), out=tmp_path / "d", **QUIET)  # null: every epoch of a short run
    assert _grids(run.path) == ["epoch-0001.png", "epoch-0002.png", "epoch-0003.png"]


@pytest.mark.slow
def test_the_schedule_does_not_change_the_weights(tmp_path, tiny_config, same_run):
    a = train(tiny_config(**{"train.epochs": 3, "train.checkpoint_minutes": 0, "train.plot_minutes": 0}),
              out=tmp_path / "every", **QUIET)
    b = train(tiny_config(**{"train.epochs": 3, "train.sample_every": 3, **RARELY}), out=tmp_path / "rarely", **QUIET)
    assert same_run(a.path, b.path)
    vae = {"method": "vae", "train.epochs": 3}  # a held-out score is a metric: every epoch, whatever the grids
    a = train(tiny_config(**vae), out=tmp_path / "vae1", **QUIET)
    b = train(tiny_config(**vae, **{"train.sample_every": 2}), out=tmp_path / "vae2", **QUIET)
    assert same_run(a.path, b.path)
    held = [[r["test_mse"] for r in map(json.loads, RunDir(p).metrics_path.read_text().splitlines()) if "test_mse" in r]
            for p in (a.path, b.path)]
    assert held[0] == held[1] and len(held[0]) == 3  # the held-out score stays a per-epoch record


def test_latest_on_the_clock_and_always_at_the_end(tmp_path, monkeypatch, tiny_config):
    w = Writes(monkeypatch)
    train(tiny_config(**{"train.epochs": 3, "train.checkpoint_every": 100, **RARELY}), out=tmp_path / "r", **QUIET)
    assert w.latest == [(3, 0)]  # the clock never came due: only the end of the run (numbered, as the last)
    assert [p.name for p in (tmp_path / "r" / "checkpoints").glob("epoch-*.pt")] == ["epoch-0003.pt"]
    assert w.plots == 1  # the loss plot: only at the end

    w = Writes(monkeypatch)
    train(tiny_config(**{"train.epochs": 3, "train.checkpoint_minutes": 0, "train.plot_minutes": 0}),
          out=tmp_path / "e", **QUIET)
    assert w.latest == [(1, 0), (2, 0), (3, 0)] and w.plots == 3  # 0: at every epoch end

    w = Writes(monkeypatch)
    train(tiny_config(**{"train.epochs": 50, "train.steps": 6, **RARELY}), out=tmp_path / "s", **QUIET)
    assert w.latest == [(1, 2)]  # train.steps ends the run within epoch 2: saved where it stopped


def test_numbered_checkpoints_keep_their_epochs(tmp_path, monkeypatch, tiny_config):
    w = Writes(monkeypatch)
    run = train(tiny_config(**{"train.epochs": 5, "train.checkpoint_every": 2, **RARELY}), out=tmp_path / "r",
                **QUIET)
    assert w.latest == [(2, 0), (4, 0), (5, 0)]
    assert sorted(p.name for p in run.checkpoints.glob("epoch-*.pt")) == \
        ["epoch-0002.pt", "epoch-0004.pt", "epoch-0005.pt"]
    assert torch.load(run.checkpoints / "epoch-0004.pt", weights_only=False)["epoch"] == 4


def test_latest_is_written_before_each_evaluation(tmp_path, monkeypatch, tiny_config, run_state):
    seen = []
    real = Trainer.maybe_evaluate

    def evaluating(self, missing_only=False):
        if self.eval_due():
            seen.append((self.epoch, run_state(self.run.path)["epoch"]))
        return real(self, missing_only)
    monkeypatch.setattr(Trainer, "maybe_evaluate", evaluating)
    cfg = tiny_config(**{"train.epochs": 3, "eval.every": 2, "eval.metrics": ["swd"], "eval.n": 64, **RARELY})
    train(cfg, out=tmp_path / "r", **QUIET)
    assert seen == [(2, 2), (3, 3)]


def test_the_clock_saves_within_an_epoch(tmp_path, monkeypatch, tiny_config):
    now = {"t": 0.0}
    monkeypatch.setattr(loop, "_now", lambda: now["t"])
    w = Writes(monkeypatch)
    trainer = Trainer(tiny_config(**{"train.checkpoint_minutes": 1, "train.plot_minutes": 1.5}),
                      RunDir(tmp_path / "r"), **QUIET)
    step, n = trainer.method.train_step, {"i": 0}

    def stepping(batch):
        n["i"] += 1
        now["t"] += 25.0  # every step takes 25 s on this clock
        return step(batch)
    monkeypatch.setattr(trainer.method, "train_step", stepping)
    trainer.fit()
    # 60 s since the last write after steps 3 and 6 (iterations 3 and 2 of epochs 1 and 2); the end of the run
    assert w.latest == [(0, 3), (1, 2), (2, 0)]
    assert w.plots == 2  # epoch 1 ends at 100 s, 90 s after the start: drawn; epoch 2 is the end
    report = trainer.time_report(200.0)
    assert report.startswith("time: 200.0 s training") and re.search(r"checkpoints [\d.]+ s \(3\)", report)
    assert re.search(r"loss plot [\d.]+ s \(2\)", report)


@pytest.mark.parametrize("sig", [pytest.param(signal.SIGTERM, marks=pytest.mark.slow), signal.SIGINT])
def test_a_stop_between_scheduled_checkpoints_saves_and_resumes_exactly(tmp_path, monkeypatch, tiny_config, sig,
                                                                        same_run):
    full = train(tiny_config(**{"train.epochs": 3}), out=tmp_path / "full", **QUIET)
    w = Writes(monkeypatch)
    trainer = Trainer(tiny_config(**{"train.epochs": 3, **RARELY}), RunDir(tmp_path / "cut"), **QUIET)
    step, n = trainer.method.train_step, {"i": 0}

    def stepping(batch):
        n["i"] += 1
        if n["i"] == 6:  # iteration 2 of epoch 2: no checkpoint has been written yet
            os.kill(os.getpid(), sig)
        return step(batch)
    monkeypatch.setattr(trainer.method, "train_step", stepping)
    with pytest.raises(Interrupted):
        trainer.fit()
    assert w.latest == [(1, 2)] and w.plots == 1  # saved at the stop, and the curves drawn up to it
    assert (tmp_path / "cut" / "losses.png").stat().st_size > 1000
    monkeypatch.undo()
    cfg = resume_config(RunDir(tmp_path / "cut"), None, ["train.sample_every=2", "train.checkpoint_minutes=0"])
    train(cfg, resume=tmp_path / "cut", **QUIET)
    assert same_run(full.path, tmp_path / "cut")
    iters = [json.loads(x)["iter"] for x in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    assert iters == list(range(12))
    assert _grids(tmp_path / "cut") == ["epoch-0001.png", "epoch-0002.png", "epoch-0003.png"]


def test_a_kill_loses_only_what_came_after_the_last_scheduled_checkpoint(tmp_path, monkeypatch, tiny_config,
                                                                         same_run, run_state):
    """A process killed without a chance to save (an exception stands in for kill -9) after the clock saved at
    the end of epoch 1 resumes from there and ends bit-identical to an uninterrupted run."""
    full = train(tiny_config(**{"train.epochs": 3}), out=tmp_path / "full", **QUIET)
    trainer = Trainer(tiny_config(**{"train.epochs": 3, "train.checkpoint_minutes": 0}), RunDir(tmp_path / "cut"),
                      **QUIET)
    step, n = trainer.method.train_step, {"i": 0}

    def killed(batch):
        n["i"] += 1
        if n["i"] == 10:  # iteration 2 of epoch 3
            raise SystemExit("killed")
        return step(batch)
    monkeypatch.setattr(trainer.method, "train_step", killed)
    with pytest.raises(SystemExit):
        trainer.fit()
    assert (run_state(tmp_path / "cut")["epoch"], run_state(tmp_path / "cut")["iter_in_epoch"]) == (2, 0)
    train(resume_config(RunDir(tmp_path / "cut")), resume=tmp_path / "cut", **QUIET)
    assert same_run(full.path, tmp_path / "cut")


def test_the_run_says_where_its_time_went(tmp_path, tiny_config):
    said = []
    trainer = Trainer(tiny_config(), RunDir(tmp_path / "r"), log=said.append)
    trainer.fit()
    line = next(s for s in said if isinstance(s, str) and s.startswith("time:"))
    t = trainer.timing
    assert t["steps"] > 0 and t["checkpoints"] > 0 and t["samples"] > 0 and t["plot"] > 0
    assert trainer.counts["samples"] == 2 and trainer.counts["plot"] == 1 and trainer.counts["checkpoints"] == 1
    assert "in the steps" in line and "sample grids" in line and "(2)" in line


def test_point_runs_draw_their_grids_on_one_kept_figure(tmp_path, monkeypatch, tiny_config):
    import matplotlib.pyplot as plt
    made = []
    real = plt.subplots
    monkeypatch.setattr(plt, "subplots", lambda *a, **k: made.append(1) or real(*a, **k))
    cfg = tiny_config(**{"data.source": "ring8", "model.arch": "mlp", "data.limit": 256, "train.batch_size": 64,
                         "train.epochs": 3, **RARELY})
    run = train(cfg, out=tmp_path / "r", **QUIET)
    grids = [p.read_bytes() for p in run.sample_grids()]
    assert len(grids) == 3 and len(set(grids)) == 3 and all(g[:4] == b"\x89PNG" for g in grids)
    assert len(made) == 2  # one figure for the three scatters, one for the loss plot at the end
    assert not plt.get_fignums()  # and both are closed
