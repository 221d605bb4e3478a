"""Residual generator and discriminator (SNGAN, Miyato et al. 2018; BigGAN, Brock et al. 2019), sized from the
image resolution like the DCGAN family.

G: a linear layer from the input vector to a 4x4 map, then one residual up block per doubling
(norm-act-upsample-conv3x3-norm-act-conv3x3, with a 1x1 convolution upsampled on the shortcut), and a final
norm-act-conv3x3 to the image and the output activation. Widths halve as the resolution doubles after the first
block (which keeps its width), ending at ``width`` (ngf) next to the image: 64px with width 64 is 512, 512, 256,
128, 64.

D: one residual down block per halving down to 4x4 (conv3x3-act-conv3x3-average pool, with a 1x1 convolution
pooled on the shortcut; every block but the first starts with norm-act, the first sees the image as it is), then
act, global sum pooling and a linear layer. Widths double from ``width`` (ndf) next to the image: 64px with
width 64 is 64, 128, 256, 512. ``features`` is the 4x4 map after the last activation (what the critics'
projection and heads read; the head sums it over space), and label maps (``extra_channels``) join after the
first block, at half the image size, as in the DCGAN family.

Norms follow ``model.g_norm``/``d_norm`` (batch or none; SNGAN's D has none and spectral normalisation instead)
and the activations ``model.g_act``/``d_act``. Weights are Xavier-uniform (gain sqrt(2) on the residual paths'
convolutions, 1 on shortcuts and linear layers), as in SNGAN.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ganlab.models.dcgan import n_doublings
from ganlab.models.layers import activation, apply_spectral_norm, join_extra, norm2d, output_activation

UPSAMPLING = ("nearest", "bilinear")


def _check_upsample(mode: str) -> None:
    if mode not in UPSAMPLING:
        raise ValueError(f"the residual family upsamples with nearest or bilinear, not {mode!r}")


def _upsample(x: torch.Tensor, mode: str) -> torch.Tensor:
    kw = {"align_corners": False} if mode == "bilinear" else {}
    return F.interpolate(x, scale_factor=2, mode=mode, **kw)


def _pre_act(name: str, slope: float) -> nn.Module:
    """An activation that leaves its input as it is: a block's input also feeds its shortcut."""
    act = activation(name, slope)
    act.inplace = False
    return act


def resnet_init(module: nn.Module) -> None:
    """Xavier-uniform weights (gain sqrt(2) for the convolutions of residual paths, marked ``_residual``; 1
    elsewhere), zero biases, batch-norm weights 1 and biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight, math.sqrt(2) if getattr(m, "_residual", False) else 1.0)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def _conv(cin: int, cout: int, k: int, bias: bool = True, residual: bool = False) -> nn.Conv2d:
    conv = nn.Conv2d(cin, cout, k, 1, k // 2, bias=bias)
    conv._residual = residual
    return conv


class UpBlock(nn.Module):
    """x -> upsample(shortcut 1x1 conv of x) + conv3x3(act(norm(conv3x3(upsample(act(norm(x)))))))."""

    def __init__(self, cin: int, cout: int, upsample: str, norm: str, act: str, slope: float):
        super().__init__()
        self.mode = upsample
        self.norm1, self.act1 = norm2d(norm, cin), _pre_act(act, slope)
        self.conv1 = _conv(cin, cout, 3, bias=norm != "batch", residual=True)
        self.norm2, self.act2 = norm2d(norm, cout), activation(act, slope)
        self.conv2 = _conv(cout, cout, 3, residual=True)
        self.shortcut = _conv(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # a 1x1 convolution and the upsampling commute (both act per pixel / per channel): the shortcut's
        # convolution runs at the lower resolution
        skip = _upsample(self.shortcut(x), self.mode)
        h = self.conv1(_upsample(self.act1(self.norm1(x)), self.mode))
        return skip + self.conv2(self.act2(self.norm2(h)))


class DownBlock(nn.Module):
    """x -> avgpool(shortcut 1x1 conv of x) + avgpool(conv3x3(act(conv3x3(pre(x))))), where ``pre`` is
    norm-act, or nothing in the first block (``first``: it sees the image itself, and pools before its
    shortcut's convolution, as SNGAN's first block)."""

    def __init__(self, cin: int, cout: int, norm: str, act: str, slope: float, first: bool = False):
        super().__init__()
        self.first = first
        self.pre = nn.Identity() if first else nn.Sequential(norm2d(norm, cin), _pre_act(act, slope))
        inner_norm = "none" if first else norm
        self.conv1 = _conv(cin, cout, 3, bias=inner_norm != "batch", residual=True)
        self.mid = nn.Sequential(norm2d(inner_norm, cout), activation(act, slope))
        self.conv2 = _conv(cout, cout, 3, residual=True)
        self.shortcut = _conv(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = self.shortcut(F.avg_pool2d(x, 2)) if self.first else F.avg_pool2d(self.shortcut(x), 2)
        h = self.conv2(self.mid(self.conv1(self.pre(x))))
        return skip + F.avg_pool2d(h, 2)


class SumPoolHead(nn.Module):
    """[B, C, H, W] -> linear(sum over H, W): the discriminator's output layer."""

    def __init__(self, channels: int, out_dim: int):
        super().__init__()
        self.linear = nn.Linear(channels, out_dim)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.linear(h.sum(dim=(2, 3)))


class ResNetGenerator(nn.Module):
    def __init__(self, in_dim: int, channels: int, image_size: int, width: int = 64, upsample: str = "nearest",
                 norm: str = "batch", act: str = "relu", slope: float = 0.2, output: str = "tanh"):
        super().__init__()
        _check_upsample(upsample)
        self.in_dim, self.channels, self.image_size = in_dim, channels, image_size
        n = n_doublings(image_size)
        widths = [width * 2 ** (n - 1 - i) for i in range(n)]  # each block's output, e.g. 64px: 512, 256, 128, 64
        self.widths, self.stem_width = widths, widths[0]
        self.stem = nn.Linear(in_dim, 16 * widths[0])
        ins = [widths[0]] + widths[:-1]
        self.blocks = nn.ModuleList(UpBlock(cin, cout, upsample, norm, act, slope) for cin, cout in zip(ins, widths))
        self.to_image = nn.Sequential(norm2d(norm, widths[-1]), activation(act, slope), _conv(widths[-1], channels, 3),
                                      output_activation(output))
        resnet_init(self)

    def latent_layer(self) -> nn.Module:
        """The first layer z passes through (affine in z; SeFa reads its map)."""
        return self.stem

    def early_features(self) -> nn.Module:
        """The module whose output is G's first non-linear features (GANSpace's PCA runs on them)."""
        return self.blocks[0]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.stem(z.flatten(1)).reshape(z.shape[0], self.stem_width, 4, 4)
        for block in self.blocks:
            h = block(h)
        return self.to_image(h)


class ResNetDiscriminator(nn.Module):
    """Image -> logit (or ``out_dim`` outputs). ``features`` gives the 4x4 map after the last activation;
    ``extra_channels`` are concatenated after the first block (label maps of conditional critics)."""

    def __init__(self, channels: int, image_size: int, width: int = 64, norm: str = "none", act: str = "relu",
                 slope: float = 0.2, spectral_norm: bool = False, extra_channels: int = 0, out_dim: int = 1):
        super().__init__()
        n = n_doublings(image_size)
        widths = [width * 2 ** i for i in range(n)]  # e.g. 64px: 64, 128, 256, 512
        self.widths, self.extra_channels = widths, extra_channels
        self.first = DownBlock(channels, widths[0], norm, act, slope, first=True)
        ins = [widths[0] + extra_channels] + widths[1:-1]
        self.blocks = nn.ModuleList(DownBlock(cin, cout, norm, act, slope) for cin, cout in zip(ins, widths[1:]))
        self.out = nn.Sequential(norm2d(norm, widths[-1]), activation(act, slope))
        self.feature_dim = widths[-1] * 16
        self.head = SumPoolHead(widths[-1], out_dim)
        resnet_init(self)
        if spectral_norm:
            apply_spectral_norm(self)

    def features(self, x: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        h = self.first(x)
        if self.extra_channels:
            h = join_extra(h, extra, "block")
        for block in self.blocks:
            h = block(h)
        return self.out(h)

    def forward(self, x: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.features(x, extra)).flatten(1).squeeze(1)
