"""The conditional generator: embeddings concatenated with z, and conditional batch norm (cond.g_mode=cbn)."""
import pytest
import torch
from torch import nn

from ganlab.config import ModelConfig
from ganlab.models.conditional import CondBatchNorm, CondGenerator, conditionalize_norms


def _gen(arch="dcgan", mode="cbn", **kw):
    kw.setdefault("upsample", "nearest" if arch == "resnet" else "deconv")
    mc = ModelConfig(arch=arch, g_width=8, latent_dim=6, mlp_hidden=16, **kw)
    shape = (2,) if arch == "mlp" else (1, 16, 16)
    torch.manual_seed(0)
    return CondGenerator(mc, shape, 6, [3, 4], 5, mode)


@pytest.mark.parametrize("arch", ["dcgan", "resnet", "mlp"])
def test_cbn_replaces_every_batch_norm_of_the_family(arch):
    plain, cond = _gen(arch, "concat", **({"g_norm": "batch"} if arch == "mlp" else {})), \
        _gen(arch, "cbn", **({"g_norm": "batch"} if arch == "mlp" else {}))
    n_bn = sum(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) and m.affine for m in plain.modules())
    assert n_bn > 0 and len(cond.cbn) == n_bn
    assert not any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) and m.affine for m in cond.modules())
    z, codes = torch.randn(8, 6), torch.stack([torch.arange(8) % 3, torch.arange(8) % 4], 1)
    assert cond(z, codes).shape == plain(z, codes).shape


def test_cbn_starts_as_plain_batch_norm_and_then_follows_the_condition():
    bn = nn.BatchNorm2d(4)
    cbn = CondBatchNorm(bn, 3)
    x, c = torch.randn(5, 4, 2, 2), torch.randn(5, 3)
    cbn.set_condition(c)
    assert torch.allclose(cbn(x), bn(x), atol=1e-6)  # gain 1, bias 0 for every condition at the start
    with torch.no_grad():
        cbn.gain.weight.normal_()
        cbn.bias.weight.normal_()
    y = cbn(x)
    c2 = c.clone()
    c2[0] += 1.0
    cbn.set_condition(c2)
    y2 = cbn(x)
    assert not torch.allclose(y[0], y2[0]) and torch.allclose(y[1:], y2[1:], atol=1e-6)  # per-sample gain/bias


def test_cbn_condition_is_only_set_during_the_generators_forward():
    G = _gen()
    z, codes = torch.randn(4, 6), torch.zeros(4, 2, dtype=torch.long)
    G(z, codes)
    assert all(layer.cond is None for layer in G.cbn)  # nothing held between calls (a checkpoint, a copy)
    with pytest.raises(RuntimeError, match="no condition set"):
        G.net(torch.randn(4, 6 + 10))


def test_cbn_conditions_G_through_its_norms_alone():
    """With the concatenated embeddings cut off, the condition still reaches the image through the norms."""
    G = _gen()
    for layer in G.cbn:
        nn.init.normal_(layer.gain.weight, 0, 0.5)
    z = torch.randn(4, 6)
    a, b = torch.zeros(4, 2, dtype=torch.long), torch.ones(4, 2, dtype=torch.long)
    G.train(False)
    stem = G.net.stem[0]
    with torch.no_grad():
        stem.weight[6:] = 0  # the embeddings' slice of G's input
        assert not torch.allclose(G(z, a), G(z, b))
    plain = _gen(mode="concat")
    plain.train(False)
    with torch.no_grad():
        plain.net.stem[0].weight[6:] = 0
        assert torch.allclose(plain(z, a), plain(z, b))


def test_conditionalize_norms_returns_the_new_layers_in_place():
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Sequential(nn.BatchNorm1d(4)))
    layers = conditionalize_norms(net, 2)
    assert len(layers) == 2 and net[1] is layers[0] and net[2][0] is layers[1]


def test_cbn_refuses_a_generator_without_batch_norm():
    with pytest.raises(ValueError, match="no batch norm"):
        _gen(g_norm="none")
    with pytest.raises(ValueError, match="choose concat or cbn"):
        _gen(mode="film")
