"""Adversarial objectives. Every function returns tensors and never syncs with the host.

- ``bce``: the non-saturating GAN (binary cross-entropy on logits; G maximises log D(G(z))).
- ``wgan``: Wasserstein critic (weight clipping is applied by the method after each D step).
- ``wgan-gp``: Wasserstein critic with a gradient penalty on real/fake interpolates.
- ``hinge``: hinge loss for D, -D(G(z)) for G.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

WASSERSTEIN = ("wgan", "wgan-gp")


def d_loss(kind: str, real: torch.Tensor, fake: torch.Tensor, real_target=None, fake_target=None):
    """Discriminator loss and its statistics from logits on real and generated samples.

    ``real_target``/``fake_target`` (tensors or floats) replace the 1/0 targets of ``bce``
    (label smoothing and noisy labels)."""
    stats = {}
    if kind == "bce":
        rt = torch.ones_like(real) if real_target is None else torch.as_tensor(real_target, dtype=real.dtype,
                                                                               device=real.device).expand_as(real)
        ft = torch.zeros_like(fake) if fake_target is None else torch.as_tensor(fake_target, dtype=fake.dtype,
                                                                                device=fake.device).expand_as(fake)
        loss = F.binary_cross_entropy_with_logits(real, rt) + F.binary_cross_entropy_with_logits(fake, ft)
        stats["d_real"] = torch.sigmoid(real.detach()).mean()
        stats["d_fake"] = torch.sigmoid(fake.detach()).mean()
    elif kind in WASSERSTEIN:
        loss = fake.mean() - real.mean()
        stats["d_real"] = real.detach().mean()
        stats["d_fake"] = fake.detach().mean()
        stats["wasserstein"] = stats["d_real"] - stats["d_fake"]
    elif kind == "hinge":
        loss = F.relu(1 - real).mean() + F.relu(1 + fake).mean()
        stats["d_real"] = real.detach().mean()
        stats["d_fake"] = fake.detach().mean()
    else:
        raise ValueError(f"unknown loss {kind!r}")
    return loss, stats


def g_loss(kind: str, fake: torch.Tensor) -> torch.Tensor:
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))
    if kind in WASSERSTEIN or kind == "hinge":
        return -fake.mean()
    raise ValueError(f"unknown loss {kind!r}")


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    """Mean of (||grad_x critic(x_hat)|| - 1)^2 over random interpolates x_hat of real and fake."""
    shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    alpha = torch.rand(shape, device=real.device, dtype=real.dtype)
    x_hat = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    out = critic(x_hat, *args, **kwargs)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()
