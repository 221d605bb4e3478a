"""Critics (discriminators) with more than one logit: conditioned on attributes, with extra heads (the ACGAN
classifier, the InfoGAN Q), and BiGAN's joint critic on (x, z) pairs.

Every module takes everything it needs through ``forward``: the loop may wrap a method's networks in
DistributedDataParallel, which only sees ``forward``.
"""
from __future__ import annotations

import torch
from torch import nn

from ganlab.models.build import build_discriminator
from ganlab.models.layers import activation, apply_spectral_norm, dcgan_init


class Critic(nn.Module):
    """D of the configured family, optionally conditioned and with extra heads on its trunk features.

    ``cond_mode``:
      - ``labelmap`` (DCGAN): each attribute's embedding is projected to a 1-channel map (``map_mode=project``)
        or broadcast (``broadcast``) at the resolution after D's first convolution and concatenated there;
      - ``concat``: embeddings concatenated to the input (MLP), or broadcast as extra input channels (DCGAN);
      - ``projection``: logit += <embed(y), features> (projection discriminator, Miyato & Koyama 2018);
      - ``none``.
    ``forward(x, codes)`` returns (logit [B], {head name: output}) for the heads added with ``add_head``.
    """

    def __init__(self, mc, shape, sizes=(), cond_mode: str = "none", embed_dim: int = 5, map_mode: str = "project"):
        super().__init__()
        sizes = list(sizes)
        self.mlp = mc.arch == "mlp"
        if cond_mode == "labelmap" and self.mlp:
            cond_mode = "concat"
        if not sizes:
            cond_mode = "none"
        self.cond_mode, self.map_mode, self.sn = cond_mode, map_mode, mc.spectral_norm
        a = len(sizes)
        extra, in_shape = 0, tuple(shape)
        if cond_mode == "labelmap":
            self.res = shape[-1] // 2
            extra = a if map_mode == "project" else a * embed_dim
            if map_mode == "project":
                self.to_map = nn.ModuleList(nn.Linear(embed_dim, self.res * self.res) for _ in sizes)
        elif cond_mode == "concat":
            if self.mlp:
                extra = a * embed_dim
            else:
                in_shape = (shape[0] + a * embed_dim,) + tuple(shape[1:])
        if cond_mode in ("labelmap", "concat"):
            self.embeds = nn.ModuleList(nn.Embedding(k, embed_dim) for k in sizes)
        self.trunk = build_discriminator(mc, in_shape, extra=extra)
        self.feature_dim = self.trunk.feature_dim
        self.pooled_dim = self.feature_dim if self.mlp else self.trunk.widths[-1]
        if cond_mode == "projection":
            self.proj = nn.ModuleList(nn.Embedding(k, self.pooled_dim) for k in sizes)
            for e in self.proj:
                nn.init.xavier_uniform_(e.weight)
        self.heads = nn.ModuleDict()

    def add_head(self, name: str, module: nn.Module) -> None:
        if self.sn:
            apply_spectral_norm(module)
        self.heads[name] = module

    def forward(self, x: torch.Tensor, codes: torch.Tensor | None = None):
        extra = None
        if self.cond_mode in ("labelmap", "concat"):
            embs = [emb(codes[:, i]) for i, emb in enumerate(self.embeds)]
            if self.cond_mode == "labelmap" and self.map_mode == "project":
                extra = torch.cat([m(e).view(-1, 1, self.res, self.res) for m, e in zip(self.to_map, embs)], 1)
            elif self.cond_mode == "labelmap":
                extra = torch.cat(embs, 1)[:, :, None, None]
            elif self.mlp:
                extra = torch.cat(embs, 1)
            else:
                e = torch.cat(embs, 1)[:, :, None, None].expand(-1, -1, x.shape[-2], x.shape[-1])
                x = torch.cat([x, e.to(x.dtype)], 1)
        h = self.trunk.features(x, extra)
        logit = self.trunk.head(h).reshape(x.shape[0])
        if self.cond_mode == "projection":
            pooled = h if self.mlp else h.sum(dim=(2, 3))
            for i, emb in enumerate(self.proj):
                logit = logit + (emb(codes[:, i]) * pooled).sum(1)
        flat = h.flatten(1)
        return logit, {name: head(flat) for name, head in self.heads.items()}


def mlp_head(din: int, dout: int, hidden: int, act: str, slope: float) -> nn.Module:
    return nn.Sequential(nn.Linear(din, hidden), activation(act, slope), nn.Linear(hidden, dout))


class JointCritic(nn.Module):
    """BiGAN's D on (x, z) pairs: x through the discriminator trunk, z through a small MLP, the two feature
    vectors concatenated and scored by an MLP head."""

    def __init__(self, mc, shape, latent_dim: int):
        super().__init__()
        self.trunk = build_discriminator(mc, shape)
        self.trunk.head = nn.Identity()  # only the trunk's features are used (DDP needs every parameter used)
        hid = mc.mlp_hidden
        self.z_net = nn.Sequential(nn.Linear(latent_dim, hid), activation(mc.d_act, mc.leaky_slope),
                                   nn.Linear(hid, hid), activation(mc.d_act, mc.leaky_slope))
        self.joint = mlp_head(self.trunk.feature_dim + hid, 1, hid, mc.d_act, mc.leaky_slope)
        dcgan_init(self.z_net)
        dcgan_init(self.joint)
        if mc.spectral_norm:
            apply_spectral_norm(self.z_net)
            apply_spectral_norm(self.joint)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        hx = self.trunk.features(x).flatten(1)
        return self.joint(torch.cat([hx, self.z_net(z.flatten(1))], 1)).reshape(x.shape[0])
