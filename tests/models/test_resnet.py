"""The residual family (model.arch=resnet): shapes at every supported size, the blocks' wiring, and what the
config refuses."""
import pytest
import torch

from ganlab.errors import ConfigError
from ganlab.models import ResNetDiscriminator, ResNetGenerator, build_discriminator, build_generator
from ganlab.models.resnet import DownBlock, UpBlock


@pytest.mark.parametrize("size", [16, 32, 64, 128])
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes_at_every_size(size, channels):
    g = ResNetGenerator(12, channels, size, width=4, upsample="nearest")
    d = ResNetDiscriminator(channels, size, width=4)
    x = g(torch.randn(3, 12))
    assert x.shape == (3, channels, size, size) and x.abs().max() <= 1
    assert d(x).shape == (3,)
    assert d.features(x).shape == (3, d.widths[-1], 4, 4) and d.feature_dim == d.widths[-1] * 16
    # one block per doubling; widths halve towards the image (G) and double away from it (D)
    assert len(g.blocks) == len(d.blocks) + 1 == {16: 2, 32: 3, 64: 4, 128: 5}[size]
    assert g.widths[-1] == 4 and g.widths == sorted(g.widths, reverse=True)
    assert d.widths[0] == 4 and d.widths == sorted(d.widths)


def test_blocks_are_residual():
    torch.manual_seed(0)
    up = UpBlock(8, 4, "bilinear", "batch", "relu", 0.2)
    x = torch.randn(2, 8, 4, 4)
    with torch.no_grad():  # zero the residual path: what is left is the upsampled 1x1 shortcut
        up.conv2.weight.zero_()
        up.conv2.bias.zero_()
    expect = torch.nn.functional.interpolate(up.shortcut(x), scale_factor=2, mode="bilinear", align_corners=False)
    assert torch.allclose(up(x), expect, atol=1e-6)
    down = DownBlock(4, 8, "none", "relu", 0.2)
    with torch.no_grad():
        down.conv2.weight.zero_()
        down.conv2.bias.zero_()
    y = torch.randn(2, 4, 8, 8)
    assert torch.allclose(down(y), torch.nn.functional.avg_pool2d(down.shortcut(y), 2), atol=1e-6)
    assert down(y).shape == (2, 8, 4, 4)


def test_pre_activation_leaves_the_input_alone():
    """A block's input also feeds its shortcut: an in-place activation would change what the shortcut sees."""
    up = UpBlock(4, 4, "nearest", "none", "relu", 0.2)
    x = torch.randn(2, 4, 4, 4)
    before = x.clone()
    up(x)
    assert torch.equal(x, before)


def test_extra_channels_and_outputs_of_conditional_critics():
    d = ResNetDiscriminator(3, 32, width=4, extra_channels=5, out_dim=2)
    x = torch.randn(2, 3, 32, 32)
    assert d(x, torch.randn(2, 5, 16, 16)).shape == (2, 2)
    assert d(x, torch.randn(2, 5, 1, 1)).shape == (2, 2)  # broadcast label vectors are expanded
    with pytest.raises(ValueError, match="extra input channels"):
        d(x)


def test_spectral_norm_and_build_from_config(tiny_config):
    cfg = tiny_config(**{"model.arch": "resnet", "model.upsample": "nearest", "model.spectral_norm": True,
                         "model.d_norm": "none"})
    g = build_generator(cfg.model, (1, 16, 16), 16)
    d = build_discriminator(cfg.model, (1, 16, 16))
    assert isinstance(g, ResNetGenerator) and isinstance(d, ResNetDiscriminator)
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(torch.nn.utils.parametrize.is_parametrized(m, "weight") for m in convs)
    x = g(torch.randn(4, 16))
    d(x).sum().backward()
    assert all(p.grad is not None for p in d.parameters() if p.requires_grad)


def test_config_refuses_the_transposed_conv(tiny_config):
    with pytest.raises(ConfigError, match="model.upsample=nearest or bilinear"):
        tiny_config(**{"model.arch": "resnet", "model.upsample": "deconv"})


def test_msggan_refuses_the_residual_family(tiny_config):
    with pytest.raises(ConfigError, match="model.arch=dcgan"):
        tiny_config(method="msggan", **{"model.arch": "resnet", "model.upsample": "nearest"})
