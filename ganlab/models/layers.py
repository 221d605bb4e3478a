"""Small building blocks shared by the network families."""
from __future__ import annotations

import torch
from torch import nn


def activation(name: str, slope: float = 0.2) -> nn.Module:
    if name == "relu":
        return nn.ReLU(inplace=True)
    if name == "leaky_relu":
        return nn.LeakyReLU(slope, inplace=True)
    if name == "selu":
        return nn.SELU(inplace=True)
    raise ValueError(f"unknown activation {name!r}; choose relu, leaky_relu or selu")


def output_activation(name: str) -> nn.Module:
    return {"tanh": nn.Tanh(), "sigmoid": nn.Sigmoid(), "none": nn.Identity()}[name]


def norm2d(name: str, channels: int) -> nn.Module:
    return nn.BatchNorm2d(channels) if name == "batch" else nn.Identity()


def dcgan_init(module: nn.Module) -> None:
    """DCGAN initialisation: conv/linear weights N(0, 0.02), batch-norm weights N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)):
            w = m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight
            nn.init.normal_(w, 0.0, 0.02)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    for name, child in list(module.named_children()):
        if isinstance(child, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            setattr(module, name, nn.utils.parametrizations.spectral_norm(child))
        else:
            apply_spectral_norm(child)
    return module


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def unwrap(module: nn.Module) -> nn.Module:
    """The network inside a DistributedDataParallel wrapper (torchrun runs wrap a method's networks), else itself."""
    return module.module if isinstance(module, nn.parallel.DistributedDataParallel) else module


def join_extra(h: torch.Tensor, extra: torch.Tensor | None, where: str = "layer") -> torch.Tensor:
    """``h`` with the label maps ``extra`` concatenated along the channels (what conditional critics feed a trunk
    after its first ``where``); maps of size 1x1 are expanded to ``h``'s size."""
    if extra is None:
        raise ValueError(f"this discriminator expects extra input channels after its first {where}")
    if extra.shape[-1] != h.shape[-1] and extra.shape[-1] == 1:
        extra = extra.expand(-1, -1, h.shape[-2], h.shape[-1])
    return torch.cat([h, extra.to(h.dtype)], 1)
