import pytest
import torch

from ganlab.config import ModelConfig
from ganlab.models import build_discriminator, build_generator, count_parameters


@pytest.mark.parametrize("size", [16, 32, 64, 128])
@pytest.mark.parametrize("up", ["deconv", "nearest", "bilinear"])
def test_generator_and_discriminator_shapes(size, up):
    mc = ModelConfig(upsample=up, g_width=8, d_width=8, latent_dim=10)
    G, D = build_generator(mc, (3, size, size)), build_discriminator(mc, (3, size, size))
    x = G(torch.randn(2, 10))
    assert x.shape == (2, 3, size, size)
    assert x.abs().max() <= 1  # tanh output
    assert D(x).shape == (2,)


def test_depth_follows_image_size():
    mc = ModelConfig(g_width=8, d_width=8)
    n16 = len(build_generator(mc, (1, 16, 16)).blocks)
    n64 = len(build_generator(mc, (1, 64, 64)).blocks)
    assert n64 == n16 + 2
    # widths halve towards the image, ending at g_width
    G = build_generator(ModelConfig(g_width=64), (3, 64, 64))
    assert G.widths == [512, 256, 128, 64]
    assert build_discriminator(ModelConfig(d_width=64), (3, 64, 64)).widths == [64, 128, 256, 512]


def test_upsampling_modes_differ_in_layers():
    kinds = {}
    for up in ["deconv", "nearest", "bilinear"]:
        G = build_generator(ModelConfig(upsample=up, g_width=8), (1, 32, 32))
        kinds[up] = [type(m).__name__ for m in G.blocks[0].modules()]
        if up == "deconv":
            assert "ConvTranspose2d" in kinds[up]
        else:
            assert any(isinstance(m, torch.nn.Upsample) and m.mode == up for m in G.blocks[0].modules())


def test_dcgan_initialisation():
    torch.manual_seed(0)
    G = build_generator(ModelConfig(), (3, 64, 64))
    conv = [m for m in G.modules() if isinstance(m, (torch.nn.ConvTranspose2d, torch.nn.Conv2d))]
    bn = [m for m in G.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    w = torch.cat([m.weight.flatten() for m in conv])
    assert abs(w.std().item() - 0.02) < 0.002 and abs(w.mean().item()) < 1e-3
    g = torch.cat([m.weight.flatten() for m in bn])
    assert abs(g.mean().item() - 1) < 0.01 and abs(g.std().item() - 0.02) < 0.005
    assert all(m.bias.abs().sum() == 0 for m in bn)


def test_switches_change_the_network():
    base = build_generator(ModelConfig(g_width=8), (1, 16, 16))
    no_bn = build_generator(ModelConfig(g_width=8, g_norm="none"), (1, 16, 16))
    selu = build_generator(ModelConfig(g_width=8, g_act="selu"), (1, 16, 16))
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in base.modules())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in no_bn.modules())
    assert any(isinstance(m, torch.nn.SELU) for m in selu.modules())
    sig = build_generator(ModelConfig(g_width=8, output="sigmoid"), (1, 16, 16))
    assert sig(torch.randn(4, 100)).min() >= 0
    assert count_parameters(build_generator(ModelConfig(g_width=16), (1, 16, 16))) > count_parameters(base)


def test_spectral_norm_bounds_the_discriminator():
    D = build_discriminator(ModelConfig(d_width=8, spectral_norm=True, d_norm="none"), (1, 16, 16))
    names = [n for n, _ in D.named_parameters()]
    assert any("parametrizations.weight.original" in n for n in names)


def test_mlp_family_for_points_and_images():
    mc = ModelConfig(arch="mlp", mlp_hidden=32, mlp_layers=2, g_norm="none")
    G, D = build_generator(mc, (2,)), build_discriminator(mc, (2,))
    pts = G(torch.randn(5, 100))
    assert pts.shape == (5, 2) and D(pts).shape == (5,)
    Gi = build_generator(mc, (1, 16, 16))
    assert Gi(torch.randn(3, 100)).shape == (3, 1, 16, 16)
