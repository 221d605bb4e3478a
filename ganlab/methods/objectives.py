"""D's regularisers: ``gradient_penalty`` (WGAN-GP, on real/fake interpolates), ``r1_penalty`` (R1, on real
inputs) and ``lecam`` (LeCam). Every function returns tensors and never syncs with the host. The adversarial
losses themselves are the table in ``ganlab.methods.losses``.
"""
from __future__ import annotations

import torch


def gradient_penalty(critic, real, fake) -> torch.Tensor:
    """WGAN-GP's term: the mean of (||grad critic(x_hat)|| - 1)^2 over random interpolates x_hat of ``real`` and
    ``fake``. Each may be a tensor or a list/tuple of parts that ``critic`` takes together (several scales, (x, z)
    pairs): one interpolation weight per sample for all parts, and the gradient norm over all parts."""
    parts = isinstance(real, (list, tuple))
    reals, fakes = (list(real), list(fake)) if parts else ([real], [fake])
    alpha = torch.rand(reals[0].shape[0], device=reals[0].device, dtype=reals[0].dtype)
    hats = [(alpha.view(-1, *([1] * (r.dim() - 1))) * r.detach()
             + (1 - alpha.view(-1, *([1] * (r.dim() - 1)))) * f.detach()).requires_grad_(True)
            for r, f in zip(reals, fakes)]
    out = critic(type(real)(hats) if parts else hats[0])
    grads = torch.autograd.grad(out.sum(), hats, create_graph=True)
    return ((torch.cat([g.flatten(1) for g in grads], 1).norm(2, dim=1) - 1) ** 2).mean()


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
