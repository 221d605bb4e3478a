"""DCGAN generator and discriminator, sized from the image resolution.

The generator projects the input vector to a 4x4 map with a transposed convolution, then doubles
the resolution log2(size/4) times. Each doubling is a 4x4 stride-2 transposed convolution
(``deconv``) or an upsample (``nearest``/``bilinear``) followed by a 3x3 convolution. The
discriminator mirrors it with stride-2 convolutions down to 4x4 and a 4x4 convolution to one logit.
Channel widths halve as the resolution doubles, ending at ``width`` (ngf/ndf) next to the image.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ganlab.models.layers import (
    activation,
    apply_spectral_norm,
    dcgan_init,
    join_extra,
    norm2d,
    output_activation,
)


def n_doublings(image_size: int) -> int:
    n = math.log2(image_size / 4)
    if image_size < 8 or not n.is_integer():
        raise ValueError(f"image size {image_size} is not supported by the DCGAN family; use 16, 32, 64 or 128")
    return int(n)


def _up(cin: int, cout: int, mode: str) -> nn.Module:
    if mode == "deconv":
        return nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False)
    if mode in ("nearest", "bilinear"):
        kw = {"align_corners": False} if mode == "bilinear" else {}
        return nn.Sequential(nn.Upsample(scale_factor=2, mode=mode, **kw), nn.Conv2d(cin, cout, 3, 1, 1, bias=False))
    raise ValueError(f"unknown upsampling {mode!r}; choose deconv, nearest or bilinear")


class DCGANGenerator(nn.Module):
    def __init__(self, in_dim: int, channels: int, image_size: int, width: int = 64, upsample: str = "deconv",
                 norm: str = "batch", act: str = "relu", slope: float = 0.2, output: str = "tanh"):
        super().__init__()
        self.in_dim, self.channels, self.image_size = in_dim, channels, image_size
        n = n_doublings(image_size)
        widths = [width * 2 ** (n - 1 - i) for i in range(n)]  # e.g. 64px: 512, 256, 128, 64
        self.stem = nn.Sequential(nn.ConvTranspose2d(in_dim, widths[0], 4, 1, 0, bias=norm != "batch"),
                                  norm2d(norm, widths[0]), activation(act, slope))
        blocks = []
        for cin, cout in zip(widths[:-1], widths[1:]):
            blocks.append(nn.Sequential(_up(cin, cout, upsample), norm2d(norm, cout), activation(act, slope)))
        self.blocks = nn.ModuleList(blocks)
        self.widths = widths
        self.to_image = nn.Sequential(_up(widths[-1], channels, upsample), output_activation(output))
        dcgan_init(self)

    def latent_layer(self) -> nn.Module:
        """The first layer z passes through (affine in z; SeFa reads its map)."""
        return self.stem[0]

    def early_features(self) -> nn.Module:
        """The module whose output is G's first non-linear features (GANSpace's PCA runs on them)."""
        return self.stem

    def forward(self, z: torch.Tensor, return_features: bool = False):
        h = self.stem(z.view(z.shape[0], -1, 1, 1))
        feats = [h]
        for block in self.blocks:
            h = block(h)
            feats.append(h)
        x = self.to_image(h)
        return (x, feats) if return_features else x


class DCGANDiscriminator(nn.Module):
    """Image -> logit. ``features`` gives the 4x4 trunk output for auxiliary heads.

    ``extra_channels`` adds input channels after the first convolution (label maps of
    conditional models are concatenated there)."""

    def __init__(self, channels: int, image_size: int, width: int = 64, norm: str = "batch",
                 act: str = "leaky_relu", slope: float = 0.2, spectral_norm: bool = False, extra_channels: int = 0,
                 out_dim: int = 1):
        super().__init__()
        n = n_doublings(image_size)
        widths = [width * 2 ** i for i in range(n)]  # e.g. 64px: 64, 128, 256, 512
        self.widths, self.extra_channels = widths, extra_channels
        self.first = nn.Sequential(nn.Conv2d(channels, widths[0], 4, 2, 1), activation(act, slope))
        blocks = []
        cin = widths[0] + extra_channels
        for cout in widths[1:]:
            blocks.append(nn.Sequential(nn.Conv2d(cin, cout, 4, 2, 1, bias=norm != "batch"), norm2d(norm, cout),
                                        activation(act, slope)))
            cin = cout
        self.blocks = nn.ModuleList(blocks)
        self.feature_dim = widths[-1] * 16
        self.head = nn.Conv2d(widths[-1], out_dim, 4, 1, 0)
        dcgan_init(self)
        if spectral_norm:
            apply_spectral_norm(self)

    def features(self, x: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        h = self.first(x)
        if self.extra_channels:
            h = join_extra(h, extra, "layer")
        for block in self.blocks:
            h = block(h)
        return h

    def forward(self, x: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.features(x, extra)).flatten(1).squeeze(1)
