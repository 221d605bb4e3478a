import json

import pytest
import torch
import yaml

import ganlab
from ganlab.errors import RunError
from ganlab.runs import checkpoint
from ganlab.runs.folder import RunDir
from ganlab.train import Trainer, resume_config, train


def _weights(run, which="latest"):
    state = torch.load(RunDir(run).checkpoint(which), weights_only=False)
    return state["modules"]["G"], state


def test_run_folder_has_every_piece(tmp_path, tiny_config):
    run = train(tiny_config(**{"train.tensorboard": True}), out=tmp_path / "run", log=lambda *a: None)
    p = run.path
    cfg = yaml.safe_load((p / "config.yaml").read_text())
    assert cfg["model"]["g_width"] == 8 and cfg["objective"]["loss"] == "bce"  # fully resolved
    assert (p / "checkpoints" / "latest.pt").is_file()
    assert [x.name for x in run.sample_grids()] == ["epoch-0001.png", "epoch-0002.png"]
    recs = [json.loads(line) for line in (p / "metrics.jsonl").read_text().splitlines()]
    assert len(recs) == 2 * (128 // 32)  # one record per iteration
    assert {"d_loss", "g_loss", "d_real", "d_fake"} <= set(recs[0])
    assert [r["iter"] for r in recs] == list(range(len(recs)))
    assert (p / "losses.png").stat().st_size > 1000
    assert list((p / "tb").glob("events.out.tfevents*"))


def test_wgan_logs_the_wasserstein_estimate(tmp_path, tiny_config):
    run = train(tiny_config(**{"objective.loss": "wgan"}), out=tmp_path / "w", log=lambda *a: None)
    rec = json.loads(run.metrics_path.read_text().splitlines()[-1])
    assert "wasserstein" in rec
    G, state = _weights(run.path)
    d = state["modules"]["D"]
    assert max(v.abs().max().item() for k, v in d.items() if "weight" in k and "running" not in k) <= 0.01 + 1e-7


def test_steps_cap_counts_generator_steps(tmp_path, tiny_config):
    run = train(tiny_config(**{"train.steps": 3, "train.epochs": 50}), out=tmp_path / "s", log=lambda *a: None)
    _, state = _weights(run.path)
    assert state["method_state"]["g_steps"] == 3
    run = train(tiny_config(**{"train.steps": 3, "train.n_critic": 2, "train.epochs": 50}), out=tmp_path / "c",
                log=lambda *a: None)
    _, state = _weights(run.path)
    assert state["method_state"]["g_steps"] == 3 and state["method_state"]["d_steps"] == 6


def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path, tiny_config):
    full = train(tiny_config(**{"train.epochs": 3}), out=tmp_path / "full", log=lambda *a: None)
    part = train(tiny_config(**{"train.epochs": 1}), out=tmp_path / "part", log=lambda *a: None)
    cfg = resume_config(part, {"train.epochs": 3})
    train(cfg, resume=part.path, log=lambda *a: None)
    a, sa = _weights(full.path)
    b, sb = _weights(part.path)
    assert sa["epoch"] == sb["epoch"] == 3
    for k in a:
        assert torch.equal(a[k], b[k]), k
    for k in sa["modules"]["D"]:
        assert torch.equal(sa["modules"]["D"][k], sb["modules"]["D"][k]), k
    # the metrics log continues without gaps or repeats
    iters = [json.loads(x)["iter"] for x in part.metrics_path.read_text().splitlines()]
    assert iters == list(range(12))


def test_interrupt_mid_epoch_saves_and_resumes_exactly(tmp_path, monkeypatch, tiny_config):
    full = train(tiny_config(), out=tmp_path / "full", log=lambda *a: None)
    cfg = tiny_config()
    trainer = Trainer(cfg, RunDir(tmp_path / "cut"), log=lambda *a: None)
    step = trainer.method.train_step
    calls = {"n": 0}

    def interrupted(batch):
        calls["n"] += 1
        if calls["n"] == 6:  # in the middle of epoch 2
            trainer._stop_signal = 15
        return step(batch)

    monkeypatch.setattr(trainer.method, "train_step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    _, st = _weights(tmp_path / "cut")
    assert (st["epoch"], st["iter_in_epoch"]) == (1, 2)
    train(resume_config(RunDir(tmp_path / "cut")), resume=tmp_path / "cut", log=lambda *a: None)
    a, _ = _weights(full.path)
    b, _ = _weights(tmp_path / "cut")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    target = tmp_path / "latest.pt"
    checkpoint.save_atomic({"x": torch.ones(3)}, target)

    def dies_midway(obj, f, *a, **k):
        f.write(b"partial garbage")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", dies_midway)
    with pytest.raises(RunError, match="No space left on device.*previous checkpoint is kept"):
        checkpoint.save_atomic({"x": torch.zeros(3)}, target)
    monkeypatch.undo()
    assert torch.equal(checkpoint.load(target)["x"], torch.ones(3))
    assert list(tmp_path.iterdir()) == [target]  # no temporary file left behind


def test_resume_errors(tmp_path, tiny_config):
    (tmp_path / "notrun").mkdir()
    with pytest.raises(RunError, match="not a ganlab run folder"):
        resume_config(RunDir(tmp_path / "notrun"))
    with pytest.raises(RunError, match="does not exist"):
        resume_config(RunDir(tmp_path / "missing"))
    run = train(tiny_config(**{"train.epochs": 1}), out=tmp_path / "r", log=lambda *a: None)
    with pytest.raises(RunError, match="model.g_width"):
        train(tiny_config(**{"model.g_width": 16}), resume=run.path, log=lambda *a: None)


def test_output_folder_errors(tmp_path, tiny_config):
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunError, match="cannot write the run folder"):
        train(tiny_config(), out=tmp_path / "file" / "run", log=lambda *a: None)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "something").write_text("x")
    with pytest.raises(RunError, match="already exists and is not empty"):
        train(tiny_config(), out=tmp_path / "full", log=lambda *a: None)


def test_load_and_sample_in_three_lines(tmp_path, tiny_config):
    train(tiny_config(**{"train.epochs": 1}), out=tmp_path / "run", log=lambda *a: None)
    g = ganlab.load(tmp_path / "run")
    x = g.sample(10, seed=3)
    assert x.shape == (10, 1, 16, 16) and x.min() >= 0 and x.max() <= 1
    assert torch.equal(x, g.sample(10, seed=3)) and not torch.equal(x, g.sample(10, seed=4))
    with pytest.raises(ValueError, match="unconditional"):
        g.sample(2, cond={"digit": "3"})


def test_held_out_items_are_never_trained_on(tmp_path, monkeypatch, tiny_config):
    """The VAE holds out its test part: the loop must not feed it, and logs the test MSE every epoch."""
    cfg = tiny_config(**{"method": "vae", "train.epochs": 2})
    trainer = Trainer(cfg, RunDir(tmp_path / "vae"), log=lambda *a: None)
    test_idx = trainer.method.held_out_indices(len(trainer.dataset))
    from ganlab.data import to_float
    test_x = to_float(trainer.dataset.data[test_idx], cfg.model.output).flatten(1)
    seen = []
    step = trainer.method.train_step
    monkeypatch.setattr(trainer.method, "train_step", lambda b: seen.append(b.x.flatten(1)) or step(b))
    trainer.fit()
    seen = torch.cat(seen)
    assert len(seen) == 2 * ((len(trainer.dataset) - len(test_idx)) // 32) * 32
    assert torch.cdist(seen, test_x).min() > 0  # no held-out image was in any batch
    recs = [json.loads(x) for x in (tmp_path / "vae" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in recs if "test_mse" in r] == [1, 2]


def test_g_step_reuses_the_d_steps_fake_batch(tiny_config):
    """With one G step per D step, G runs once per iteration (not once for D and again for G)."""
    from ganlab.methods import Batch, DataInfo, build_method
    for values, expect in (({}, 1), ({"train.n_critic": 2}, 1), ({"tricks.dynamic": True}, 2)):
        m = build_method(tiny_config(**values), DataInfo("images", (1, 16, 16)), "cpu")
        calls = []
        m.G.register_forward_hook(lambda *a: calls.append(1))
        m.train_step(Batch(torch.rand(8, 1, 16, 16) * 2 - 1))  # n_critic=2: a D step only
        if values.get("train.n_critic") == 2:
            assert len(calls) == 1 and m.g_steps == 0
            m.train_step(Batch(torch.rand(8, 1, 16, 16) * 2 - 1))
            assert len(calls) == 3 and m.g_steps == 1  # no fake to reuse: G runs for D and for G
            continue
        assert m.g_steps == 1 and len(calls) >= expect
        if not values:
            assert len(calls) == 1


@pytest.mark.parametrize("on", [True, False])
def test_channels_last_layout_of_weights_and_batches(tmp_path, on, tiny_config):
    """train.channels_last stores the conv weights and every image batch as NHWC (and leaves them NCHW when off)."""
    from ganlab.runs.folder import RunDir
    cfg = tiny_config(**{"train.channels_last": on, "data.channels": 3})  # (grey images look the same either way)
    trainer = Trainer(cfg, RunDir(tmp_path / "run"), log=lambda *a: None)
    conv = next(p for p in trainer.method.G.parameters() if p.dim() == 4)
    x = trainer.batch(torch.arange(8)).x
    nhwc = torch.channels_last
    assert conv.is_contiguous(memory_format=nhwc) == on and not (on and conv.is_contiguous())
    assert x.is_contiguous(memory_format=nhwc) == on and x.is_contiguous() == (not on)
    trainer.method.train_step(trainer.batch(torch.arange(8)))  # trains in that layout
    assert conv.is_contiguous(memory_format=nhwc) == on


def _same_weights(a, b):
    (ga, sa), (gb, sb) = _weights(a), _weights(b)
    return sa["epoch"] == sb["epoch"] and all(torch.equal(ga[k], gb[k]) for k in ga) and all(
        torch.equal(sa["modules"]["D"][k], sb["modules"]["D"][k]) for k in sa["modules"]["D"])


def test_checkpoints_on_a_clock_lose_at_most_that_much(tmp_path, monkeypatch, tiny_config):
    """train.checkpoint_minutes saves latest.pt within an epoch; a process killed without any chance to save (an
    exception here stands in for kill -9) resumes from it and ends bit-identical to an uninterrupted run."""
    full = train(tiny_config(), out=tmp_path / "full", log=lambda *a: None)
    cfg = tiny_config(**{"train.checkpoint_minutes": 1e-9})  # every iteration
    trainer = Trainer(cfg, RunDir(tmp_path / "cut"), log=lambda *a: None)
    step = trainer.method.train_step
    calls = {"n": 0}

    def killed(batch):
        calls["n"] += 1
        if calls["n"] == 7:  # iteration 3 of epoch 2, before any epoch-end checkpoint of epoch 2
            raise SystemExit("killed")
        return step(batch)

    monkeypatch.setattr(trainer.method, "train_step", killed)
    with pytest.raises(SystemExit):
        trainer.fit()
    _, st = _weights(tmp_path / "cut")
    assert (st["epoch"], st["iter_in_epoch"]) == (1, 2)  # the last iteration that finished
    train(resume_config(RunDir(tmp_path / "cut")), resume=tmp_path / "cut", log=lambda *a: None)
    assert _same_weights(full.path, tmp_path / "cut")
    iters = [json.loads(x)["iter"] for x in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    assert iters == list(range(8))


def test_resume_of_a_run_killed_before_its_first_checkpoint_starts_it_over(tmp_path, tiny_config):
    full = train(tiny_config(), out=tmp_path / "full", log=lambda *a: None)
    cfg = tiny_config()
    early = Trainer(cfg, RunDir(tmp_path / "early"), log=lambda *a: None)
    early.prepare_run_folder()  # config, no checkpoint
    early.lock.release()  # as the kill of its process would leave it: the lock's owner is gone
    (tmp_path / "early" / "metrics.jsonl").write_text('{"iter": 0, "epoch": 0, "g_step": 1, "d_lo')  # cut mid-line
    said = []
    train(resume_config(RunDir(tmp_path / "early")), resume=tmp_path / "early", log=said.append)
    assert any("no checkpoint yet" in str(s) and "from the beginning" in str(s) for s in said)
    assert _same_weights(full.path, tmp_path / "early")
    iters = [json.loads(x)["iter"] for x in (tmp_path / "early" / "metrics.jsonl").read_text().splitlines()]
    assert iters == list(range(8))


DIVERGING = {"optim.g_lr": 1e30, "optim.d_lr": 1e30}


@pytest.mark.parametrize("method, extra", [
    ("gan", {}), ("gan", {"objective.loss": "wgan-gp", "model.d_norm": "none"}), ("lsgan", {}), ("cgan", {}),
    ("acgan", {}), ("infogan", {}), ("bigan", {}), ("vae", {}), ("msggan", {})])
def test_divergence_stops_the_run_naming_step_and_quantity(tmp_path, tiny_config, method, extra):
    cfg = tiny_config(**{"method": method, **DIVERGING, **extra})
    with pytest.raises(RunError, match=r"training diverged: \w+ is (nan|inf|-inf) at iteration \d+ "
                                       r"\(generator step \d+\); non-finite weights in [GDE]"):
        train(cfg, out=tmp_path / "d", log=lambda *a: None)
    assert not (tmp_path / "d" / "checkpoints" / "latest.pt").exists()  # nothing non-finite was saved


def test_divergence_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, tiny_config):
    run = train(tiny_config(**{"train.epochs": 1}), out=tmp_path / "r", log=lambda *a: None)
    good, _ = _weights(run.path)
    trainer = Trainer(resume_config(run, {"train.epochs": 2}), run, resume=True, log=lambda *a: None)
    step = trainer.method.train_step
    calls = {"n": 0}

    def poisoned(batch):
        stats = step(batch)
        calls["n"] += 1
        if calls["n"] == 4:  # the epoch's last step: its losses are finite, G's weights are not
            with torch.no_grad():
                next(trainer.method.G.parameters()).fill_(float("nan"))
        return stats

    monkeypatch.setattr(trainer.method, "train_step", poisoned)
    with pytest.raises(RunError, match=r"the weights of G are not finite.*latest.pt keeps the last good state"):
        trainer.fit()
    kept, state = _weights(run.path)
    assert state["epoch"] == 1 and all(torch.equal(good[k], kept[k]) for k in good)


def test_divergence_is_one_line_on_the_command_line(tmp_path, capsys):
    from ganlab.cli import main
    assert main(["train", "--data", "digits", "--image-size", "16", "--limit", "64", "--batch-size", "32",
                 "--set", "model.g_width=4", "--set", "model.d_width=4", "--set", "train.progress=false",
                 "--set", "optim.g_lr=1e30", "--set", "optim.d_lr=1e30", "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "training diverged" in err and "Traceback" not in err


# -m "not slow" keeps the first kind of damage only
@pytest.mark.parametrize("damage", ["truncated", *(pytest.param(d, marks=pytest.mark.slow)
                                                  for d in ("random bytes", "not a checkpoint"))])
def test_resume_from_a_damaged_latest_falls_back_to_a_numbered_checkpoint(tmp_path, tiny_config, damage):
    full = train(tiny_config(**{"train.epochs": 3}), out=tmp_path / "full", log=lambda *a: None)
    run = train(tiny_config(**{"train.epochs": 2, "train.checkpoint_every": 1}), out=tmp_path / "r",
                log=lambda *a: None)
    latest = run.latest
    if damage == "truncated":
        latest.write_bytes(latest.read_bytes()[:1000])
    elif damage == "random bytes":
        latest.write_bytes(torch.randint(0, 256, (5000,), dtype=torch.uint8).numpy().tobytes())
    else:
        torch.save({"x": 1}, latest)
    said = []
    train(resume_config(run, {"train.epochs": 3}), resume=run.path, log=said.append)
    assert any("cannot be read" in str(s) and "epoch-0002.pt" in str(s) for s in said)
    assert _same_weights(full.path, run.path)


def test_damaged_run_files_are_one_line_errors(tmp_path, tiny_config, capsys):
    from ganlab.cli import main
    run = train(tiny_config(**{"train.epochs": 1}), out=tmp_path / "r", log=lambda *a: None)
    run.latest.write_bytes(b"\x00" * 100)
    for p in run.checkpoints.glob("epoch-*.pt"):
        p.unlink()
    assert main(["sample", str(run.path)]) == 2
    assert "cannot read checkpoint" in capsys.readouterr().err
    assert main(["train", "--resume", str(run.path)]) == 2
    assert "latest.pt" in capsys.readouterr().err
    run.config_path.write_text("model: [unclosed\n")
    assert main(["train", "--resume", str(run.path)]) == 2
    err = capsys.readouterr().err
    assert "config.yaml cannot be read" in err and "Traceback" not in err
    with open(run.eval_path, "a") as f:
        f.write('{"metric": "fid", "val\n')  # a bad line in eval.jsonl is skipped by readers
    from ganlab.eval.during_training import TrainingEvaluator
    cfg = tiny_config(**{"eval.every": 1, "eval.metrics": ["swd"]})
    from ganlab.data import load_dataset
    assert TrainingEvaluator(cfg, run, load_dataset(cfg.data, progress=False), "cpu").best is None
