"""Sliced Wasserstein distance over a Laplacian pyramid (Karras et al., Progressive GAN, 2018).

Protocol, per set of images ``[N, C, H, W]`` (uint8 in [0, 255] or float, e.g. in [-1, 1]):

1. Laplacian pyramid with the 5x5 binomial filter ``[1 4 6 4 1]^T [1 4 6 4 1] / 256`` (mirror
   padding), downsampling by 2.  Levels are the resolutions ``H, H//2, ...`` that are >= 16; the
   last one is the low-pass (Gaussian) residual.  Images smaller than 16 px give one level.
2. From every level of every image, ``n_patches`` random 7x7 neighbourhoods (all channels), i.e.
   descriptors of ``C * 49`` values.
3. Each set's descriptors are normalised per channel by that set's own mean and std at that
   level (real and fake separately, as in the ProGAN code).  A consequence: a global
   brightness/contrast change of one set is invisible to this metric.
4. Per level, SWD = mean over random unit directions of the 1-D Wasserstein-1 distance between
   the projected descriptor sets (sort and compare).  ``n_proj`` directions in all, drawn in
   ``n_repeats`` batches of ``n_proj // n_repeats`` (ProGAN: 4 x 128 = 512).
5. Each level's value is reported x 1e3, highest resolution first, with their average.

The descriptor counts must match for sort-and-compare: when ``N_real != N_fake`` the larger set's
descriptors are randomly subsampled to the smaller count (after normalisation).  Everything random
comes from one ``torch.Generator`` seeded with ``seed``, so the result is deterministic.
Memory: one level's descriptors of both sets at a time, ``2 * N * n_patches * C * 49 * 4`` bytes.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ganlab.errors import EvalError
from ganlab.eval.metrics.registry import Metric, register_metric

from ._util import to_tensor

__all__ = ["laplacian_pyramid", "pyramid_resolutions", "sliced_wasserstein"]

_PATCH = 7
_MIN_RES = 16


def _blur(x: torch.Tensor) -> torch.Tensor:
    """5x5 binomial filter ``[1 4 6 4 1]^T [1 4 6 4 1] / 256`` applied separably, per channel.

    Mirror padding (d c b | a b c d | c b a), like ``scipy.ndimage.convolve(mode="mirror")``.
    """
    h, w = x.shape[-2:]
    mode = "reflect" if min(h, w) >= 3 else "replicate"
    y = F.pad(x, (2, 2, 2, 2), mode=mode)
    taps = (1.0 / 16, 4.0 / 16, 6.0 / 16, 4.0 / 16, 1.0 / 16)
    # separable: weighted sums of shifted views (faster than conv2d for a 5-tap filter on the CPU)
    y = sum(t * y[..., :, i: i + w] for i, t in enumerate(taps))
    return sum(t * y[..., i: i + h, :] for i, t in enumerate(taps))


def _down(x: torch.Tensor) -> torch.Tensor:
    return _blur(x)[:, :, ::2, ::2]


def _up(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    b, c, h, w = x.shape
    up = x.new_zeros(b, c, 2 * h, 2 * w)
    up[:, :, ::2, ::2] = x
    return (_blur(up) * 4.0)[:, :, : size[0], : size[1]]


def pyramid_resolutions(size: int) -> list[int]:
    """Level sizes used for images of side ``size``: ``size, size//2, ...`` while >= 16 (at least one)."""
    out = []
    r = int(size)
    while r >= _MIN_RES:
        out.append(r)
        r //= 2
    return out or [int(size)]


def laplacian_pyramid(images: torch.Tensor, n_levels: int) -> list[torch.Tensor]:
    """Laplacian pyramid of float images ``[N, C, H, W]``: ``n_levels - 1`` band-pass levels + low-pass."""
    levels = []
    cur = images
    for _ in range(n_levels - 1):
        small = _down(cur)
        levels.append(cur - _up(small, cur.shape[-2:]))
        cur = small
    levels.append(cur)
    return levels


def _as_float_images(x, name: str) -> torch.Tensor:
    t = to_tensor(x, name=name)
    if t.dim() != 4:
        raise EvalError(f"{name} must be [N, C, H, W], got shape {tuple(t.shape)}")
    if t.dtype == torch.uint8:
        return t.to(torch.float32) / 127.5 - 1.0
    if not t.is_floating_point():
        raise TypeError(f"{name} must be uint8 or floating point, got {t.dtype}")
    return t.to(torch.float32)


def _descriptors(images: torch.Tensor, level: int, n_levels: int, n_patches: int,
                 gen: torch.Generator, batch_size: int, device) -> torch.Tensor:
    """Normalised descriptors ``[N * n_patches, C * 49]`` of one pyramid level of one set."""
    n, c = images.shape[:2]
    out = None
    for lo in range(0, n, batch_size):
        batch = images[lo: lo + batch_size].to(device)
        # band-pass level L needs L + 2 pyramid levels; the last level is the low-pass residual
        lvl = laplacian_pyramid(batch, min(level + 2, n_levels))[level]
        b, _, h, w = lvl.shape
        if h < _PATCH or w < _PATCH:
            raise EvalError(f"pyramid level {level} is {h}x{w}, smaller than the {_PATCH}x{_PATCH} patches")
        if out is None:
            out = torch.empty(n, n_patches, c, _PATCH, _PATCH, dtype=torch.float32, device=device)
            ys = torch.randint(0, h - _PATCH + 1, (n, n_patches), generator=gen).to(device)
            xs = torch.randint(0, w - _PATCH + 1, (n, n_patches), generator=gen).to(device)
        # gather the 7x7 neighbourhoods through flat indices into each H*W plane
        off = torch.arange(_PATCH, device=device)
        rows = ys[lo: lo + b, :, None, None] + off[None, None, :, None]       # [b, P, 7, 1]
        cols = xs[lo: lo + b, :, None, None] + off[None, None, None, :]       # [b, P, 1, 7]
        flat = (rows * w + cols).reshape(b, 1, -1).expand(b, c, -1)           # [b, C, P*49]
        patches = torch.gather(lvl.reshape(b, c, h * w), 2, flat)
        out[lo: lo + b] = patches.reshape(b, c, n_patches, _PATCH, _PATCH).transpose(1, 2)
    # per-channel normalisation with this set's own statistics
    mean = out.mean(dim=(0, 1, 3, 4), keepdim=True)
    std = out.std(dim=(0, 1, 3, 4), keepdim=True, correction=0).clamp_min(1e-8)
    out = (out - mean) / std
    return out.reshape(n * n_patches, c * _PATCH * _PATCH)


def _sorted_rows(x: torch.Tensor) -> torch.Tensor:
    """Sort each row; on the CPU through NumPy, whose SIMD sort is several times faster than torch's."""
    if x.device.type == "cpu":
        return torch.from_numpy(np.sort(x.contiguous().numpy(), axis=1))
    return torch.sort(x, dim=1).values


def _swd(a: torch.Tensor, b: torch.Tensor, n_proj: int, n_repeats: int,
         gen: torch.Generator, max_elems: int = 1 << 24) -> float:
    dim = a.shape[1]
    per_repeat = n_proj // n_repeats
    block = max(1, min(per_repeat, max_elems // max(1, a.shape[0])))
    total = torch.zeros((), dtype=torch.float64)
    for _ in range(n_repeats):
        dirs = torch.randn(dim, per_repeat, generator=gen).to(a.device)
        dirs = dirs / dirs.norm(dim=0, keepdim=True)
        for lo in range(0, per_repeat, block):
            d = dirs[:, lo: lo + block].T.contiguous()  # [block, dim]
            pa = _sorted_rows(d @ a.T)
            pb = _sorted_rows(d @ b.T)
            total += (pa - pb).abs_().sum(dim=1).double().sum().cpu()
    return float(total / (a.shape[0] * per_repeat * n_repeats))


def sliced_wasserstein(real_images, fake_images, n_patches: int = 128, n_proj: int = 512,
                       n_repeats: int = 4, seed: int = 0, *, batch_size: int = 128,
                       device: str | torch.device = "cpu") -> dict:
    """ProGAN-style SWD between two image sets ``[N, C, H, W]`` (same C, H, W).

    Returns ``{"levels": [swd x 1e3 per level, finest first], "resolutions": [level sizes],
    "mean": average of the levels}``.  See the module docstring for the protocol.
    """
    real = _as_float_images(real_images, "real_images")
    fake = _as_float_images(fake_images, "fake_images")
    if real.shape[1:] != fake.shape[1:]:
        raise EvalError(f"image shapes differ: {tuple(real.shape[1:])} vs {tuple(fake.shape[1:])}")
    if real.shape[0] < 1 or fake.shape[0] < 1:
        raise EvalError("both image sets must be non-empty")
    h, w = real.shape[-2:]
    if min(h, w) < _PATCH:
        raise EvalError(f"images must be at least {_PATCH}x{_PATCH}, got {h}x{w}")
    if n_patches < 1 or n_repeats < 1 or n_proj < n_repeats or n_proj % n_repeats:
        raise EvalError("need n_patches >= 1 and n_proj a positive multiple of n_repeats")

    resolutions = pyramid_resolutions(min(h, w))
    n_levels = len(resolutions)
    gen = torch.Generator().manual_seed(int(seed))
    values = []
    with torch.no_grad():
        for level in range(n_levels):
            da = _descriptors(real, level, n_levels, n_patches, gen, batch_size, device)
            db = _descriptors(fake, level, n_levels, n_patches, gen, batch_size, device)
            m = min(da.shape[0], db.shape[0])
            if da.shape[0] > m:
                da = da[torch.randperm(da.shape[0], generator=gen)[:m].to(da.device)]
            if db.shape[0] > m:
                db = db[torch.randperm(db.shape[0], generator=gen)[:m].to(db.device)]
            values.append(_swd(da, db, n_proj, n_repeats, gen) * 1e3)
            del da, db
    return {"levels": values, "resolutions": resolutions, "mean": float(sum(values) / len(values))}

# --------------------------------------------------------------------------- registration

def _rows(inp):
    r = sliced_wasserstein(inp.real, inp.fake, seed=inp.seed)
    return [{"metric": "swd", "value": r["mean"], "levels": r["levels"]}]


register_metric(Metric("swd", rows=("swd",), lower=("swd",), compute=_rows,
                       description="sliced Wasserstein distance of Laplacian-pyramid patches (no features)"))
