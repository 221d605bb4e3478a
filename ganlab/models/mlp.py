"""Dense generator and critic: for 2-D toy data, and as the 'dense' variant on images."""
from __future__ import annotations

import math

import torch
from torch import nn

from ganlab.models.layers import (
    activation,
    apply_spectral_norm,
    dcgan_init,
    output_activation,
)


def _mlp(din: int, dout: int, hidden: int, layers: int, act: str, slope: float, norm: str) -> list[nn.Module]:
    mods, d = [], din
    for _ in range(layers):
        mods.append(nn.Linear(d, hidden))
        if norm == "batch":
            mods.append(nn.BatchNorm1d(hidden))
        mods.append(activation(act, slope))
        d = hidden
    mods.append(nn.Linear(d, dout))
    return mods


class MLPGenerator(nn.Module):
    def __init__(self, in_dim: int, out_shape: tuple, hidden: int = 256, layers: int = 3, act: str = "relu",
                 slope: float = 0.2, norm: str = "none", output: str = "tanh"):
        super().__init__()
        self.in_dim, self.out_shape = in_dim, tuple(out_shape)
        self.net = nn.Sequential(*_mlp(in_dim, math.prod(out_shape), hidden, layers, act, slope, norm))
        # points are unbounded: no squashing; images get the configured output activation
        self.out = output_activation(output) if len(self.out_shape) > 1 else nn.Identity()
        dcgan_init(self)

    def latent_layer(self) -> nn.Module:
        """The first layer z passes through (affine in z; SeFa reads its map)."""
        return self.net[0]

    def early_features(self) -> nn.Module:
        """The module whose output is G's first non-linear features (GANSpace's PCA runs on them): the first
        hidden layer's activation (the output layer where there is no hidden layer)."""
        return next((m for m in list(self.net)[1:] if not isinstance(m, (nn.Linear, nn.BatchNorm1d))), self.net[-1])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.out(self.net(z.flatten(1))).view(z.shape[0], *self.out_shape)


class MLPDiscriminator(nn.Module):
    def __init__(self, in_shape: tuple, hidden: int = 256, layers: int = 3, act: str = "leaky_relu",
                 slope: float = 0.2, spectral_norm: bool = False, extra_dim: int = 0, out_dim: int = 1):
        super().__init__()
        self.extra_dim = extra_dim
        mods = _mlp(math.prod(in_shape) + extra_dim, out_dim, hidden, layers, act, slope, "none")
        self.trunk = nn.Sequential(*mods[:-1])
        self.head = mods[-1]
        self.feature_dim = hidden
        dcgan_init(self)
        if spectral_norm:
            apply_spectral_norm(self)

    def features(self, x: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        h = x.flatten(1)
        if self.extra_dim:
            h = torch.cat([h, extra.flatten(1)], 1)
        return self.trunk(h)

    def forward(self, x: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.features(x, extra)).squeeze(1)
