"""``ganlab eval``: metrics between generated samples and real data.

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

from ganlab import metrics as M
from ganlab.config import DataConfig

FEATURE_METRICS = ("fid", "kid", "is", "prdc")
IMAGE_METRICS = FEATURE_METRICS + ("swd", "w_critic", "faces", "cond_acc", "stacked_modes")
POINT_METRICS = ("toy", "w_critic")
ALL_METRICS = tuple(dict.fromkeys(IMAGE_METRICS + POINT_METRICS))
LOWER_IS_BETTER = {"fid", "kid", "swd", "w_critic", "toy/reverse_kl", "stacked_modes/kl"}
# metrics whose result rows carry other names; the first row is the one that ranks checkpoints (eval.best)
ROWS = {"prdc": ("recall", "precision", "density", "coverage"), "faces": ("face_rate",),
        "toy": ("toy/modes", "toy/high_quality", "toy/reverse_kl"), "stacked_modes": ("stacked_modes", "stacked_modes/kl"),
        "cond_acc": ("cond_acc/all", "cond_acc/<attribute>")}


def metric_of_row(row: str) -> str | None:
    """The metric (an entry of eval.metrics) whose results include the row named ``row``."""
    if row in ALL_METRICS:
        return row
    if row.startswith("cond_acc/"):
        return "cond_acc"
    return next((m for m, rows in ROWS.items() if row in rows), None)


def ranking_row(name: str) -> str:
    """The result row that ranks checkpoints for ``name``, a metric or one of its rows."""
    return ROWS[name][0] if name in ROWS else name


class EvalError(ValueError):
    pass


def cache_dir() -> Path:
    return Path(os.environ.get("GANLAB_CACHE", Path.home() / ".cache" / "ganlab")) / "features"


def _digest(x: torch.Tensor) -> str:
    return hashlib.sha1(x.contiguous().cpu().numpy().tobytes()).hexdigest()[:16]


def real_features(extractor, real: torch.Tensor, progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Features of the real images, computed once per (extractor, images) and cached on disk."""
    from ganlab.features import extract
    from ganlab.train.checkpoint import save_atomic
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
    return (images01.clamp(0, 1) * 255).round().to(torch.uint8)


def compute(metrics: list[str], real: torch.Tensor, fake: torch.Tensor, extractor=None, *, kind: str = "images",
            requested: dict | None = None, modes=None, mode_std=None, cascade: str | None = None,
            critic_steps: int = 500, seed: int = 0, device="cpu", progress: bool = True) -> list[dict]:
    """Rows {metric, value, std} for uint8 images (or float points) ``real`` and ``fake``."""
    rows = []
    allowed = IMAGE_METRICS if kind == "images" else POINT_METRICS
    bad = [m for m in metrics if m not in allowed]
    if bad:
        raise EvalError(f"metrics {bad} do not apply to {kind}; choose from: {', '.join(allowed)}")
    need_feats = any(m in FEATURE_METRICS for m in metrics)
    if need_feats:
        if extractor is None:
            raise EvalError(f"{[m for m in metrics if m in FEATURE_METRICS]} need a feature extractor (--features)")
        from ganlab.features import extract
        rf, rp = real_features(extractor, real, progress)
        ff, fp = extract(extractor, fake, progress=progress, desc="generated features")
    for m in metrics:
        if m == "fid":
            rows.append({"metric": "fid", "value": M.fid_from_features(rf, ff)})
        elif m == "kid":
            size = min(1000, len(rf), len(ff))
            mean, std = M.kid_from_features(rf, ff, subset_size=size, seed=seed)
            if size == len(rf) == len(ff):
                std = None  # every "subset" is the whole of both sets: the spread over subsets is 0 by construction
            rows.append({"metric": "kid", "value": mean, "std": std})
        elif m == "is":
            mean, std = M.inception_score(fp, splits=min(10, max(1, len(fp) // 50)))
            rows.append({"metric": "is", "value": mean, "std": std})
        elif m == "prdc":
            k = min(5, len(rf) - 1, len(ff) - 1)
            for name, v in M.prdc(rf, ff, k=k).items():
                rows.append({"metric": name, "value": v})
        elif m == "swd":
            r = M.sliced_wasserstein(real, fake, seed=seed)
            rows.append({"metric": "swd", "value": r["mean"], "levels": r["levels"]})
        elif m == "w_critic":
            r = M.critic_wasserstein(real, fake, steps=critic_steps, seed=seed, device=device, progress=progress)
            rows.append({"metric": "w_critic", "value": r["w_estimate"], "steps": r["steps"], "seed": r["seed"],
                         "note": r.get("note", "comparable across models only with the same budget and seed")})
        elif m == "faces":
            f = M.face_detection_rate(fake, cascade)
            r = M.face_detection_rate(real[: len(fake)], cascade)
            rows.append({"metric": "face_rate", "value": f["rate"], "real": r["rate"], "cascade": cascade or "default"})
        elif m == "cond_acc":
            if requested is None:
                raise EvalError("cond_acc needs a conditional model (its samples carry requested labels)")
            if not hasattr(extractor, "predict"):
                raise EvalError("cond_acc needs --features classifier:PATH (a classifier with the same attributes)")
            pred = extractor.predict(fake)
            common = {a: requested[a].cpu() for a in requested if a in pred}
            if not common:
                raise EvalError(f"the classifier predicts {list(pred)}, the model is conditioned on {list(requested)}")
            # the control: the same samples scored against the asked tags shuffled across samples. What a model
            # that ignored its tags would get, given this classifier's bias and the tags' frequencies.
            perm = torch.randperm(len(fake), generator=torch.Generator().manual_seed(seed))
            shuffled = M.condition_accuracy({a: pred[a] for a in common}, {a: c[perm] for a, c in common.items()})
            value_names = extractor.model.attributes if hasattr(extractor, "model") else {}
            for name, acc in M.condition_accuracy({a: pred[a] for a in common}, common).items():
                row = {"metric": f"cond_acc/{name}", "value": acc, "shuffled": shuffled[name]}
                if name in common:  # which asked values are read back, and which are not
                    row["per_value"] = per_value_accuracy(pred[name], common[name], value_names.get(name))
                rows.append(row)
        elif m == "stacked_modes":
            rows.extend(stacked_modes(fake, extractor))
        elif m == "toy":
            r = M.mode_stats(fake, modes, mode_std)
            rows.append({"metric": "toy/modes", "value": r["modes_captured"], "of": len(modes)})
            rows.append({"metric": "toy/high_quality", "value": r["high_quality_fraction"]})
            rows.append({"metric": "toy/reverse_kl", "value": r["reverse_kl"]})
    return rows


def per_value_accuracy(pred: torch.Tensor, asked: torch.Tensor, names: list | None = None) -> dict:
    """Asked value (its name where known) -> the share of samples asking for it whose prediction matches."""
    pred = pred.argmax(1) if pred.dim() == 2 else pred
    out = {}
    for code in sorted(set(asked.tolist())):
        sel = asked == code
        label = str(names[code]) if names is not None and code < len(names) else str(code)
        out[label] = float((pred[sel].cpu() == code).float().mean())
    return out


def stacked_modes(fake: torch.Tensor, extractor) -> list[dict]:
    """Stacked-MNIST mode count: a digit classifier reads each of the 3 channels; a triple is one of 1,000 modes."""
    if not hasattr(extractor, "predict") or fake.shape[1] != 3:
        raise EvalError("stacked_modes needs 3-channel (stacked) images and --features classifier:PATH of a "
                        "grey digit classifier (ganlab train-classifier --data ../shared/data/mnist)")
    heads = list(extractor.model.attributes)
    digits = [extractor.predict(fake[:, c:c + 1])[heads[0]] for c in range(3)]
    r = M.count_modes(torch.stack(digits, 1))
    return [{"metric": "stacked_modes", "value": r["modes"], "of": r["total_modes"]},
            {"metric": "stacked_modes/kl", "value": r["kl"]}]


def generate_batches(generate_fn, inputs: dict, n: int, batch_size: int = 256) -> torch.Tensor:
    """``generate_fn`` over generator inputs for n samples, a slice of ``batch_size`` at a time; outputs on the CPU."""
    return torch.cat([generate_fn({k: (v[i:i + batch_size] if torch.is_tensor(v) else v) for k, v in inputs.items()}).cpu()
                      for i in range(0, n, batch_size)])


def generate(g, n: int, seed: int, batch_size: int = 256) -> tuple[torch.Tensor, dict | None]:
    """n samples of a TrainedGenerator (uint8 images or float points) and the labels they were asked for."""
    inputs = g.inputs(n, seed)
    out = generate_batches(g.generate, inputs, n, batch_size)
    return (to_uint8(out) if g.info.kind == "images" else out), requested_labels(g.method, inputs)


def requested_labels(method, inputs: dict) -> dict | None:
    """Attribute name -> the codes a conditional model was asked for (None for unconditional models)."""
    cond = getattr(method, "cond", None)
    if torch.is_tensor(inputs.get("codes")) and cond is not None and hasattr(cond, "names"):
        return {name: inputs["codes"][:, i].cpu() for i, name in enumerate(cond.names)}
    return None


def load_real(data: DataConfig, limit: int | None, seed: int, progress: bool):
    from ganlab.data import load_dataset
    ds = load_dataset(data, progress=progress)
    x = ds.data
    if limit is not None and len(x) > limit:
        idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:limit]
        x = x[idx]
    return ds, x


def evaluate(run: str | Path | None = None, data: str | None = None, metrics: list[str] | None = None,
             n: int = 10000, features: str = "inception", fake_dir: str | None = None,
             checkpoint: str | None = None, image_size: int | None = None, labels: str | None = None,
             data_format: str = "auto", cascade: str | None = None, critic_steps: int = 500, seed: int = 0,
             device: str = "cpu", weights: str | None = None, progress: bool = True, log=print) -> list[dict]:
    """Evaluate a run (or a folder of images) against real data; appends to RUN/eval.jsonl. Returns the rows."""
    from ganlab.features import get_extractor
    t0 = time.time()
    if (run is None) == (fake_dir is None):
        raise EvalError("give a run folder or --fake DIR (one of them)")
    g = None
    if run is not None:
        import ganlab
        g = ganlab.load(run, checkpoint, device)
        rc = g.cfg.data
        dc = replace(rc, source=data or rc.source, labels=labels if labels is not None else (None if data else rc.labels),
                     format=data_format if data else rc.format, limit=None)
        kind = g.info.kind
    else:
        if data is None:
            raise EvalError("--fake needs --data REAL to compare with")
        dc = DataConfig(source=data, labels=labels, format=data_format, image_size=image_size or 64)
        kind = "images"
    if image_size is not None:
        dc = replace(dc, image_size=image_size)
    if g is not None and kind == "images":
        dc = replace(dc, image_size=g.info.shape[-1], channels=g.info.shape[0])
    metrics = metrics or (["fid", "kid", "is"] if kind == "images" else ["toy"])
    ds, real = load_real(dc, n, seed, progress)
    requested = None
    if g is not None:
        fake, requested = generate(g, n, seed + 1)
    else:
        from ganlab.data import load_dataset
        fds = load_dataset(DataConfig(source=fake_dir, format="folder", image_size=dc.image_size,
                                      channels=ds.image_shape[0], limit=n), progress=progress)
        fake = fds.data
    extractor = None
    if any(m in FEATURE_METRICS or m in ("cond_acc", "stacked_modes") for m in metrics):
        extractor = get_extractor(features, device, weights)
    rows = compute(metrics, real, fake, extractor, kind=kind, requested=requested, modes=ds.modes,
                   mode_std=ds.mode_std, cascade=cascade, critic_steps=critic_steps, seed=seed, device=device,
                   progress=progress)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    common = {"n": len(fake), "n_real": len(real), "features": features if extractor is not None else None,
              "data": dc.source, "time": stamp, "seconds": round(time.time() - t0, 1)}
    if g is not None:
        common.update({"checkpoint": str(g.checkpoint_path), "checkpoint_step": g.g_steps, "epoch": g.epoch})
    else:
        common["fake"] = str(fake_dir)
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
