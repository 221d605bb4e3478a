"""Network pieces the methods add around the DCGAN/MLP families: conditioning on attributes, critics with
extra heads (ACGAN classifier, InfoGAN Q), encoders, the BiGAN joint critic and the MSG-GAN pair.

Every module takes everything it needs through ``forward``: the loop may wrap a method's networks in
DistributedDataParallel, which only sees ``forward``.
"""
from __future__ import annotations

import dataclasses
import itertools
import math

import torch
from torch import nn

from ganlab.config import ConfigError
from ganlab.models import build_discriminator, build_generator
from ganlab.models.dcgan import n_doublings
from ganlab.models.layers import (
    activation,
    apply_spectral_norm,
    dcgan_init,
    norm2d,
    output_activation,
)

# --------------------------------------------------------------------------- attribute conditioning

class Conditioning:
    """The attributes a conditional method uses, their value names, and conversion from labels/conditions
    to a [B, A] code tensor (one column per attribute, in ``names`` order)."""

    def __init__(self, wanted, info_attributes: dict):
        known = list(info_attributes)
        if not known:
            raise ConfigError("this method conditions on attributes, but the data has none (use class folders, "
                              "a labels CSV, CelebA, MNIST or digits)")
        names = list(wanted) if wanted else known
        missing = [n for n in names if n not in info_attributes]
        if missing:
            raise ConfigError(f"cond.attributes: {missing[0]!r} is not an attribute of the data; it has: "
                              f"{', '.join(known)}")
        self.names = names
        self.values = {n: list(info_attributes[n]) for n in names}
        self.sizes = [len(self.values[n]) for n in names]
        for n, k in zip(names, self.sizes):
            if k < 2:
                raise ConfigError(f"attribute {n!r} has only {k} value ({self.values[n]}); nothing to condition on")

    def __len__(self):
        return len(self.names)

    def codes(self, labels: dict) -> torch.Tensor:
        return torch.stack([labels[n] for n in self.names], 1)

    def random(self, n: int, generator=None, device="cpu") -> torch.Tensor:
        return torch.stack([torch.randint(0, k, (n,), generator=generator, device=device) for k in self.sizes], 1)

    def mismatched(self, codes: torch.Tensor) -> torch.Tensor:
        """The same codes with one randomly chosen attribute per row changed to a different random value."""
        n, a = codes.shape
        sizes = torch.tensor(self.sizes, device=codes.device)
        which = torch.randint(0, a, (n,), device=codes.device)
        k = sizes[which]
        shift = 1 + (torch.rand(n, device=codes.device) * (k - 1).float()).long().clamp(max=k - 2)
        out = codes.clone()
        rows = torch.arange(n, device=codes.device)
        out[rows, which] = (codes[rows, which] + shift) % k
        return out

    def value_code(self, name: str, value) -> int:
        values = self.values[name]
        if isinstance(value, str):
            if value in values:
                return values.index(value)
            raise ValueError(f"attribute {name!r} has no value {value!r}; known values: {', '.join(values)}")
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(  # noqa: TRY004 - sample(cond=...) promises ValueError for any bad conditionf"attribute {name!r}: give a value name or code, got {value!r}; "
                             f"known values: {', '.join(values)}")
        if not 0 <= value < len(values):
            raise ValueError(f"attribute {name!r}: code {value} is out of range 0..{len(values) - 1}; "
                             f"known values: {', '.join(values)}")
        return value

    def parse(self, cond: dict | None, n: int, generator=None) -> torch.Tensor:
        """[n, A] codes on the CPU: the attributes named in ``cond`` fixed (a value name, a code, or a list of
        n of them), the others drawn at random."""
        codes = self.random(n, generator)
        for name, value in (cond or {}).items():
            if name not in self.values:
                raise ValueError(f"unknown attribute {name!r}; this model is conditioned on: {', '.join(self.names)}")
            j = self.names.index(name)
            if torch.is_tensor(value):
                value = value.tolist()
            if isinstance(value, (list, tuple)):
                if len(value) != n:
                    raise ValueError(f"attribute {name!r}: {len(value)} values for {n} samples")
                codes[:, j] = torch.tensor([self.value_code(name, v) for v in value])
            else:
                codes[:, j] = self.value_code(name, value)
        return codes


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


# --------------------------------------------------------------------------- critics

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


class Encoder(nn.Module):
    """x -> a vector of ``out_dim``: the discriminator trunk of the family (a mirror of G) with out_dim
    outputs and no spectral normalisation."""

    def __init__(self, mc, shape, out_dim: int):
        super().__init__()
        self.net = build_discriminator(dataclasses.replace(mc, spectral_norm=False), shape, out_dim=out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).reshape(x.shape[0], -1)


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


# --------------------------------------------------------------------------- MSG-GAN

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
