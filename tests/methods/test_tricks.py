"""The training tricks change what D sees, its targets, the update counts and the sampling generator,
for every adversarial method through the one shared step path."""
import pytest
import torch
from torch import nn

from ganlab.errors import ConfigError
from ganlab.methods import tricks

ADVERSARIAL = ["gan", "cgan", "acgan", "infogan", "bigan", "msggan"]


def capture_d_inputs(m):
    """Record the image D receives in each forward call (the full-size one for MSG-GAN)."""
    seen = []

    def hook(mod, args, out):
        x = args[0]
        seen.append((x[-1] if isinstance(x, (list, tuple)) else x).detach().clone())
    m.D.register_forward_hook(hook)
    return seen


# --------------------------------------------------------------------------- instance noise

@pytest.mark.parametrize("method", ADVERSARIAL)
def test_instance_noise_changes_what_D_sees(method, batch, build):
    b = batch()
    m = build(method, **{"tricks.instance_noise": 0.5, "model.mlp_hidden": 32})
    seen = capture_d_inputs(m)
    m.d_step(b)
    diff = seen[0] - b.x
    assert diff.std().item() == pytest.approx(0.5, rel=0.1)
    plain = build(method, **{"model.mlp_hidden": 32})
    seen = capture_d_inputs(plain)
    plain.d_step(b)
    assert torch.equal(seen[0], b.x)


def test_instance_noise_anneals_over_the_planned_steps(batch, build, tiny_config):
    m = build("gan", **{"tricks.instance_noise": 0.4, "tricks.instance_noise_anneal": True})
    assert m.noise_std() == pytest.approx(0.4)  # no planned total known: no annealing
    m.total_steps = 10
    m.g_steps = 5
    assert m.noise_std() == pytest.approx(0.2)
    m.g_steps = 12
    assert m.noise_std() == 0.0
    b = batch()
    seen = capture_d_inputs(m)
    m.d_step(b)
    assert torch.equal(seen[0], b.x)  # annealed away
    m = build("gan", **{"tricks.instance_noise": 0.4, "tricks.instance_noise_anneal": True, "train.steps": 20})
    m.g_steps = 5
    assert m.noise_std() == pytest.approx(0.3)  # falls back to train.steps
    m = build("gan", **{"tricks.instance_noise": 0.4})
    m.total_steps, m.g_steps = 10, 5
    assert m.noise_std() == pytest.approx(0.4)  # not annealed unless asked
    with pytest.raises(ConfigError, match="instance_noise > 0"):
        tiny_config(**{"tricks.instance_noise_anneal": True})


def test_instance_noise_on_points(batch, build, dataset):
    ds = dataset("ring8")
    m = build("gan", ds, **{"tricks.instance_noise": 0.1, "model.mlp_hidden": 32})
    b = batch(ds, n=64)
    seen = capture_d_inputs(m)
    m.d_step(b)
    assert (seen[0] - b.x).std().item() == pytest.approx(0.1, rel=0.2)


# --------------------------------------------------------------------------- label targets

def test_label_targets_ranges_beta_and_one_sided(tiny_config):
    cfg = tiny_config(**{"tricks.real_label": [0.7, 0.9], "tricks.fake_label": [0.0, 0.2]}).tricks
    real, fake = tricks.label_targets(cfg, 1000, "cpu")
    assert 0.7 <= real.min() and real.max() <= 0.9 and real.std() > 0.03
    assert 0.0 <= fake.min() and fake.max() <= 0.2 and fake.std() > 0.03
    cfg = tiny_config(**{"tricks.label_noise_beta": [1, 5]}).tricks
    real, fake = tricks.label_targets(cfg, 4000, "cpu")
    assert (1 - real).mean().item() == pytest.approx(1 / 6, abs=0.02)  # Beta(1, 5) has mean 1/6
    assert fake.mean().item() == pytest.approx(1 / 6, abs=0.02) and fake.min() >= 0
    cfg = tiny_config(**{"tricks.real_label": [0.9, 0.9], "tricks.one_sided": True}).tricks
    real, fake = tricks.label_targets(cfg, 10, "cpu")
    assert torch.allclose(real, torch.full((10,), 0.9)) and fake is None
    cfg = tiny_config().tricks
    assert tricks.label_targets(cfg, 10, "cpu") == (None, None)


@pytest.mark.parametrize("method", ADVERSARIAL)
def test_label_targets_change_D_loss(method, build):
    logits = torch.full((16,), 6.0)
    plain = build(method, **{"model.mlp_hidden": 32})
    soft = build(method, **{"tricks.real_label": [0.7, 0.8], "model.mlp_hidden": 32})
    lp = plain.loss.d_term(logits, -logits, *plain.targets(16, "cpu"))
    ls = soft.loss.d_term(logits, -logits, *soft.targets(16, "cpu"))
    assert ls > lp + 0.5  # a confident "real" costs more when the target is 0.75
    noisy = build(method, **{"tricks.label_noise_beta": [1, 5], "model.mlp_hidden": 32})
    # mismatch/fake terms use the targets too
    assert (noisy.loss.fake_term(-logits, logits, noisy.targets(16, "cpu")[1])
            > plain.loss.fake_term(-logits, logits, plain.targets(16, "cpu")[1]) + 0.1)


@pytest.mark.parametrize("key,value", [("tricks.real_label", [0.7, 1.0]), ("tricks.fake_label", [0.0, 0.3]),
                                       ("tricks.label_noise_beta", [1, 5])])
@pytest.mark.parametrize("loss", ["wgan", "wgan-gp", "hinge"])
def test_label_targets_need_bce(key, value, loss, tiny_config):
    with pytest.raises(ConfigError, match="bce"):
        tiny_config(**{key: value, "objective.loss": loss, "model.d_norm": "none"})


def test_label_target_values_are_checked(tiny_config):
    with pytest.raises(ConfigError, match="real_label"):
        tiny_config(**{"tricks.real_label": [0.9, 0.7]})
    with pytest.raises(ConfigError, match="label_noise_beta"):
        tiny_config(**{"tricks.label_noise_beta": [0, 5]})
    with pytest.raises(ConfigError, match="one-sided"):
        tiny_config(**{"tricks.fake_label": [0.0, 0.1], "tricks.one_sided": True})


# --------------------------------------------------------------------------- DiffAugment

@pytest.mark.parametrize("policy", [["color"], ["translation"], ["cutout"], ["color", "translation", "cutout"]])
def test_diffaugment_changes_images_and_keeps_gradients(policy):
    torch.manual_seed(0)
    x = torch.rand(8, 3, 16, 16, requires_grad=True)
    y = tricks.diff_augment(x, policy)
    assert y.shape == x.shape and not torch.allclose(y, x)
    (y * torch.randn_like(y)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and (x.grad != 0).float().mean() > 0.5


def test_diffaugment_color_is_brightness_then_saturation_then_contrast():
    """The folded one-pass colour change equals the three steps one after the other, values and gradients."""
    torch.manual_seed(2)
    x = (torch.rand(8, 3, 16, 16) * 2 - 1).requires_grad_(True)
    w = torch.randn(8, 3, 16, 16)
    torch.manual_seed(5)
    y = tricks.diff_augment(x, ["color"])
    (y * w).sum().backward()
    got = x.grad.clone()
    x.grad = None
    torch.manual_seed(5)  # the same draws, in the order diff_augment makes them
    bright = torch.rand(8, 1, 1, 1) - 0.5
    sat = torch.rand(8, 1, 1, 1) * 2
    con = torch.rand(8, 1, 1, 1) + 0.5
    t = x + bright
    m = t.mean(dim=1, keepdim=True)
    t = (t - m) * sat + m
    m = t.mean(dim=(1, 2, 3), keepdim=True)
    ref = (t - m) * con + m
    (ref * w).sum().backward()
    assert torch.allclose(y, ref, atol=1e-5) and torch.allclose(got, x.grad, atol=1e-5)


def test_diffaugment_translation_shifts_and_cutout_erases():
    x = torch.zeros(64, 1, 16, 16)
    x[:, :, 8, 8] = 1.0
    y = tricks.diff_augment(x, ["translation"])
    assert torch.allclose(y.sum((1, 2, 3)), torch.ones(64))  # a shift of at most 2 pixels keeps the dot
    assert (y[:, 0, 8, 8] == 0).any()  # ... but moves it for some samples
    y = tricks.diff_augment(torch.ones(16, 1, 16, 16), ["cutout"])
    assert ((y == 0).float().mean((1, 2, 3)) > 0.05).all()  # every sample loses a square


def test_diffaugment_draws_one_change_per_sample_for_all_scales():
    torch.manual_seed(1)
    full = torch.full((4, 3, 16, 16), 0.3)
    small = torch.full((4, 3, 4, 4), 0.3)
    a, b = tricks.diff_augment([small, full], ["color"])
    assert torch.allclose(a.mean((1, 2, 3)), b.mean((1, 2, 3)), atol=1e-6)


@pytest.mark.parametrize("method", ADVERSARIAL)
def test_diffaugment_on_real_and_fake_D_inputs_and_G_still_learns(method, batch, build):
    b = batch()
    m = build(method, **{"tricks.diffaug": ["color", "translation", "cutout"], "model.mlp_hidden": 32})
    seen = capture_d_inputs(m)
    m.d_step(b)
    assert not torch.allclose(seen[0], b.x)
    g_before = [p.clone() for p in m.G.parameters()]
    m.g_step(b)
    assert any(not torch.equal(a, p) for a, p in zip(g_before, m.G.parameters()))


def test_diffaugment_refused_for_points_and_unknown_policies(tiny_config):
    with pytest.raises(ConfigError, match="2-D points"):
        tiny_config(**{"data.source": "ring8", "model.arch": "mlp", "tricks.diffaug": ["color"]})
    with pytest.raises(ConfigError, match="rotation"):
        tiny_config(**{"tricks.diffaug": ["rotation"]})


# --------------------------------------------------------------------------- dynamic update counts

def count_calls(obj, name: str) -> list:
    """Wrap obj.name so that its calls are counted in the returned one-element list."""
    calls, inner = [0], getattr(obj, name)

    def counted(*args, **kwargs):
        calls[0] += 1
        return inner(*args, **kwargs)
    setattr(obj, name, counted)
    return calls


@pytest.mark.parametrize("method", ["gan", "cgan", "bigan"])
def test_dynamic_update_counts_follow_the_thresholds(method, batch, build, finite):
    b = batch()
    counts = {}
    for name, thr in (("never", -1e9), ("always", 1e9)):
        m = build(method, **{"tricks.dynamic": True, "tricks.d_threshold": thr, "tricks.g_threshold": thr,
                             "tricks.max_d_repeats": 4, "tricks.max_g_repeats": 3, "model.mlp_hidden": 32})
        d_calls, g_calls = count_calls(m.opt_d, "step"), count_calls(m.opt_g, "step")
        stats = m.train_step(b)
        counts[name] = (d_calls[0], g_calls[0], stats["d_updates"].item(), stats["g_updates"].item(), m.g_steps)
        assert finite(stats)
    assert counts["never"] == (4, 3, 4.0, 3.0, 1)  # loss never below: repeat up to the caps
    assert counts["always"] == (1, 1, 1.0, 1.0, 1)  # already below: one update each


# --------------------------------------------------------------------------- EMA of G

@pytest.mark.parametrize("method", ADVERSARIAL)
def test_ema_generator_is_a_moving_average_used_for_samples(method, batch, build):
    m = build(method, **{"tricks.ema": 0.5, "model.mlp_hidden": 32})
    assert "G_ema" in m.modules() and "G_ema" not in m.optimizers()
    assert not any(p.requires_grad for p in m.G_ema.parameters())
    b = batch()
    old = [p.clone() for p in m.G_ema.parameters()]
    m.train_step(b)
    new_g = list(m.G.parameters())
    for o, e, g in zip(old, m.G_ema.parameters(), new_g):
        assert torch.allclose(e, 0.5 * o + 0.5 * g, atol=1e-6)
    assert any(not torch.equal(e, g) for e, g in zip(m.G_ema.parameters(), new_g))  # not a copy of G
    dist_before = sum((e - g).abs().sum() for e, g in zip(m.G_ema.parameters(), new_g))
    m.train_step(batch(start=32))
    m.train_step(batch(start=64))
    # generate() samples from G_ema, and in eval mode
    m.train(False)
    assert not m.G_ema.training
    inputs = m.sample_inputs(4, torch.Generator().manual_seed(0))
    out = m.generate(inputs)
    with torch.no_grad():
        from_ema = m.image_of(m.run_G(m.G_ema, inputs))
        from_g = m.image_of(m.run_G(m.G, inputs))
    assert torch.equal(out, from_ema) and not torch.allclose(out, from_g)
    assert dist_before > 0


def _eval_vs_train_mode_gap(m) -> float:
    """How far G_ema's samples (eval mode: running statistics) are from its outputs under the batch's own
    statistics, on one large batch: small when the running statistics belong to G_ema's weights."""
    import copy
    inputs = m.sample_inputs(1024, torch.Generator().manual_seed(7))
    G = m.G_ema
    probe = copy.deepcopy(G).train()  # a training-mode pass would move G_ema's own statistics
    with torch.no_grad():
        return (m.run_G(G, inputs) - m.run_G(probe, inputs)).abs().mean().item()


@pytest.mark.parametrize("method", ["gan", "cgan"])
def test_ema_generator_samples_with_batch_norm_statistics_of_its_own_weights(method, batch, build):
    """tricks.ema_stats=recompute measures G_ema's batch-norm statistics on its own outputs before it samples;
    ``copy`` (the old behaviour) keeps the live G's, which belong to other weights."""
    gap, ms = {}, {}
    for how in ("recompute", "copy"):
        m = build(method, **{"tricks.ema": 0.99, "tricks.ema_stats": how, "optim.g_lr": 2e-3})
        for i in range(8):
            m.train_step(batch(start=32 * i))
        rng = torch.get_rng_state()
        m.sampling_G()
        assert torch.equal(torch.get_rng_state(), rng)  # measuring draws nothing from the training's stream
        gap[how], ms[how] = _eval_vs_train_mode_gap(m), m
    assert gap["recompute"] < 0.5 * gap["copy"], gap
    copied = ms["copy"]
    assert all(torch.equal(a, b) for a, b in zip(copied.G_ema.buffers(), copied.G.buffers()))
    m = ms["recompute"]
    assert not all(torch.equal(a, b) for a, b in zip(m.G_ema.buffers(), m.G.buffers()))
    assert all(torch.equal(a, b) for a, b in zip(m.G_ema.parameters(), copied.G_ema.parameters()))  # same weights
    before = [b.clone() for b in m.G_ema.buffers()]
    m.sampling_G()  # measured once per move of G
    assert all(torch.equal(a, b) for a, b in zip(before, m.G_ema.buffers()))
    m.train_step(batch())
    m.sampling_G()
    assert not all(torch.equal(a, b) for a, b in zip(before, m.G_ema.buffers()))


def test_ema_moves_toward_a_fixed_generator(build, tiny_config):
    m = build("gan", **{"tricks.ema": 0.9})
    with torch.no_grad():
        for p in m.G_ema.parameters():
            p.add_(1.0)

    def dist():
        return sum((e - g).abs().sum().item() for e, g in zip(m.G_ema.parameters(), m.G.parameters()))
    d0 = dist()
    for _ in range(5):
        tricks.ema_update(m.G_ema, m.G, 0.9)
    assert dist() == pytest.approx(d0 * 0.9 ** 5, rel=1e-3)
    with pytest.raises(ConfigError, match="decay"):
        tiny_config(**{"tricks.ema": 1.5})


def test_ema_rampup_shortens_the_horizon_to_a_share_of_the_steps_taken():
    assert tricks.ema_decay(0.999, None, 0) == 0.999
    assert tricks.ema_decay(0.999, 0.1, 0) == 0.0  # the first step: the average is G itself
    assert tricks.ema_decay(0.999, 0.1, 50) == pytest.approx(1 - 1 / 5)  # a horizon of 5 steps after 50
    assert tricks.ema_decay(0.999, 0.1, 5_000) == pytest.approx(1 - 1 / 500)
    assert tricks.ema_decay(0.999, 0.1, 100_000) == 0.999  # capped at tricks.ema's horizon


def test_with_a_rampup_the_average_forgets_the_starting_weights(batch, build, tiny_config):
    """G_ema starts as a copy of the initial G; with the ramp-up the first update replaces it with G's weights
    after one step, where a plain decay of 0.999 keeps 99.9% of the initial ones."""
    plain, ramped = (build("gan", **{"tricks.ema": 0.999, **extra}) for extra in ({}, {"tricks.ema_rampup": 0.1}))
    for m in (plain, ramped):
        m.train_step(batch())
    assert all(torch.equal(e, g) for e, g in zip(ramped.G_ema.parameters(), ramped.G.parameters()))
    assert not all(torch.equal(e, g) for e, g in zip(plain.G_ema.parameters(), plain.G.parameters()))
    with pytest.raises(ConfigError, match="ema_rampup.*without tricks.ema"):
        tiny_config(**{"tricks.ema_rampup": 0.1})
    with pytest.raises(ConfigError, match="share"):
        tiny_config(**{"tricks.ema": 0.99, "tricks.ema_rampup": 2.0})


def test_tricks_together_stay_finite(batch, build, finite):
    m = build("cgan", **{"tricks.dynamic": True, "tricks.instance_noise": 0.1, "tricks.instance_noise_anneal": True,
                         "tricks.label_noise_beta": [1, 5], "tricks.ema": 0.99, "tricks.max_d_repeats": 2,
                         "tricks.max_g_repeats": 2, "tricks.diffaug": ["translation"], "cond.mismatch": True})
    m.total_steps = 4
    for i in range(3):
        assert finite(m.train_step(batch(start=32 * i)))


def test_recomputing_batch_norm_statistics_builds_no_graph():
    """The passes that re-estimate the moving average's batch-norm statistics need no gradients (a graph per pass
    would only cost memory)."""
    G = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8))
    grad_on = []

    def run(net, inputs):
        grad_on.append(torch.is_grad_enabled())
        return net(inputs["z"])
    tricks.recompute_bn_stats(G, lambda g: {"z": torch.randn(16, 4, generator=g)}, run, "cpu", batches=2, seed=0)
    assert grad_on == [False, False] and not G.training
    assert float(G[1].num_batches_tracked) == 2
