"""Adversarial objectives. Every function returns tensors and never syncs with the host.

- ``bce``: the non-saturating GAN (binary cross-entropy on logits; G maximises log D(G(z))).
- ``wgan``: Wasserstein critic (weight clipping is applied by the method after each D step).
- ``wgan-gp``: Wasserstein critic with a gradient penalty on real/fake interpolates.
- ``hinge``: hinge loss for D, -D(G(z)) for G.

Regularisers of D: ``gradient_penalty`` (WGAN-GP), ``r1_penalty`` (R1, on real inputs) and ``lecam`` (LeCam).
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


def r1_penalty(critic, real) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): the mean over samples of ||grad_x critic(x)||^2 at the real inputs ``real``
    (a tensor, or a list/tuple of parts that ``critic`` takes together: the gradient norm is over all parts).
    The inputs are taken as float32 and the gradient kept in the graph, so the penalty trains the critic."""
    parts = list(real) if isinstance(real, (list, tuple)) else [real]
    xs = [p.detach().float().requires_grad_(True) for p in parts]
    out = critic(type(real)(xs) if isinstance(real, (list, tuple)) else xs[0])
    grads = torch.autograd.grad(out.float().sum(), xs, create_graph=True)
    return sum(g.float().flatten(1).pow(2).sum(1) for g in grads).mean()


def lecam(real: torch.Tensor, fake: torch.Tensor, ema_real: torch.Tensor, ema_fake: torch.Tensor) -> torch.Tensor:
    """LeCam regulariser (Tseng et al. 2021): mean((D(real) - ema_fake)^2) + mean((D(fake) - ema_real)^2), D's
    outputs on real inputs pulled towards the moving average of its outputs on fakes, and the reverse."""
    return ((real - ema_fake) ** 2).mean() + ((fake - ema_real) ** 2).mean()
