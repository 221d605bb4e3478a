"""``ganlab vae-views``: held-out images above their reconstructions, the test MSE, and random samples.

Made for VAE runs; works for any method with an encoder (BiGAN: G(E(x)) as the reconstruction).
The held-out images are those ``method.held_out_indices(n)`` names where the method holds items out, otherwise
the last ``vae.test_fraction`` of the run's data (``--test-fraction`` to change it; with ``--data``
other than the training data, all of it). The MSE is per pixel, on the scale the
networks see (``[-1, 1]`` for tanh models), decoding the posterior mean (``method.held_out_score`` where the
method has it).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ganlab.errors import ConfigError
from ganlab.explore.common import (
    figure_paths,
    fmt,
    images_at,
    labelled_grid,
    load_generator,
    load_images,
    require_encoder,
    require_images,
    write_json,
)
from ganlab.plots import to_unit


def test_indices(n_total: int, fraction: float) -> torch.Tensor:
    """The held-out items: the last ``fraction`` of the data (all of it when the fraction is 0)."""
    if fraction <= 0:
        return torch.arange(n_total)
    k = max(1, int(math.ceil(n_total * fraction)))
    return torch.arange(n_total - k, n_total)


@torch.no_grad()
def reconstruct(g, x: torch.Tensor) -> torch.Tensor:
    return g.method.reconstruct(x.to(g.device)).float().cpu()


@torch.no_grad()
def test_mse(g, ds, idx: torch.Tensor, batch_size: int = 256) -> float:
    """Mean squared error per pixel of the reconstructions of items ``idx`` (network scale)."""
    m = g.method
    total, n = 0.0, 0
    for i in range(0, len(idx), batch_size):
        xb = images_at(g, ds, idx[i:i + batch_size])
        if m.capabilities.held_out == "test_mse":  # the method's own score: the same number as in training
            v = float(m.held_out_score(xb))
        else:
            v = float(F.mse_loss(reconstruct(g, xb), xb.float()))
        total += v * xb.shape[0]
        n += xb.shape[0]
    return total / n


def vae_views(run, args=None, n=8, samples=16, seed=0, test_fraction=None, checkpoint=None, device="cpu", out=None,
              log=print) -> dict:
    if samples < 0:
        raise ConfigError(f"--samples {samples}: give 0 (no samples) or more")
    if test_fraction is not None and not 0 <= test_fraction < 1:
        raise ConfigError(f"--test-fraction {test_fraction}: give a share of the data in [0, 1) "
                          "(0: all of it is shown as test images)")
    g = load_generator(run, checkpoint, device)
    require_images(g, "vae-views")
    require_encoder(g, "vae-views")
    ds = load_images(g, args)
    own_data = not getattr(args, "data", None)
    fraction = test_fraction if test_fraction is not None else (
        g.cfg.vae.test_fraction if own_data else 0.0)
    if own_data and test_fraction is None and g.method.capabilities.held_out:
        idx = torch.as_tensor(g.method.held_out_indices(len(ds)), dtype=torch.long)  # the method's held-out part
    else:
        idx = test_indices(len(ds), fraction)
    mse = test_mse(g, ds, idx)
    gen = torch.Generator().manual_seed(seed)
    show = idx[torch.randperm(len(idx), generator=gen)[:n]].sort().values
    shown = images_at(g, ds, show)
    rec = reconstruct(g, shown)
    rows = [to_unit(shown, g.data_info.output), to_unit(rec, g.data_info.output)]
    labels = ["test", "reconstruction"]
    if samples > 0:
        imgs = g.generate(g.inputs(samples, seed))
        per_row = max(n, 1)
        for i in range(0, samples, per_row):
            rows.append(imgs[i:i + per_row])
            labels.append("samples" if i == 0 else "")
    png, js = figure_paths(g, "vae-views", out)
    title = f"{g.run.path.name}: test MSE {mse:.4g} on {len(idx)} held-out images ({ds.name})"
    geom = labelled_grid(rows, png, labels, None, title=title)
    record = {"command": "vae-views", "run": str(g.run.path), "checkpoint": str(g.checkpoint_path),
              "epoch": g.epoch, "method": g.cfg.method, "data": ds.name, "test_fraction": fraction,
              "n_test": int(len(idx)), "test_mse": mse, "mse_scale": g.data_info.output, "shown": show.tolist(),
              "samples": samples, "seed": seed, "png": str(png), "grid": geom,
              "summary": f"test MSE {mse:.4g} on {len(idx)} held-out images"}
    write_json(js, record)
    log(f"test MSE (per pixel, {'[-1, 1]' if g.data_info.output == 'tanh' else '[0, 1]'} scale) on {len(idx)} held-out "
        f"images: {fmt(mse)}")
    log(png)
    return record


def cmd(args) -> int:
    if args.n < 1:
        raise ConfigError(f"--n {args.n}: show at least one test image")
    vae_views(args.run, args, args.n, args.samples, args.seed, args.test_fraction, args.checkpoint, args.device,
              args.out)
    return 0
