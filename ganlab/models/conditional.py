"""Networks conditioned on attributes: a generator that takes one learned embedding per attribute."""
from __future__ import annotations

import torch
from torch import nn

from ganlab.models.build import build_generator


class CondGenerator(nn.Module):
    """A generator of the configured family whose input is z concatenated with one learned embedding per
    conditioned attribute."""

    def __init__(self, mc, shape, z_dim: int, sizes, embed_dim: int):
        super().__init__()
        self.embeds = nn.ModuleList(nn.Embedding(k, embed_dim) for k in sizes)  # N(0, 1), like z
        self.net = build_generator(mc, shape, z_dim + embed_dim * len(sizes))

    def forward(self, z: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        parts = [z] + [emb(codes[:, i]) for i, emb in enumerate(self.embeds)]
        return self.net(torch.cat(parts, 1))
