"""Adaptive discriminator augmentation (tricks.ada): the pipeline at p = 0 and p = 1, the controller's steps under
both heuristics, the images the rv heuristic holds out, and a run that logs p, keeps it in checkpoints and resumes
bit-identically."""
import json

import pytest
import torch

from ganlab.errors import ConfigError
from ganlab.methods import tricks
from ganlab.runs.prepare import resume_config
from ganlab.train import train


def test_the_pipeline_at_p_0_and_1():
    torch.manual_seed(0)
    x = torch.rand(32, 3, 16, 16) * 2 - 1
    state = torch.get_rng_state()
    assert torch.equal(tricks.ada_augment(x, torch.tensor(0.0)), x)
    assert torch.equal(torch.get_rng_state(), state)  # at p = 0 on the CPU the pipeline is skipped, not run
    y = tricks.ada_augment(x, torch.tensor(1.0))
    assert all(not torch.equal(y[i], x[i]) for i in range(32))
    xs = [x[:, :, ::2, ::2].clone(), x]  # several scales of one batch: one set of random choices
    ys = tricks.ada_augment(xs, torch.tensor(1.0))
    assert isinstance(ys, list) and [t.shape for t in ys] == [t.shape for t in xs]
    x.requires_grad_(True)
    tricks.ada_augment(x, torch.tensor(0.5)).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0  # differentiable: G learns through the augmented fakes


@pytest.mark.parametrize("subset", [True, False])  # the CPU's way (the chosen samples only) and a GPU's (a mask)
def test_half_the_samples_at_p_one_half(subset):
    torch.manual_seed(1)
    x = torch.rand(2000, 1, 8, 8, requires_grad=True)
    flipped = tricks.ada_augment(x, torch.tensor(0.5), subset=subset)
    changed = (flipped != x).flatten(1).any(1).float().mean()
    assert 1 - 0.5 ** 4 - 0.05 < changed < 1 - 0.5 ** 4 + 0.05  # unchanged only if all 4 operations were skipped
    flipped.sum().backward()  # every sample's pixels still reach the input: kept, moved or cut, never detached
    assert (x.grad.flatten(1).abs().sum(1) > 0).all()


def test_the_controller_steers_p_by_the_sign_of_d_on_real_inputs():
    ada = tricks.AdaptiveAugment(target=0.6, interval=4, images=1000, batch=50, device="cpu")
    for i in range(4):  # D sure of every real input: r = 1 > 0.6, so more augmentation after 4 updates
        assert float(ada.p) == 0.0
        ada.observe(torch.ones(50))
    assert float(ada.p) == pytest.approx(50 * 4 / 1000) and float(ada.r) == 1.0
    for _ in range(8):  # r = -1 < 0.6: back down, and never below 0
        ada.observe(-torch.ones(50))
    assert float(ada.p) == 0.0
    ada.p = torch.tensor(0.99)
    for _ in range(4):
        ada.observe(torch.ones(50))
    assert float(ada.p) == 1.0


def test_the_rv_heuristic_follows_the_gap_between_training_and_held_out_images():
    ada = tricks.AdaptiveAugment(target=0.2, interval=4, images=1000, batch=50, device="cpu", heuristic="rv")
    for i in range(3):  # D's outputs on held-out images are asked for only at the end of an interval
        assert not ada.wants_held_out()
        ada.observe(torch.ones(50))
    assert ada.wants_held_out()
    with pytest.raises(RuntimeError, match="held-out"):
        ada.observe(torch.ones(50))
    ada = tricks.AdaptiveAugment(target=0.2, interval=4, images=1000, batch=50, device="cpu", heuristic="rv")
    for _ in range(3):
        ada.observe(torch.ones(50))
    ada.observe(torch.ones(50), -torch.ones(50))  # every training image real, every held-out one fake: memorised
    assert float(ada.r) == 1.0 and float(ada.p) == pytest.approx(0.2)
    for _ in range(4):  # D sure of every real input, held out or not: ahead of G, not memorising
        ada.observe(torch.ones(50), torch.ones(50) if ada.wants_held_out() else None)
    assert float(ada.r) == 0.0 and float(ada.p) == 0.0  # rt would have called that 1 and raised p


def test_the_held_out_images_are_never_trained_on(tmp_path, tiny_config):
    from ganlab.runs.folder import RunDir
    from ganlab.train.loop import Trainer
    cfg = tiny_config(**{"tricks.ada": True, "tricks.ada_heuristic": "rv"})
    run = RunDir(tmp_path / "run")
    lines = []
    t = Trainer(cfg, run, log=lambda *a: lines.append(" ".join(map(str, a))))
    n = len(t.dataset)
    held = t.method.d_held_out_indices(n)
    assert len(held) == tricks.ada_held_out_count(n) == min(256, max(16, n // 20), n // 4)
    assert len(set(held.tolist()) & set(t.train_index.tolist())) == 0 and t.n == n - len(held)
    assert torch.equal(t.method.ada_held_out.x, t.batch(held).x)  # handed to the method as D sees real batches
    assert any(f"held out of training: {len(held)} of the {n} images" in str(line) for line in lines)
    assert torch.equal(held, t.method.d_held_out_indices(n))  # the same on every start of the run (resume)
    assert [tricks.ada_held_out_count(k) for k in (8, 100, 1000, 10_000)] == [2, 16, 50, 256]


@pytest.mark.parametrize("spectral", [False, True])
def test_scoring_the_held_out_images_leaves_no_trace_in_d(tmp_path, tiny_config, spectral):
    """rv's check runs D in training mode on images never trained on; its batch-norm running statistics would
    otherwise take them in, and a spectral norm's power iteration would take a step on them. D's buffers are as
    they were after the check, where a plain forward of the same batch moves them (so the test can fail), and the
    check's logits are those of batch statistics, as in training."""
    from ganlab.methods.base import Batch
    from ganlab.runs.folder import RunDir
    from ganlab.train.loop import Trainer
    t = Trainer(tiny_config(**{"tricks.ada": True, "tricks.ada_heuristic": "rv", "model.spectral_norm": spectral}),
                RunDir(tmp_path / "r"), log=lambda *a: None)
    m = t.method
    nets = list(m.networks().values())
    assert [n for net in nets for n in tricks.batch_norms(net)], "D has batch norm to check"
    sn = [n for net in nets for n in tricks.spectral_norms(net)]
    assert bool(sn) == spectral

    def buffers():
        return [b.clone() for net in nets for b in net.buffers()]
    before = buffers()
    torch.manual_seed(3)
    logits = m.held_out_logits()
    assert logits.shape == (t.cfg.train.batch_size,)
    assert all(torch.equal(a, b) for a, b in zip(before, buffers()))
    assert all(n.track_running_stats for net in nets for n in tricks.batch_norms(net)) and all(n.training for n in sn)
    torch.manual_seed(3)  # the same batch drawn again, scored the plain way: the same logits, but the buffers move
    idx = torch.randint(len(m.ada_held_out), (t.cfg.train.batch_size,))
    with torch.no_grad():
        plain = m.real_logits(Batch(m.ada_held_out.x[idx], {})).float()
    assert torch.allclose(plain, logits, rtol=1e-3 if spectral else 1e-5, atol=1e-4 if spectral else 1e-8)
    moved = [not torch.equal(a, b) for a, b in zip(before, buffers())]
    assert any(moved)
    if spectral:  # the power iteration's vectors (u, v) are among the buffers that the plain forward moved
        names = [n for net in nets for n, _ in net.named_buffers()]
        assert any(m and "_u" in n for m, n in zip(moved, names))


@pytest.mark.parametrize("heuristic", ["rt", "rv"])
def test_a_run_logs_p_saves_it_and_resumes_bit_identically(tmp_path, tiny_config, heuristic):
    sets = {"tricks.ada": True, "tricks.ada_images": 500, "tricks.ada_interval": 2, "tricks.ada_heuristic": heuristic,
            "tricks.ada_target": None}
    full = train(tiny_config(**{**sets, "train.epochs": 3}), out=tmp_path / "full", log=lambda *a: None)
    part = train(tiny_config(**{**sets, "train.epochs": 1}), out=tmp_path / "part", log=lambda *a: None)
    train(resume_config(part, {"train.epochs": 3}), resume=part.path, log=lambda *a: None)
    a = torch.load(full.latest, weights_only=False)
    b = torch.load(part.latest, weights_only=False)
    assert torch.equal(a["method_state"]["ada"]["p"], b["method_state"]["ada"]["p"])
    for k, v in a["modules"]["G"].items():
        assert torch.equal(v, b["modules"]["G"][k]), k
    assert torch.equal(a["method_state"]["ada"]["r"], b["method_state"]["ada"]["r"])
    rows = [json.loads(line) for line in full.metrics_path.read_text().splitlines()]
    ps, rs = [r.get("ada_p") for r in rows], [r.get("ada_r") for r in rows]
    assert ps[0] is not None and (heuristic == "rv" or ps[-1] > ps[0])  # (rv: no memorising in 3 tiny epochs)
    assert all(-1 <= r <= 1 for r in rs)  # the heuristic, logged beside p
    assert heuristic == "rv" or any(r != 0 for r in rs)  # (rv: 0 for a D that memorised nothing, as here)


@pytest.mark.parametrize("sets, needle", [
    ({"tricks.ada": True, "tricks.diffaug": ["color"]}, "drop one"),
    ({"tricks.ada": True, "data.source": "ring8", "model.arch": "mlp", "data.limit": None}, "2-D points"),
    ({"tricks.ada": True, "method": "vae"}, "tricks.ada with method=vae"),
    ({"tricks.ada": True, "tricks.ada_target": 1.5}, "between 0 and 1, or null for 0.6"),
    ({"tricks.ada_heuristic": "rv"}, "no effect without tricks.ada=true"),
    ({"tricks.ada": True, "tricks.ada_heuristic": "rs"}, "choose one of: rt, rv"),
])
def test_settings_that_do_not_fit_are_refused(tiny_config, sets, needle):
    with pytest.raises(ConfigError, match=needle):
        tiny_config(**sets)


@pytest.mark.parametrize("method", ["gan", "lsgan", "cgan", "acgan", "infogan", "bigan", "msggan"])
def test_every_adversarial_method_scores_the_held_out_images_as_it_scores_real_ones(tmp_path, tiny_config, method):
    """rv works for every GAN: each says how D scores a real batch (condition, encoder, scales included)."""
    cfg = tiny_config(**{"method": method, "tricks.ada": True, "tricks.ada_heuristic": "rv", "tricks.ada_interval": 1})
    run = train(cfg, out=tmp_path / method, log=lambda *a: None)
    rows = [json.loads(line) for line in run.metrics_path.read_text().splitlines()]
    rs = [r["ada_r"] for r in rows if "ada_r" in r]
    assert rs and all(-1 <= r <= 1 for r in rs)
