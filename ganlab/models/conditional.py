"""Networks conditioned on attributes: a generator that takes one learned embedding per attribute, either
concatenated with z only (``concat``) or also through conditional batch norm (``cbn``)."""
from __future__ import annotations

import torch
from torch import nn

from ganlab.models.build import build_generator


class CondBatchNorm(nn.Module):
    """Batch norm whose gain and bias are linear functions of a condition vector (de Vries et al. 2017;
    the class-conditional BN of SNGAN/BigGAN's generators). Starts as plain batch norm: gain 1, bias 0.

    The condition is set with ``set_condition`` by the generator that owns the layer, just before its forward
    (the layer sits deep inside a network family that knows nothing of conditions)."""

    def __init__(self, bn: nn.BatchNorm1d | nn.BatchNorm2d, cond_dim: int):
        super().__init__()
        self.bn = type(bn)(bn.num_features, eps=bn.eps, momentum=bn.momentum, affine=False)
        self.gain = nn.Linear(cond_dim, bn.num_features)
        self.bias = nn.Linear(cond_dim, bn.num_features)
        for lin, b0 in ((self.gain, 1.0), (self.bias, 0.0)):
            nn.init.zeros_(lin.weight)
            nn.init.constant_(lin.bias, b0)
        self.cond: torch.Tensor | None = None

    def set_condition(self, c: torch.Tensor | None) -> None:
        self.cond = c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.cond is None:
            raise RuntimeError("CondBatchNorm: no condition set; its generator sets one before each forward")
        shape = (x.shape[0], -1) + (1,) * (x.dim() - 2)
        return self.bn(x) * self.gain(self.cond).view(shape) + self.bias(self.cond).view(shape)


def conditionalize_norms(net: nn.Module, cond_dim: int) -> list[CondBatchNorm]:
    """Replace every batch norm in ``net`` by a CondBatchNorm reading a ``cond_dim`` vector; returns them."""
    layers = []
    for name, child in list(net.named_children()):
        if isinstance(child, (nn.BatchNorm1d, nn.BatchNorm2d)):
            cbn = CondBatchNorm(child, cond_dim)
            setattr(net, name, cbn)
            layers.append(cbn)
        else:
            layers += conditionalize_norms(child, cond_dim)
    return layers


class CondGenerator(nn.Module):
    """A generator of the configured family whose input is z concatenated with one learned embedding per
    conditioned attribute; with ``mode="cbn"`` every batch norm of G also takes its gain and bias from the
    embeddings."""

    def __init__(self, mc, shape, z_dim: int, sizes, embed_dim: int, mode: str = "concat"):
        super().__init__()
        self.embeds = nn.ModuleList(nn.Embedding(k, embed_dim) for k in sizes)  # N(0, 1), like z
        self.net = build_generator(mc, shape, z_dim + embed_dim * len(sizes))
        self.mode = mode
        if mode == "cbn":
            self.cbn = conditionalize_norms(self.net, embed_dim * len(sizes))
            if not self.cbn:
                raise ValueError("cond.g_mode=cbn: this generator has no batch norm to condition")
        elif mode != "concat":
            raise ValueError(f"unknown generator conditioning {mode!r}; choose concat or cbn")

    def from_embeddings(self, z: torch.Tensor, embs: list[torch.Tensor]) -> torch.Tensor:
        """G's output for noise ``z`` and the attributes' embeddings ``embs`` (mixed embeddings interpolate)."""
        e = torch.cat(embs, 1)
        if self.mode == "cbn":
            for layer in self.cbn:
                layer.set_condition(e)
        try:
            return self.net(torch.cat([z, e], 1))
        finally:
            if self.mode == "cbn":
                for layer in self.cbn:
                    layer.set_condition(None)

    def latent_layer(self) -> nn.Module:
        """The first layer z (with the embeddings beside it) passes through."""
        return self.net.latent_layer()

    def early_features(self) -> nn.Module:
        return self.net.early_features()

    def forward(self, z: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        return self.from_embeddings(z, [emb(codes[:, i]) for i, emb in enumerate(self.embeds)])
