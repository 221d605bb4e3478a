"""MSG-GAN's multi-scale generator and discriminator, and the image pyramid they exchange."""
from __future__ import annotations

import itertools
import math

import torch
from torch import nn

from ganlab.models.build import build_generator
from ganlab.models.dcgan import n_doublings
from ganlab.models.layers import (
    activation,
    apply_spectral_norm,
    dcgan_init,
    norm2d,
    output_activation,
)


class MSGGenerator(nn.Module):
    """A DCGAN generator that also emits an image at every block's resolution (a 1x1 convolution to the
    image channels from each block's features). ``forward`` returns the images from 4x4 up to full size."""

    def __init__(self, mc, shape, in_dim: int):
        super().__init__()
        self.net = build_generator(mc, shape, in_dim)
        c = shape[0]
        self.to_rgb = nn.ModuleList(nn.Sequential(nn.Conv2d(w, c, 1), output_activation(mc.output))
                                    for w in self.net.widths)
        dcgan_init(self.to_rgb)

    def latent_layer(self) -> nn.Module:
        return self.net.latent_layer()

    def early_features(self) -> nn.Module:
        return self.net.early_features()

    def forward(self, z: torch.Tensor) -> list:
        x, feats = self.net(z, return_features=True)
        return [rgb(f) for rgb, f in zip(self.to_rgb, feats)] + [x]


class MSGDiscriminator(nn.Module):
    """DCGAN-style D that takes the image at every scale: the full-size image enters the first convolution,
    and each lower-resolution image is concatenated to D's features at its resolution (the last, 4x4 one
    just before the final convolution)."""

    def __init__(self, mc, shape):
        super().__init__()
        c, s = shape[0], shape[-1]
        n = n_doublings(s)
        widths = [mc.d_width * 2 ** i for i in range(n)]
        self.first = nn.Sequential(nn.Conv2d(c, widths[0], 4, 2, 1), activation(mc.d_act, mc.leaky_slope))
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv2d(cin + c, cout, 4, 2, 1, bias=mc.d_norm != "batch"), norm2d(mc.d_norm, cout),
                          activation(mc.d_act, mc.leaky_slope))
            for cin, cout in itertools.pairwise(widths))
        self.head = nn.Conv2d(widths[-1] + c, 1, 4, 1, 0)
        dcgan_init(self)
        if mc.spectral_norm:
            apply_spectral_norm(self)

    def forward(self, images: list) -> torch.Tensor:
        # images: [4x4, 8x8, ..., full size]
        h = self.first(images[-1])
        for i, block in enumerate(self.blocks):
            h = block(torch.cat([h, images[-2 - i]], 1))
        return self.head(torch.cat([h, images[0]], 1)).reshape(h.shape[0])


def pyramid(x: torch.Tensor) -> list:
    """The image at 4x4, 8x8, ..., full size (average pooling by 2 each step)."""
    out = [x]
    n = int(math.log2(x.shape[-1] // 4))
    for _ in range(n):
        out.insert(0, nn.functional.avg_pool2d(out[0], 2))
    return out
