"""The training-health monitor: unit tests on synthetic record streams, then end to end on tiny runs."""
from __future__ import annotations

import json
import math
import random

import pytest
import torch

from ganlab.methods.losses import LOSSES, get_loss
from ganlab.train import health
from ganlab.train.health import HealthMonitor, LossTraits

BCE = LossTraits.of(get_loss("bce"))


def stream(n, start=0, **fields):
    """n records from iteration ``start``; each field is a value or a function of (iteration, rng)."""
    rng = random.Random(0)
    out = []
    for i in range(start, start + n):
        r = {"iter": i, "epoch": 0, "g_step": i}
        for k, v in fields.items():
            r[k] = v(i, rng) if callable(v) else v
        out.append(r)
    return out


def feed(monitor, records, every=20):
    found = []
    for i in range(0, len(records), every):
        found += monitor.observe(records[i:i + every])
    return found


def healthy(n=300, start=0):
    return stream(n, start, d_real=lambda i, r: 0.7 + 0.2 * r.random(), d_fake=lambda i, r: 0.2 + 0.2 * r.random(),
                  d_loss=lambda i, r: 0.8 + 0.4 * r.random(), g_loss=lambda i, r: 1.5 + r.random())


def test_every_loss_declares_what_the_monitor_reads():
    for loss in LOSSES.values():
        assert loss.d_loss_chance is not None
        if loss.critic:
            assert loss.separated is None
        else:
            assert loss.separated[0] > loss.separated[1] and loss.g_loss_chance is not None


def test_a_healthy_stream_finds_nothing():
    m = HealthMonitor(BCE, {"d_lr": 2e-4, "g_lr": 2e-4})
    assert feed(m, healthy()) == []
    assert m.grid(0.8, 1.0, 300, 300) == []
    for v in (50, 40, 30, 25, 20, 18):
        assert m.evaluation(v, True, "fid", 0, 0) == []


def test_the_discriminator_has_won():
    m = HealthMonitor(BCE, {"d_lr": 1000, "g_lr": 1000})
    recs = healthy(3) + stream(100, 3, d_real=1.0, d_fake=0.0, d_loss=0.0, g_loss=lambda i, r: 1e9 + i)
    found = feed(m, recs)
    assert [f.kind for f in found] == ["d_won"] and found[0].severity == "hard"
    f = found[0]
    assert f.began == 3 and f.iteration >= 3 + health.THRESHOLDS.window - 1
    assert "discriminator has won" in f.line() and "d_lr=1000" in f.message and f.line().startswith("health: step ")


def won_from_epoch(epoch):
    recs = healthy(100) + stream(100, 100, d_real=0.99, d_fake=0.01, d_loss=0.03, g_loss=6.0)
    for r in recs:
        r["epoch"] = epoch if r["iter"] >= 100 else max(0, epoch - 1)
    return recs


def test_a_late_win_without_augmentation_is_read_as_memorising_the_set():
    """A D that wins after many epochs has most likely memorised the set: the advice says to augment its inputs,
    unless they are augmented already; a win in the first epochs keeps the usual advice."""
    late = feed(HealthMonitor(BCE, {"d_lr": 2e-4, "g_lr": 2e-4}), won_from_epoch(62))
    assert [f.kind for f in late] == ["d_won"]
    assert "after 62 epochs D has most likely memorised" in late[0].message and "tricks.diffaug" in late[0].message
    assert "d_lr=0.0002" in late[0].message
    augmented = feed(HealthMonitor(BCE, {"augmented": True}), won_from_epoch(62))
    early = feed(HealthMonitor(BCE), won_from_epoch(1))
    for found in (augmented, early):
        assert [f.kind for f in found] == ["d_won"] and "memorised" not in found[0].message
        assert "tricks.diffaug" not in found[0].message


def test_the_advice_quotes_the_rates_a_schedule_has_decayed_them_to():
    """Late in a run whose rates decay (optim.lr_decay), "try lower learning rates (you have 0.0002)" would send a
    user to change rates that are already far lower: the advice says both what was set and what is in force."""
    recs = healthy(3) + stream(100, 3, d_real=1.0, d_fake=0.0, d_loss=0.0, g_loss=lambda i, r: 1e9 + i)
    decayed = feed(HealthMonitor(BCE, {"d_lr": 2e-4, "g_lr": 2e-4, "lr_now": {"d_lr": 1.2e-5, "g_lr": 1.2e-5}}),
                   recs)
    assert [f.kind for f in decayed] == ["d_won"]
    assert "you have d_lr=0.0002, g_lr=0.0002, decayed to d_lr=1.2e-05, g_lr=1.2e-05 by now" in decayed[0].message
    constant = feed(HealthMonitor(BCE, {"d_lr": 2e-4, "g_lr": 2e-4, "lr_now": {"d_lr": 2e-4, "g_lr": 2e-4}}), recs)
    assert "(you have d_lr=0.0002, g_lr=0.0002)" in constant[0].message and "decayed" not in constant[0].message


def test_a_won_discriminator_with_several_critic_steps_is_found_without_g_loss_on_every_record():
    m = HealthMonitor(BCE, {"n_critic": 5})
    recs = stream(100, d_real=0.999, d_fake=0.001, d_loss=0.002)
    for r in recs[::5]:
        r["g_loss"] = 8.0
    found = feed(m, recs)
    assert [f.kind for f in found] == ["d_won"] and "n_critic=5" in found[0].message


def test_a_short_separation_is_not_a_win():
    m = HealthMonitor(BCE)
    recs = healthy(100) + stream(health.THRESHOLDS.window - 5, 100, d_real=1.0, d_fake=0.0, d_loss=0.0, g_loss=9.0) \
        + healthy(100, 100 + health.THRESHOLDS.window - 5)
    assert feed(m, recs) == []


def test_a_won_discriminator_on_raw_scores_uses_the_loss_entry():
    hinge = LossTraits.of(get_loss("hinge"))
    recs = stream(100, d_real=1.5, d_fake=-1.5, d_loss=0.0, g_loss=1.5)
    assert [f.kind for f in feed(HealthMonitor(hinge), recs)] == ["d_won"]
    # the same scores read as probabilities of a bce D would be out of range, but 0.5 / 0.4 raw is no win for hinge
    assert feed(HealthMonitor(hinge), stream(100, d_real=0.5, d_fake=0.4, d_loss=1.1, g_loss=-0.4)) == []
    assert feed(HealthMonitor(LossTraits.of(get_loss("wgan"))), stream(100, d_real=5.0, d_fake=-5.0, d_loss=-10.0,
                                                                       g_loss=5.0, wasserstein=10.0)) == []


def test_a_discriminator_that_does_not_learn():
    """Judged from D's weights: frozen for a window is stuck; D's outputs alone (real ~ fake, flat) are not."""
    flat = dict(d_real=lambda i, r: 0.456 + 1e-4 * r.random(), d_fake=lambda i, r: 0.45 + 0.05 * r.random(),
                d_loss=lambda i, r: 1.40 + 0.01 * r.random(), g_loss=0.8)
    recs = stream(100, **flat)

    def feed_with(m, weights):
        out = []
        for i in range(0, len(recs), 10):
            out += m.observe(recs[i:i + 10], weights(i))
        return out
    frozen = feed_with(HealthMonitor(BCE, {"d_lr": 0.0}), lambda i: [1.5, -0.25, 3.0])
    assert [f.kind for f in frozen] == ["d_stuck"] and "d_lr=0" in frozen[0].message
    assert frozen[0].began == 10 and frozen[0].iteration >= 49  # still from the second flush on, a window later
    # the same outputs from a D whose weights move (a healthy D at equilibrium): nothing
    assert feed_with(HealthMonitor(BCE), lambda i: [1.5 + 1e-4 * i, -0.25, 3.0]) == []
    assert feed(HealthMonitor(BCE), recs) == []  # no fingerprint (no D): never judged


def test_divergence_of_a_critic():
    wgan = LossTraits.of(get_loss("wgan"))
    m = HealthMonitor(wgan, {"clip": 1e9, "d_lr": 5e-5})
    recs = stream(200, d_loss=lambda i, r: -0.01 * 10 ** (i / 25), g_loss=0.1, d_real=0.0, d_fake=0.0,
                  wasserstein=lambda i, r: 0.01 * 10 ** (i / 25))
    found = feed(m, recs)
    assert [f.kind for f in found] == ["diverged"] and "objective.clip=1e+09" in found[0].message


def test_a_clipped_critic_that_grows_then_levels_off_is_not_divergence():
    """As the dcgan-anime-selu recipe (WGAN, clip 0.02) does: its estimate grows ~13x in 80 iterations, then stays."""
    m = HealthMonitor(LossTraits.of(get_loss("wgan")), {"clip": 0.02})
    est = lambda i, r: min(1.0 * 1.4 ** (i / 10), 15.0) + 0.1 * r.random()  # noqa: E731
    recs = stream(400, d_loss=lambda i, r: -est(i, r), g_loss=0.1, d_real=0.0, d_fake=0.0, wasserstein=est)
    assert feed(m, recs) == []


def test_a_loss_that_grows_little_is_not_divergence():
    m = HealthMonitor(LossTraits.of(get_loss("wgan-gp")))
    recs = stream(400, d_loss=lambda i, r: -(1 + i / 20), g_loss=lambda i, r: 0.1 * i, wasserstein=lambda i, r: 1 + i / 20,
                  d_real=0.0, d_fake=0.0)
    assert feed(m, recs) == []


def test_mode_collapse_at_grid_time():
    m = HealthMonitor(BCE)
    assert m.grid(0.05, 10.0, 99, 99) == []  # a young G's samples are alike: early grids are not judged
    found = m.grid(0.05, 10.0, 299, 299)
    assert [f.kind for f in found] == ["mode_collapse"] and found[0].severity == "soft"
    assert m.grid(0.05, 10.0, 399, 399) == []  # once


def test_spread_of_identical_and_of_varied_samples():
    assert health.spread(torch.ones(16, 3, 4, 4)) == 0.0
    assert health.spread(torch.randn(16, 3, 4, 4)) > 1.0


def test_posterior_collapse():
    m = HealthMonitor(None, {"mean_image_mse": 0.2, "kl_weight": 1000})
    recs = stream(100, loss=0.2, mse=lambda i, r: 0.2 + 0.01 * r.random(), kl=1e-5)
    found = feed(m, recs)
    assert [f.kind for f in found] == ["posterior_collapse"] and found[0].severity == "soft"
    ok = HealthMonitor(None, {"mean_image_mse": 0.2})
    assert feed(ok, stream(100, loss=0.1, mse=0.08, kl=2.0)) == []


def test_no_progress_warns_then_stops_with_patience():
    m = HealthMonitor(BCE)
    values = [30, 20, 21, 22, 23, 24, 25]
    found = [f for v in values for f in m.evaluation(v, True, "fid", 0, 0)]
    assert [(f.kind, f.severity) for f in found] == [("no_progress", "soft")]
    m = HealthMonitor(BCE, patience=2)
    found = [f for v in (0.1, 0.5, 0.4, 0.45) for f in m.evaluation(v, False, "recall", 0, 0)]
    assert [(f.kind, f.severity) for f in found] == [("no_progress", "hard")]


# ---------------------------------------------------------------------------------------------- end to end
BASE = ["train", "--data", "digits", "--image-size", "16", "--batch-size", "64", "--set", "train.progress=false",
        "--set", "train.plot_minutes=null"]


def run_cli(args, capsys):
    from ganlab.cli import main
    code = main(args)
    out = capsys.readouterr()
    return code, out.out + out.err


def findings(run):
    p = run / "health.jsonl"
    return [json.loads(line) for line in p.read_text().splitlines()] if p.exists() else []


@pytest.mark.slow
def test_lr_1000_stops_with_one_line_naming_the_discriminator_and_resumes(tmp_path, capsys):
    run = tmp_path / "r"
    code, text = run_cli(BASE + ["--epochs", "3", "--set", "optim.d_lr=1000", "--set", "optim.g_lr=1000",
                                 "--out", str(run)], capsys)
    assert code != 0
    lines = [line for line in text.splitlines() if line.startswith("health:")]
    assert len(lines) == 1 and "discriminator has won" in lines[0] and lines[0].startswith("health: step ")
    assert "error" in text and "--resume" in text
    (f,) = findings(run)
    assert f["kind"] == "d_won" and f["severity"] == "hard" and f["values"]["d_real"] > 0.99
    assert (run / "checkpoints" / "latest.pt").exists()
    code, text = run_cli(["train", "--resume", str(run), "--set", "train.on_failure=warn"], capsys)
    assert code == 0 and "done:" in text and "health.jsonl" in text  # resumed; the last line points at the log


@pytest.mark.slow
def test_warn_only_warns_and_health_off_says_nothing(tmp_path, capsys):
    args = BASE + ["--epochs", "2", "--set", "optim.d_lr=1000", "--set", "optim.g_lr=1000"]
    code, text = run_cli(args + ["--set", "train.on_failure=warn", "--out", str(tmp_path / "w")], capsys)
    assert code == 0 and "health: step" in text and [f["kind"] for f in findings(tmp_path / "w")][0] == "d_won"
    assert "health: d_won" in [line for line in text.splitlines() if line.startswith("done:")][0]
    code, text = run_cli(args + ["--set", "train.health=false", "--out", str(tmp_path / "off")], capsys)
    assert code == 0 and "health" not in text and not (tmp_path / "off" / "health.jsonl").exists()


@pytest.mark.slow
def test_rollback_reloads_a_checkpoint_and_halves_the_rates(tmp_path, capsys):
    # two healthy epochs (numbered checkpoints each epoch), then a rate that makes D win: rolls back, then stops
    from ganlab.experiment import load_experiment
    from ganlab.train.loop import Trainer
    from ganlab.runs.folder import RunDir
    cfg = load_experiment(None, ["train.progress=false", "train.plot_minutes=null", "train.checkpoint_every=1",
                                 "train.on_failure=rollback"],
                          {"data.source": "digits", "data.image_size": 16, "train.batch_size": 64, "train.epochs": 6})
    lines = []
    t = Trainer(cfg, RunDir(tmp_path / "rb"), log=lambda *a: lines.append(" ".join(map(str, a))))
    real_flush = t.flush

    def flush():  # from iteration 60 on, the logged D scores are those of a D that has won
        for it, _, _, stats in t._buffer:
            if it >= 60:
                stats.update(d_real=torch.tensor(1.0), d_fake=torch.tensor(0.0), g_loss=torch.tensor(1e9))
        real_flush()
    t.flush = flush
    from ganlab.errors import RunError
    with pytest.raises(RunError):
        t.fit()
    text = "\n".join(lines)
    assert text.count("rolled back to epoch-0002.pt") == 3 and "halved the learning rates" in text
    assert t.method.optimizers()["D"].param_groups[0]["lr"] == pytest.approx(cfg.optim.d_lr / 8)
    assert [f["kind"] for f in findings(tmp_path / "rb")] == ["d_won"] * 4


@pytest.mark.slow
@pytest.mark.parametrize("sets, kind", [
    (["optim.d_lr=0.002", "optim.g_lr=0.0002", "train.n_critic=5"], "d_won"),
    # a critic with clipping off (1e9) and no penalty, no batch norm, a faster D: its estimate swings into the 100s
    (["objective.loss=wgan", "objective.clip=1e9", "model.d_norm=none", "optim.d_lr=0.001"], "diverged"),
    (["optim.d_lr=0"], "d_stuck"),
    (["method=vae", "vae.kl_weight=1000"], "posterior_collapse"),
])
def test_the_broken_cases_are_flagged(tmp_path, capsys, sets, kind):
    # 4 epochs (112 iterations)
    args = BASE + ["--epochs", "4", "--out", str(tmp_path / "r"), "--set", "train.on_failure=warn"]
    for s in sets:
        args += ["--set", s]
    code, text = run_cli(args, capsys)
    assert code == 0
    assert kind in [f["kind"] for f in findings(tmp_path / "r")], text


@pytest.mark.slow
def test_a_generator_that_collapses_is_flagged(tmp_path, capsys):
    # a D that barely learns (d_lr 2e-5) and a G that takes 5 steps at 100x its rate against it: by iteration ~360 the
    # fixed grid's tiles are one noise pattern (spread 0.10 of the real digits' and falling from 0.24 at the first
    # epoch); 16 epochs (448 iterations, about 45 s), found within the run
    args = BASE + ["--epochs", "16", "--out", str(tmp_path / "r"), "--set", "train.on_failure=warn",
                   "--set", "optim.d_lr=0.00002", "--set", "optim.g_lr=0.002", "--set", "train.n_gen=5"]
    code, text = run_cli(args, capsys)
    assert code == 0
    found = findings(tmp_path / "r")
    assert [f["kind"] for f in found] == ["mode_collapse"], text
    assert found[0]["values"]["ratio"] < 0.1 and "mode collapse suspected" in text


def test_report_shows_a_badge_per_finding(tmp_path):
    from ganlab.report.collect import collect_run
    from ganlab.report.page import run_card
    run = tmp_path / "r"
    run.mkdir()
    f = health.Finding("d_won", "hard", 60, 60, 3, "the discriminator has won", {})
    (run / "health.jsonl").write_text(json.dumps(f.to_dict()) + "\n")
    s = collect_run(run)
    assert [h["kind"] for h in s.health] == ["d_won"]
    html = run_card(s, 0)
    assert 'class="health hard"' in html and "d won from iteration 3" in html
    assert not math.isnan(s.health[0]["began"])


@pytest.mark.parametrize("sets, augmented", [({}, False), ({"tricks.diffaug": ["translation"]}, True),
                                             ({"tricks.ada": True}, True)])
def test_the_monitor_knows_whether_d_inputs_are_augmented(tmp_path, tiny_config, sets, augmented):
    """The loop tells the monitor whether D's inputs are augmented, which decides the late d_won's advice."""
    from ganlab.runs.folder import RunDir
    from ganlab.train.loop import Trainer
    monitor = Trainer(tiny_config(**sets), RunDir(tmp_path / "run"), log=lambda *a: None)._health_monitor()
    assert monitor.settings["augmented"] is augmented


@pytest.mark.parametrize("method, decay, below", [("gan", "none", False), ("gan", "linear", True),
                                                  ("vae", "linear", True)])
def test_the_loop_hands_the_monitor_the_rates_in_force(tmp_path, tiny_config, method, decay, below):
    """After a run whose rates decay linearly to zero over its epochs, the monitor holds rates far below the ones
    set; without a decay, the ones set. The VAE's one optimizer runs at g_lr."""
    from ganlab.runs.folder import RunDir
    from ganlab.train.loop import Trainer
    cfg = tiny_config(**{"method": method, "train.epochs": 2, "optim.lr_decay": decay, "optim.d_lr": 1e-3,
                         "optim.g_lr": 2e-3})
    trainer = Trainer(cfg, RunDir(tmp_path / "run"), log=lambda *a: None)
    trainer.fit()
    now = trainer.health.settings["lr_now"]
    assert set(now) == ({"g_lr"} if method == "vae" else {"d_lr", "g_lr"})
    if below:
        assert now["g_lr"] < 1e-3 and now.get("d_lr", 0) < 0.5e-3
    else:
        assert now == {"d_lr": 1e-3, "g_lr": 2e-3}
