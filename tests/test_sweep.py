"""ganlab sweep: validation before anything runs, one run folder per grid point, skipping finished runs,
resuming interrupted ones, and the report at the end."""
from __future__ import annotations

import json

import pytest
import torch

from ganlab.cli import main
from ganlab.errors import ConfigError
from ganlab.sweep import parse_grid, split_values, sweep

TINY = ["--data", "digits", "--image-size", "16", "--limit", "64", "--batch-size", "32", "--latent-dim", "8",
        "--set", "model.g_width=4", "--set", "model.d_width=4", "--set", "train.progress=false",
        "--set", "train.tensorboard=false", "--set", "train.n_samples=4", "--set", "train.log_every=1"]


def g_steps(run):
    return torch.load(run / "checkpoints" / "latest.pt", weights_only=False)["method_state"]["g_steps"]


def test_grid_parsing():
    assert split_values("0.5,[0.5,0.9],x") == ["0.5", "[0.5,0.9]", "x"]
    assert parse_grid(["model.upsample=deconv,nearest", "train.n_gen=1,2"]) == [
        ("model.upsample", ["deconv", "nearest"]), ("train.n_gen", ["1", "2"])]
    for bad in (["model.upsample"], ["model.upsample=a,,b"], ["a=1", "a=2"], ["a=1,1"]):
        with pytest.raises(ConfigError):
            parse_grid(bad)


def test_bad_grid_value_stops_before_any_run(tmp_path, capsys):
    out = tmp_path / "sw"
    rc = main(["sweep", "dcgan", "--grid", "model.upsample=deconv,sideways", "--out", str(out), *TINY])
    assert rc == 2
    err = capsys.readouterr().err
    assert "sweep point upsample=sideways" in err and "model.upsample: 'sideways' is not allowed" in err
    assert not out.exists()
    with pytest.raises(ConfigError, match="unknown config key 'model.upsampel'"):
        sweep("dcgan", ["model.upsampel=deconv,nearest"], flags={"steps": 2}, out=out, log=lambda *a: None)
    assert not out.exists()
    with pytest.raises(ConfigError, match="both in --grid and in --set"):
        sweep("dcgan", ["model.upsample=deconv"], sets=["model.upsample=nearest"], out=out, log=lambda *a: None)


@pytest.mark.slow
def test_sweep_runs_skips_and_resumes(tmp_path, capsys):
    out = tmp_path / "sw"
    args = ["sweep", "dcgan", "--grid", "model.upsample=deconv,nearest", "--out", str(out), *TINY]
    assert main([*args, "--steps", "2", "--jobs", "2"]) == 0
    names = ["upsample=deconv", "upsample=nearest"]
    for n in names:
        assert (out / n / "checkpoints" / "latest.pt").is_file() and g_steps(out / n) == 2
        assert (out / "logs" / f"{n}.log").is_file()
    cfg = (out / "upsample=nearest" / "config.yaml").read_text()
    assert "upsample: nearest" in cfg and "g_width: 4" in cfg
    summary = json.loads((out / "sweep.json").read_text())
    assert [r["state"] for r in summary["runs"]] == ["new", "new"] and summary["failed"] == []
    report = (out / "report.html").read_text()
    assert all(n in report for n in names)
    capsys.readouterr()

    # the same sweep again: both runs are finished, nothing is trained
    mtime = (out / names[0] / "checkpoints" / "latest.pt").stat().st_mtime_ns
    assert main([*args, "--steps", "2"]) == 0
    text = capsys.readouterr().out
    assert text.count("[sweep] skip") == 2 and "[sweep] start" not in text
    assert (out / names[0] / "checkpoints" / "latest.pt").stat().st_mtime_ns == mtime



def test_an_interrupted_run_is_resumed(tmp_path, capsys):
    """A run folder whose checkpoint is short of the plan is continued with --resume (shown by --dry-run;
    the resume itself is 'ganlab train --resume', tested with the training loop)."""
    from ganlab.cli import build_parser
    from ganlab.cli.train import flag_values
    from ganlab.experiment import load_experiment
    from ganlab.train import train
    out = tmp_path / "sw"
    args = ["sweep", "dcgan", "--grid", "model.upsample=nearest", "--out", str(out), *TINY]
    ns = build_parser().parse_args([*args, "--steps", "1"])
    cfg = load_experiment("dcgan", ns.set + ["model.upsample=nearest"], flag_values(ns))
    train(cfg, out=out / "upsample=nearest", log=lambda *a: None)   # as the sweep would, stopped at 1 step
    assert g_steps(out / "upsample=nearest") == 1
    capsys.readouterr()
    assert main([*args, "--steps", "1", "--dry-run"]) == 0
    assert "[sweep] skip upsample=nearest" in capsys.readouterr().out
    assert main([*args, "--steps", "3", "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "upsample=nearest (resume)" in text
    assert f"train --resume {out / 'upsample=nearest'} --epochs" in text and "--steps 3" in text
    # the same folder asked for another config is refused before anything runs
    assert main([*args, "--steps", "3", "--set", "optim.g_lr=0.1"]) == 2
    assert "holds a run with another config" in capsys.readouterr().err
    assert g_steps(out / "upsample=nearest") == 1


def test_sweep_refuses_a_folder_with_another_config(tmp_path):
    out = tmp_path / "sw"
    (out / "upsample=deconv").mkdir(parents=True)
    (out / "upsample=deconv" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not a ganlab run folder"):
        sweep("dcgan", ["model.upsample=deconv,nearest"], flags={"steps": 2}, out=out, log=lambda *a: None)
    assert not (out / "upsample=nearest").exists()


def test_dry_run_lists_commands(tmp_path, capsys):
    out = tmp_path / "sw"
    assert main(["sweep", "dcgan", "--grid", "model.upsample=deconv,nearest", "--grid", "train.n_gen=1,2",
                 "--out", str(out), "--dry-run", "--steps", "2"]) == 0
    text = capsys.readouterr().out
    assert text.count("-m ganlab train") == 4 and "upsample=nearest,n_gen=2" in text
    assert not out.exists()
