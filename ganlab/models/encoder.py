"""Encoders x -> vector (VAE posterior, BiGAN E): the discriminator trunk of the configured family."""
from __future__ import annotations

import dataclasses

import torch
from torch import nn

from ganlab.models.build import build_discriminator


class Encoder(nn.Module):
    """x -> a vector of ``out_dim``: the discriminator trunk of the family (a mirror of G) with out_dim
    outputs and no spectral normalisation."""

    def __init__(self, mc, shape, out_dim: int):
        super().__init__()
        self.net = build_discriminator(dataclasses.replace(mc, spectral_norm=False), shape, out_dim=out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).reshape(x.shape[0], -1)
