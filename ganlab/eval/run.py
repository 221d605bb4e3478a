"""Evaluation of a run or of a folder of images: metrics between generated samples and real data.

Generated samples come from a run folder (latest, best, or a named checkpoint; the EMA generator
where the method keeps one) or from a folder of images made by any tool. Real features are cached
(keyed by extractor, data and image size), so only the generated side is computed again.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import replace
from pathlib import Path

import torch

from ganlab.config import DataConfig
from ganlab.errors import EvalError
from ganlab.eval.metrics import registry
from ganlab.eval.metrics.registry import MetricInputs


def cache_dir() -> Path:
    return Path(os.environ.get("GANLAB_CACHE", Path.home() / ".cache" / "ganlab")) / "features"


def _digest(x: torch.Tensor) -> str:
    return hashlib.sha1(x.contiguous().cpu().numpy().tobytes()).hexdigest()[:16]


def real_features(extractor, real: torch.Tensor, progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Features of the real images, computed once per (extractor, images) and cached on disk."""
    from ganlab.eval.features import extract
    from ganlab.files import save_atomic
    key = hashlib.sha1(f"{extractor.id}|{tuple(real.shape)}|{_digest(real)}".encode()).hexdigest()[:20]
    path = cache_dir() / f"{key}.pt"
    if path.is_file():
        d = torch.load(path, weights_only=True)
        return d["features"], d["probs"]
    feats, probs = extract(extractor, real, progress=progress, desc="real features")
    path.parent.mkdir(parents=True, exist_ok=True)
    save_atomic({"features": feats, "probs": probs}, path)
    return feats, probs


def to_uint8(images01: torch.Tensor) -> torch.Tensor:
    """[0, 1] float images -> uint8 (what the metrics take)."""
    return (images01.clamp(0, 1) * 255).round().to(torch.uint8)


def compute(metrics: list[str], real: torch.Tensor, fake: torch.Tensor, extractor=None, *, kind: str = "images",
            requested: dict | None = None, modes=None, mode_std=None, cascade: str | None = None,
            critic_steps: int = 500, seed: int = 0, device="cpu", progress: bool = True) -> list[dict]:
    """Rows {metric, value, std, ...} of the registered ``metrics`` for uint8 images (or float points) ``real``
    and ``fake``; features are extracted once for all the metrics that need them (real ones cached on disk)."""
    from ganlab.devices import resolve
    inputs = MetricInputs(real, fake, extractor, kind, requested, modes, mode_std, cascade, critic_steps, seed,
                          resolve(device, "--device"), progress, real_features=real_features)
    return registry.compute(metrics, inputs)


def generate(g, n: int, seed: int, batch_size: int = 256) -> tuple[torch.Tensor, dict | None]:
    """n samples of a loaded run (uint8 images or float points) and the labels they were asked for. Image
    networks run channels-last, as in training (DCGAN-64 generates about 1.3x as fast; the same values to
    float rounding), ``batch_size`` samples at a time."""
    if g.data_info.kind == "images":
        for m in g.method.modules().values():
            m.to(memory_format=torch.channels_last)
    inputs = g.inputs(n, seed)
    out = g.generate(inputs, batch_size=batch_size)
    return (to_uint8(out) if g.data_info.kind == "images" else out), g.method.requested_labels(inputs)


def load_real(data: DataConfig, limit: int | None, seed: int, progress: bool):
    from ganlab.data import load_dataset
    ds = load_dataset(data, progress=progress)
    x = ds.data
    if limit is not None and len(x) > limit:
        idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:limit]
        x = x[idx]
    return ds, x


def evaluate(g=None, data: str | None = None, metrics: list[str] | None = None,
             n: int = 10000, features: str = "inception", fake_dir: str | None = None,
             image_size: int | None = None, labels: str | None = None,
             data_format: str = "auto", cascade: str | None = None, critic_steps: int = 500, seed: int = 0,
             device: str = "cpu", weights: str | None = None, progress: bool = True, log=print,
             fake: torch.Tensor | None = None) -> list[dict]:
    """Evaluate a loaded run ``g`` (``ganlab.load(RUN)``; its checkpoint's samples), a folder of images
    (``fake_dir``) or images already in memory (``fake``: uint8 ``[N, C, H, W]``, e.g. another tool's
    generator's samples; the real images are read at their size) against real data; a run's rows are appended
    to RUN/eval.jsonl. Returns the rows. (``ganlab.evaluate(RUN, ...)`` loads the run and calls this.)"""
    from ganlab.devices import resolve
    from ganlab.eval.features import get_extractor
    t0 = time.time()
    device = resolve(device, "--device")
    if sum(x is not None for x in (g, fake_dir, fake)) != 1:
        raise EvalError("give a run folder or --fake DIR (one of them)" if fake is None else
                        "give generated images or a run or a folder of them, not both")
    if fake is not None and (fake.dtype != torch.uint8 or fake.dim() != 4 or fake.shape[1] not in (1, 3)):
        raise EvalError(f"generated images must be uint8 [N, 1 or 3, H, W]; got {fake.dtype} "
                        f"{list(fake.shape)}")
    if n < 2:
        raise EvalError(f"--n {n}: compare at least 2 generated samples (and at most that many real ones)")
    if critic_steps < 0:
        raise EvalError(f"--critic-steps {critic_steps}: give 0 (an untrained critic) or more")
    if g is not None:
        rc = g.cfg.data
        dc = replace(rc, source=data or rc.source, labels=labels if labels is not None else (None if data else rc.labels),
                     format=data_format if data else rc.format, limit=None)
        kind = g.data_info.kind
    else:
        if data is None:
            raise EvalError("--fake needs --data REAL to compare with")
        dc = DataConfig(source=data, labels=labels, format=data_format, image_size=image_size or 64)
        kind = "images"
    if image_size is not None:
        dc = replace(dc, image_size=image_size)
    if fake is not None:
        dc = replace(dc, image_size=fake.shape[-1], channels=fake.shape[1])
    if g is not None and kind == "images":
        dc = replace(dc, image_size=g.data_info.shape[-1], channels=g.data_info.shape[0])
    metrics = metrics or (["fid", "kid", "is"] if kind == "images" else ["toy"])
    registry.check_applicable(metrics, kind)
    conditional = g is not None and g.method.capabilities.conditions == "attributes"
    registry.check_conditional(metrics, conditional)  # before anything is generated
    ds, real = load_real(dc, n, seed, progress)
    requested = None
    if g is not None:
        fake, requested = generate(g, n, seed + 1)
    elif fake is not None:
        fake = fake[:n]
    else:
        from ganlab.data import load_dataset
        fds = load_dataset(DataConfig(source=fake_dir, format="folder", image_size=dc.image_size,
                                      channels=ds.image_shape[0], limit=n), progress=progress)
        fake = fds.data
    extractor = get_extractor(features, device, weights) if registry.needs_extractor(metrics) else None
    rows = compute(metrics, real, fake, extractor, kind=kind, requested=requested, modes=ds.modes,
                   mode_std=ds.mode_std, cascade=cascade, critic_steps=critic_steps, seed=seed, device=device,
                   progress=progress)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    common = {"n": len(fake), "n_real": len(real), "features": features if extractor is not None else None,
              "data": dc.source, "time": stamp, "seconds": round(time.time() - t0, 1)}
    if g is not None:
        common.update({"checkpoint": str(g.checkpoint_path), "checkpoint_step": g.g_steps, "epoch": g.epoch})
    else:
        common["fake"] = str(fake_dir) if fake_dir is not None else "images in memory"
    rows = [{**r, **common} for r in rows]
    if g is not None:
        with open(g.run.eval_path, "a") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
    log(format_table(rows))
    return rows


def format_table(rows: list[dict]) -> str:
    lines = [f"{'metric':<22} {'value':>12} {'std':>10}  notes"]
    for r in rows:
        std = f"{r['std']:.4g}" if r.get("std") is not None else ""
        notes = []
        if "real" in r:
            notes.append(f"real images: {r['real']:.3f}")
        if "of" in r:
            notes.append(f"of {r['of']}")
        if "shuffled" in r:
            notes.append(f"asked tags shuffled: {r['shuffled']:.3f}")
        if r["metric"] == "w_critic":
            notes.append(f"{r['steps']} critic steps, seed {r['seed']}: compare only at equal budget and seed")
        lines.append(f"{r['metric']:<22} {r['value']:>12.5g} {std:>10}  {'; '.join(notes)}")
    for r in rows:
        if r.get("per_value"):
            lines.append(f"{r['metric']} per asked value: "
                         + ", ".join(f"{k} {v:.2f}" for k, v in sorted(r["per_value"].items(), key=lambda kv: -kv[1])))
    head = rows[0] if rows else {}
    lines.append(f"n={head.get('n')} generated vs {head.get('n_real')} real; features: {head.get('features')}")
    return "\n".join(lines)
