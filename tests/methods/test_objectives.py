import math

import torch

from ganlab.methods import objectives
from ganlab.methods.losses import LOSSES


def d_loss(name, real, fake, real_target=None, fake_target=None):
    entry = LOSSES[name]
    return entry.d_term(real, fake, real_target, fake_target), entry.stats(real, fake)


def g_loss(name, fake, real=None):
    return LOSSES[name].g_term(real, fake)


def test_bce_matches_hand_computation():
    real, fake = torch.tensor([2.0, 0.0]), torch.tensor([-1.0, 1.0])
    loss, stats = d_loss("bce", real, fake)
    sp = lambda v: math.log1p(math.exp(v))  # noqa: E731 - softplus
    expect = (sp(-2) + sp(0)) / 2 + (sp(-1) + sp(1)) / 2
    assert abs(loss.item() - expect) < 1e-6
    assert abs(stats["d_real"].item() - (torch.sigmoid(real).mean().item())) < 1e-6
    g = g_loss("bce", fake)  # non-saturating: -log sigmoid(fake)
    assert abs(g.item() - (sp(1) + sp(-1)) / 2) < 1e-6


def test_label_targets_change_bce():
    real, fake = torch.zeros(4), torch.zeros(4)
    a, _ = d_loss("bce", real, fake)
    b, _ = d_loss("bce", real, fake, real_target=0.9, fake_target=torch.full((4,), 0.1))
    assert abs(a.item() - 2 * math.log(2)) < 1e-6 and abs(b.item() - 2 * math.log(2)) < 1e-6  # logit 0: same
    c, _ = d_loss("bce", torch.full((4,), 3.0), torch.full((4,), -3.0), real_target=0.9)
    d, _ = d_loss("bce", torch.full((4,), 3.0), torch.full((4,), -3.0))
    assert c.item() > d.item()


def test_wasserstein_and_hinge():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.0, -2.0])
    loss, stats = d_loss("wgan", real, fake)
    assert loss.item() == -1.0 - 2.0 and stats["wasserstein"].item() == 3.0
    h, _ = d_loss("hinge", real, fake)
    assert abs(h.item() - (0.0 + 0.0 + 0.5 + 0.0)) < 1e-6  # relu(1-1)=0, relu(1-3)=0, relu(1+0)=1, relu(1-2)=0
    assert g_loss("wgan", fake).item() == 1.0


def test_gradient_penalty():
    x_real, x_fake = torch.randn(8, 3), torch.randn(8, 3)
    unit = lambda x: (x * torch.tensor([0.6, 0.8, 0.0])).sum(1)  # noqa: E731 - gradient norm exactly 1
    assert objectives.gradient_penalty(unit, x_real, x_fake).item() < 1e-10
    steep = lambda x: 3 * x.sum(1)  # noqa: E731 - gradient norm 3*sqrt(3)
    gp = objectives.gradient_penalty(steep, x_real, x_fake)
    assert abs(gp.item() - (3 * math.sqrt(3) - 1) ** 2) < 1e-4
