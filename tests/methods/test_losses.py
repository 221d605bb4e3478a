"""The loss table: each entry's terms against hand computation, what each refuses, that every adversarial method
trains with any entry, and that the relativistic average loss (the newest entry) learns the 2-D ring."""
import math

import pytest
import torch

from ganlab.errors import ConfigError
from ganlab.experiment import load_experiment
from ganlab.methods.losses import LOSSES, get_loss


def sp(v: float) -> float:
    """softplus: the binary cross-entropy of logit v against target 0 is sp(v), against 1 is sp(-v)."""
    return math.log1p(math.exp(v))


def test_every_entry_is_complete_and_named_by_its_key(build):
    assert {"bce", "wgan", "wgan-gp", "hinge", "lsgan", "ragan"} <= set(LOSSES)
    real, fake = torch.tensor([0.5, -1.0, 2.0]), torch.tensor([-0.5, 1.5, 0.0])
    for key, loss in LOSSES.items():
        # its key in objective.loss builds a method with this entry (the table's key is the config's name)
        assert build("gan", **{"objective.loss": key, "model.d_norm": "none"}).loss is loss
        for term in (loss.d_term(real, fake), loss.g_term(real, fake), loss.fake_term(fake, real)):
            assert term.dim() == 0 and torch.isfinite(term)
        assert {"d_real", "d_fake"} <= set(loss.stats(real, fake))
    with pytest.raises(ConfigError, match="choose from: bce, wgan"):
        get_loss("softmax")


def test_ragan_terms_match_hand_computation():
    ragan = LOSSES["ragan"]
    real, fake = torch.tensor([3.0, 1.0]), torch.tensor([0.0, -2.0])
    # relativistic logits: each real against the mean fake (-1), each fake against the mean real (2)
    r_rel, f_rel = [4.0, 2.0], [-2.0, -4.0]
    d_expect = sum(sp(-v) for v in r_rel) / 2 + sum(sp(v) for v in f_rel) / 2
    g_expect = sum(sp(-v) for v in f_rel) / 2 + sum(sp(v) for v in r_rel) / 2
    assert ragan.d_term(real, fake).item() == pytest.approx(d_expect, rel=1e-6)
    assert ragan.g_term(real, fake).item() == pytest.approx(g_expect, rel=1e-6)
    # a mismatched (fake-labelled) input is scored against the mean real logit
    assert ragan.fake_term(torch.tensor([1.0, 3.0]), real).item() == pytest.approx((sp(-1.0) + sp(1.0)) / 2, rel=1e-6)
    stats = ragan.stats(real, fake)
    assert stats["d_real"].item() == pytest.approx(sum(1 / (1 + math.exp(-v)) for v in r_rel) / 2, rel=1e-6)
    # G's term moves the fakes up and, through the mean it is compared with, the reals' relative score down
    f = fake.clone().requires_grad_(True)
    ragan.g_term(real, f).backward()
    assert (f.grad < 0).all()
    assert ragan.g_needs_real and not LOSSES["bce"].g_needs_real


def test_lsgan_and_hinge_terms_match_hand_computation():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.0, -2.0])
    ls = LOSSES["lsgan"]
    assert ls.d_term(real, fake).item() == pytest.approx(0.5 * (0 + 4) / 2 + 0.5 * (0 + 4) / 2)
    assert ls.g_term(None, fake).item() == pytest.approx(0.5 * (1 + 9) / 2)
    assert ls.fake_term(real).item() == pytest.approx(0.5 * (1 + 9) / 2)
    hinge = LOSSES["hinge"]
    assert hinge.fake_term(torch.tensor([-2.0, 0.0])).item() == pytest.approx((0 + 1) / 2)


@pytest.mark.parametrize("sets,match", [
    (["objective.loss=ragan", "tricks.real_label=[0.8, 1.0]"], "no such targets"),
    (["objective.loss=lsgan", "objective.clip=0.01"], "weight clipping"),
    (["objective.loss=hinge", "objective.gp_lambda=5"], "gradient penalty"),
    (["objective.loss=wgan-gp", "model.d_norm=none", "objective.r1_gamma=1"], "two gradient penalties"),
    (["objective.loss=ragan", "method=bigan"], "relativistic"),
    (["objective.loss=nonsense"], "not a loss"),
    (["objective.loss=nonsense", "method=vae"], "not a loss"),
])
def test_incompatible_settings_are_refused_with_the_reason(sets, match):
    with pytest.raises(ConfigError, match=match):
        load_experiment(None, sets)


@pytest.mark.parametrize("method,loss,extra", [
    ("cgan", "lsgan", {"cond.mismatch": True}),   # a conditional LSGAN: impossible while LSGAN was a method
    ("cgan", "ragan", {"cond.mismatch": True}),   # the mismatch term of a relativistic loss reads real logits
    ("infogan", "ragan", {}),
    ("msggan", "lsgan", {}),
    ("acgan", "hinge", {}),
])
def test_every_adversarial_method_trains_with_table_entries(build, batch, finite, method, loss, extra):
    m = build(method, **{"objective.loss": loss, **extra})
    assert m.loss is LOSSES[loss]
    g_before = [p.clone() for p in m.G.parameters()]
    for i in range(2):
        stats = m.train_step(batch(start=32 * i))
        assert finite(stats) and {"d_loss", "g_loss", "d_real"} <= set(stats)
    assert any(not torch.equal(a, p) for a, p in zip(g_before, m.G.parameters()))


def test_lsgan_method_is_the_gan_with_the_lsgan_loss(build, batch):
    """``method: lsgan`` (old runs, the recipe) trains exactly as ``method: gan`` with ``objective.loss: lsgan``."""
    alias, gan = build("lsgan", seed=4), build("gan", seed=4, **{"objective.loss": "lsgan"})
    for m in (alias, gan):
        torch.manual_seed(9)
        for i in range(3):
            m.train_step(batch(start=32 * i))
    assert all(torch.equal(a, b) for a, b in zip(alias.G.parameters(), gan.G.parameters()))
    with pytest.raises(ConfigError, match="least-squares"):
        load_experiment(None, ["objective.loss=hinge"], {"method": "lsgan"})


def test_relativistic_g_phase_scores_the_real_batch(build, batch):
    """G's phase runs D on the real batch only where the loss compares with it."""
    for loss, expect in (("bce", 1), ("ragan", 2)):
        m = build("gan", **{"objective.loss": loss})
        calls = []
        m.D.register_forward_hook(lambda *a: calls.append(1))
        m.g_objective(batch())
        assert len(calls) == expect, loss


RING = {"method": "gan", "objective.loss": "ragan", "data.source": "ring8", "model.arch": "mlp",
        "model.latent_dim": 8, "model.mlp_hidden": 128, "model.g_norm": "batch", "optim.g_lr": 2e-4,
        "optim.d_lr": 1e-3, "optim.g_betas": [0.5, 0.9], "optim.d_betas": [0.5, 0.9], "tricks.ema": 0.98}


@pytest.mark.slow
def test_ragan_covers_the_ring(one_thread, ring_coverage):
    modes, good = ring_coverage(RING)
    print(f"ragan ring8: {modes} modes, {good:.2f} high quality")
    assert modes >= 6 and good > 0.4
