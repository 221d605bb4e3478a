"""``ganlab interpolate``: walks between pairs of samples, in pixel space and in the latent space.

For each pair of samples (x0 from inputs i0, x1 from inputs i1) and a running from 1 to 0 over ``steps``
columns:

- pixel row:  x' = a x0 + (1 - a) x1          (a cross-fade of the two pictures)
- latent row: x' = G(a z0 + (1 - a) z1)       (or spherical interpolation with ``--slerp``)

Only the floating-point inputs are interpolated (the noise z; InfoGAN's continuous codes); discrete
inputs (class codes, InfoGAN categories) are those of the first sample of the pair, for both ends.

Conditional models (a generator with an embedding per attribute): ``--between A:B`` with A, B tag sets
(``hair=blue,eyes=red:hair=green,eyes=blue``) keeps the noise of each row fixed and interpolates the
attribute embeddings, e' = a E(A) + (1 - a) E(B).
"""
from __future__ import annotations

import torch

from ganlab.errors import ConfigError
from ganlab.explore.common import (
    figure_paths,
    fmt,
    labelled_grid,
    load_generator,
    require_images,
    slice_inputs,
    write_json,
)
from ganlab.methods.conditioning import parse_cond
from ganlab.plots import to_unit

SPACES = ("latent", "pixel", "both")


def slerp(a: torch.Tensor, z0: torch.Tensor, z1: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation a z0 + (1 - a) z1 along the great circle (row-wise); a is a scalar."""
    n0, n1 = z0.norm(dim=1, keepdim=True), z1.norm(dim=1, keepdim=True)
    u0, u1 = z0 / n0.clamp_min(1e-12), z1 / n1.clamp_min(1e-12)
    omega = torch.acos((u0 * u1).sum(1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    w0 = torch.sin(a * omega) / so
    w1 = torch.sin((1 - a) * omega) / so
    lin = a * z0 + (1 - a) * z1
    return torch.where(so.abs() < 1e-6, lin, w0 * z0 + w1 * z1)


def blend_inputs(i0: dict, i1: dict, a: float, spherical: bool) -> dict:
    out = {}
    for k, v0 in i0.items():
        v1 = i1[k]
        if torch.is_tensor(v0) and v0.is_floating_point():
            if spherical and k == "z":
                out[k] = slerp(torch.tensor(a), v0.flatten(1), v1.flatten(1)).view_as(v0)
            else:
                out[k] = a * v0 + (1 - a) * v1
        else:
            out[k] = v0
    return out


def _mean_step(frames: torch.Tensor) -> float:
    """Mean absolute pixel change between neighbouring frames ([steps, C, H, W])."""
    return float((frames[1:] - frames[:-1]).abs().mean()) if frames.shape[0] > 1 else 0.0


def interpolate(run, pairs: int = 4, steps: int = 10, space: str = "both", spherical: bool = False,
                seed: int = 0, between: str | None = None, checkpoint=None, device="cpu", out=None,
                log=print) -> dict:
    if space not in SPACES:
        raise ConfigError(f"--space {space!r}: choose one of {', '.join(SPACES)}")
    if pairs < 1 or steps < 2:
        raise ConfigError(f"--pairs must be at least 1 and --steps at least 2 (got {pairs}, {steps})")
    g = load_generator(run, checkpoint, device)
    require_images(g, "interpolate")
    alphas = torch.linspace(1, 0, steps).tolist()
    col_labels = [f"a={a:.2f}" for a in alphas]
    if between:
        return _between(g, between, pairs, alphas, col_labels, space, seed, out, log)

    inputs = g.inputs(2 * pairs, seed)
    i0 = slice_inputs(inputs, slice(0, pairs))
    i1 = slice_inputs(inputs, slice(pairs, 2 * pairs))
    # discrete inputs (codes) of the first end for both ends: only the noise changes along a row
    i1 = {k: (v if torch.is_tensor(v) and v.is_floating_point() else i0[k]) for k, v in i1.items()}
    x0, x1 = g.generate(i0), g.generate(i1)
    rows, labels = [], []
    latent_steps, pixel_steps = [], []
    latent_name = "slerp" if spherical else "latent"
    lat = torch.stack([g.generate(blend_inputs(i0, i1, a, spherical)) for a in alphas], 1)  # [pairs, steps, ...]
    pix = torch.stack([a * x0 + (1 - a) * x1 for a in alphas], 1)
    for p in range(pairs):
        if space in ("pixel", "both"):
            rows.append(pix[p])
            labels.append(f"{p}: pixel")
            pixel_steps.append(_mean_step(pix[p]))
        if space in ("latent", "both"):
            rows.append(lat[p])
            labels.append(f"{p}: {latent_name}")
            latent_steps.append(_mean_step(lat[p]))
    png, js = figure_paths(g, "interpolate", out)
    title = (f"{g.run.path.name}: {pairs} pairs, x' = a x0 + (1-a) x1 (pixel) vs "
             f"G({'slerp' if spherical else 'a z0 + (1-a) z1'}), seed {seed}")
    geom = labelled_grid(rows, png, labels, col_labels, title=title)
    record = {"command": "interpolate", "run": str(g.run.path), "checkpoint": str(g.checkpoint_path),
              "epoch": g.epoch, "pairs": pairs, "steps": steps, "space": space, "slerp": spherical, "seed": seed,
              "alphas": alphas, "row_labels": labels, "png": str(png), "grid": geom,
              "mean_step_change": {"latent": _avg(latent_steps), "pixel": _avg(pixel_steps)},
              "summary": f"{pairs} pairs x {steps} steps ({space}{', slerp' if spherical else ''})"}
    write_json(js, record)
    msc = record["mean_step_change"]
    log("mean pixel change per step: " + ", ".join(f"{k} {fmt(v)}" for k, v in msc.items() if v is not None))
    log(png)
    return record


def _avg(xs):
    return sum(xs) / len(xs) if xs else None


def _between(g, text, n, alphas, col_labels, space, seed, out, log):
    m = g.method
    if not m.capabilities.mixes_conditions:
        raise ConfigError(f"--between interpolates attribute embeddings of a conditional generator; method "
                          f"{g.cfg.method} has none (use a cgan or acgan run)")
    if text.count(":") != 1:
        raise ConfigError(f"--between {text!r}: expected two tag sets separated by ':', "
                          "e.g. hair=blue,eyes=red:hair=green,eyes=blue")
    a_text, b_text = text.split(":")
    ca, cb = parse_cond(a_text), parse_cond(b_text)
    if not ca or not cb:
        raise ConfigError(f"--between {text!r}: both sides need at least one NAME=VALUE")
    inputs = g.inputs(n, seed, ca)
    codes_b = m.condition_codes(cb, inputs["codes"])

    def run_with(a: float) -> torch.Tensor:
        return to_unit(m.generate_mixed(inputs, codes_b, a), g.data_info.output).cpu()

    emb_rows = torch.stack([run_with(a) for a in alphas], 1)
    xa, xb = emb_rows[:, 0], emb_rows[:, -1]
    pix_rows = torch.stack([a * xa + (1 - a) * xb for a in alphas], 1)
    rows, labels = [], []
    for i in range(n):
        if space in ("pixel", "both"):
            rows.append(pix_rows[i])
            labels.append(f"{i}: pixel")
        if space in ("latent", "both"):
            rows.append(emb_rows[i])
            labels.append(f"{i}: embedding")
    png, js = figure_paths(g, "interpolate-between", out)
    title = f"{g.run.path.name}: {a_text} (left) -> {b_text} (right), fixed noise, seed {seed}"
    geom = labelled_grid(rows, png, labels, col_labels, title=title)
    record = {"command": "interpolate", "run": str(g.run.path), "between": [ca, cb], "pairs": n,
              "steps": len(alphas), "space": space, "seed": seed, "alphas": alphas, "row_labels": labels,
              "png": str(png), "grid": geom, "summary": f"{a_text} -> {b_text} at fixed noise"}
    write_json(js, record)
    log(png)
    return record


def cmd(args) -> int:
    interpolate(args.run, args.pairs, args.steps, args.space, args.slerp, args.seed, args.between,
                args.checkpoint, args.device, args.out)
    return 0
