"""train.minutes: a run sized by time. The deadline is kept, the schedules span the budget, a resumed run continues
the rest, and the command line's --minutes sizes a run without epochs."""
import pytest
import torch

from ganlab.train import train
from ganlab.train.budget import Budget

pytestmark = pytest.mark.slow  # each test trains for a few seconds of wall time, by design

MINUTES = 0.1  # 6 s


def ckpt(run):
    return torch.load(run / "checkpoints" / "latest.pt", weights_only=False)


def budget_run(tiny_config, tmp_path, name="r", **values):
    cfg = tiny_config(**{"train.minutes": MINUTES, "train.epochs": 100_000, "data.limit": 256, **values})
    lines = []
    run = train(cfg, out=tmp_path / name, log=lines.append).path
    return run, "\n".join(map(str, lines))


def test_the_run_ends_by_its_deadline_with_its_outputs(tiny_config, tmp_path):
    run, text = budget_run(tiny_config, tmp_path, **{"train.minutes": 0.25, "train.checkpoint_every": 1})
    state = ckpt(run)
    b = state["budget"]
    assert 0.9 * 15 <= b["used_s"] <= 1.03 * 15  # the whole run, start-up and final outputs included
    assert b["stopped_at"] == state["method_state"]["g_steps"] > 10
    assert "budget: 0.25 minutes" in text and text.count("generator steps in all") == 1  # the plan, said once
    assert "(stopped by the budget)" in text.splitlines()[-2]
    assert any((run / "samples").glob("*.png")) and state["config"]["train"]["minutes"] == 0.25
    # tiny epochs (8 iterations): about 25 grids and at most about 10 numbered checkpoints over the budget (not one
    # per epoch, as checkpoint_every=1 asks, nor one per 100,000 / 25 epochs, as the epochs alone would give)
    assert 10 <= len(list((run / "samples").glob("*.png"))) <= 30
    assert len(list((run / "checkpoints").glob("epoch-*"))) <= 12 < state["epoch"]


def test_the_learning_rate_decay_spans_the_budget(tiny_config, tmp_path):
    run, _ = budget_run(tiny_config, tmp_path, **{"optim.lr_decay": "linear"})
    group = ckpt(run)["optimizers"]["G"]["param_groups"][0]
    assert group["lr"] < 0.25 * group["initial_lr"]  # most of the way down: the plan was the budget's steps


def test_a_resumed_run_continues_the_rest_of_its_budget(tiny_config, tmp_path):
    run, _ = budget_run(tiny_config, tmp_path)
    first = ckpt(run)
    # the same budget again: nothing left, nothing trained
    lines = []
    train(tiny_config(**{"train.minutes": MINUTES, "train.epochs": 100_000, "data.limit": 256}), resume=run,
          log=lines.append)
    assert "used up" in "\n".join(map(str, lines))
    assert ckpt(run)["method_state"]["g_steps"] == first["method_state"]["g_steps"]
    # a larger total: the run trains for the difference
    train(tiny_config(**{"train.minutes": 2 * MINUTES, "train.epochs": 100_000, "data.limit": 256}), resume=run,
          log=lambda *a: None)
    second = ckpt(run)
    assert second["method_state"]["g_steps"] > first["method_state"]["g_steps"] + 5
    assert 2 * MINUTES * 60 * 0.85 <= second["budget"]["used_s"] <= 2 * MINUTES * 60 + 1


def test_a_budget_the_start_up_uses_up_leaves_a_checkpoint_that_resume_continues(tiny_config, tmp_path,
                                                                                 monkeypatch):
    """A budget shorter than the run's start-up (a slow machine, a tiny --minutes): no step is taken, the line says
    why, and the run still leaves a checkpoint at step 0 (it used to leave none, so neither --resume nor any other
    command could read the run)."""
    lines = []
    with monkeypatch.context() as m:  # the start-up has taken the whole budget
        m.setattr(Budget, "out_of_time", lambda self: True)
        run = train(tiny_config(**{"train.minutes": MINUTES, "train.epochs": 100_000, "data.limit": 256}),
                    out=tmp_path / "r", log=lines.append).path
    text = "\n".join(map(str, lines))
    assert "by the start-up" in text and "before the first step" in text, text
    first = ckpt(run)
    assert first["method_state"]["g_steps"] == 0 and first["budget"]["stopped_at"] == 0
    train(tiny_config(**{"train.minutes": MINUTES, "train.epochs": 100_000, "data.limit": 256}), resume=run,
          log=lambda *a: None)
    assert ckpt(run)["method_state"]["g_steps"] > 5


def test_epochs_or_steps_end_a_budgeted_run_first(tiny_config, tmp_path):
    run, text = budget_run(tiny_config, tmp_path, **{"train.minutes": 5, "train.epochs": 2})
    assert ckpt(run)["budget"]["stopped_at"] is None and "the epochs or steps ended it first" in text


def test_the_command_line_sizes_a_run_by_minutes_alone(tmp_path, capsys):
    from ganlab.cli import main
    from ganlab.config import BUDGET_EPOCHS
    out = tmp_path / "cli"
    assert main(["train", "--data", "digits", "--image-size", "16", "--limit", "128", "--batch-size", "32",
                 "--minutes", str(MINUTES), "--set", "train.progress=false", "--set", "train.device=cpu",
                 "--out", str(out)]) == 0
    cfg = ckpt(out)["config"]["train"]
    assert cfg["epochs"] == BUDGET_EPOCHS and cfg["minutes"] == MINUTES
    assert "stopped by the budget" in capsys.readouterr().out
    assert main(["train", "--resume", str(out), "--minutes", str(2 * MINUTES)]) == 0


def test_the_budget_clock():
    b = Budget(1.0, used_s=30.0, started=0.0)
    assert b.total_s == 60 and b.per_iteration() is None and b.iterations_left() is None
    b.measured_final(4.0)
    assert b.reserve_s == 6.0


def test_a_sweep_sizes_its_runs_by_minutes_and_skips_them_once_used(tmp_path, capsys):
    from ganlab.cli import main
    args = ["sweep", "dcgan", "--seeds", "2", "--data", "digits", "--image-size", "16", "--limit", "128",
            "--batch-size", "32", "--minutes", "0.1", "--set", "train.progress=false", "--set", "train.device=cpu",
            "--out", str(tmp_path / "sw"), "--no-report"]
    assert main(args) == 0
    for s in (0, 1):
        b = ckpt(tmp_path / "sw" / f"seed={s}")["budget"]
        assert b["stopped_at"] is not None and b["used_s"] <= 6 + 2  # (a subprocess's start-up is in its time)
    capsys.readouterr()
    assert main(args) == 0
    assert capsys.readouterr().out.count("its 0.1 minutes used") == 2
    # a larger total: each run continues the difference from where it stopped
    first = {s: ckpt(tmp_path / "sw" / f"seed={s}") for s in (0, 1)}
    assert main([*args[:args.index("--minutes") + 1], "0.15", *args[args.index("--minutes") + 2:]]) == 0
    for s in (0, 1):
        state = ckpt(tmp_path / "sw" / f"seed={s}")
        assert state["method_state"]["g_steps"] > first[s]["method_state"]["g_steps"]
        assert state["budget"]["minutes"] == 0.15 and 0.8 * 9 <= state["budget"]["used_s"] <= 9 + 2
