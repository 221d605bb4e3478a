"""optim.lr_decay through the loop: the rates at the end of a run; and runs stopped mid-way that resume as an
uninterrupted run goes on, with the decay and with what R1 and LeCam keep across steps (the lazy clock, the
moving averages)."""
import pytest

from ganlab.runs.folder import RunDir
from ganlab.train import Trainer, resume_config, train

QUIET = {"log": lambda *a: None}


def test_rates_reach_the_floor_at_the_planned_end(tmp_path, tiny_config, run_state):
    cfg = tiny_config(**{"train.epochs": 2, "optim.lr_decay": "linear", "optim.lr_floor": 0.25,
                         "optim.g_lr": 1e-3, "optim.d_lr": 4e-3})
    run = train(cfg, out=tmp_path / "run", **QUIET)
    state = run_state(run.path)
    g, d = (state["optimizers"][k]["param_groups"][0] for k in ("G", "D"))
    steps = state["method_state"]["g_steps"]  # 8 steps: the last one ran at 7/8 of the way
    assert g["initial_lr"] == 1e-3 and d["initial_lr"] == 4e-3
    assert g["lr"] == pytest.approx(1e-3 * (0.25 + 0.75 * (1 - (steps - 1) / steps)))
    assert d["lr"] / d["initial_lr"] == pytest.approx(g["lr"] / g["initial_lr"])


@pytest.mark.parametrize("values", [
    {"optim.lr_decay": "cosine", "optim.lr_floor": 0.1},
    pytest.param({"model.d_norm": "none", "objective.r1_gamma": 1.0, "objective.r1_every": 4,
                  "objective.lecam_weight": 0.5}, marks=pytest.mark.slow),
    pytest.param({"tricks.ema": 0.9, "tricks.ema_stats": "recompute"}, marks=pytest.mark.slow),
], ids=["lr-decay", "r1-lecam", "ema-bn-stats"])  # -m "not slow" resumes the first only
def test_a_stopped_run_resumes_as_an_uninterrupted_one(tmp_path, monkeypatch, tiny_config, same_run, values):
    values = {"train.epochs": 3, **values}
    full = train(tiny_config(**values), out=tmp_path / "full", **QUIET)
    trainer = Trainer(tiny_config(**values), RunDir(tmp_path / "cut"), **QUIET)
    step, calls = trainer.method.train_step, []

    def interrupted(batch):
        calls.append(1)
        if len(calls) == 6:  # a stop in the middle of the run
            trainer._stop_signal = 15
        return step(batch)

    monkeypatch.setattr(trainer.method, "train_step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    train(resume_config(RunDir(tmp_path / "cut")), resume=tmp_path / "cut", **QUIET)
    assert same_run(full.path, tmp_path / "cut")
    # and the settings did change the weights: the same run without them ends elsewhere
    plain = train(tiny_config(**{"train.epochs": 3, "model.d_norm": values.get("model.d_norm", "batch")}),
                  out=tmp_path / "plain", **QUIET)
    assert not same_run(full.path, plain.path)
