"""What the report reads from a run folder, tolerant of every missing piece."""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ganlab.config import Config, flatten
from ganlab.errors import RunError
from ganlab.eval.metrics.registry import direction
from ganlab.files import read_jsonl

# (label, config key) shown for every run
KEY_SETTINGS = [
    ("method", "method"), ("recipe", "recipe"), ("data", "data.source"), ("image size", "data.image_size"),
    ("loss", "objective.loss"), ("arch", "model.arch"), ("upsample", "model.upsample"),
    ("latent", "model.latent_dim"), ("G width", "model.g_width"), ("D width", "model.d_width"),
    ("G lr", "optim.g_lr"), ("D lr", "optim.d_lr"), ("batch", "train.batch_size"), ("epochs", "train.epochs"),
    ("steps", "train.steps"), ("n_critic", "train.n_critic"), ("n_gen", "train.n_gen"),
]
# settings that do not change what is trained: never listed as differences
IGNORED = {"train.progress", "train.tensorboard", "train.log_every", "train.device", "train.checkpoint_every",
           "data.cache_dir", "recipe"}

def metric_direction(key: str) -> str | None:
    """'lower', 'higher' or None (not a score) for a metric column such as 'fid', 'cond_acc/hair',
    'prdc.recall' or 'kid_std': the metric registry's word on it."""
    return direction(key)


def metric_history(records: list[dict]) -> dict[str, list[tuple[float, float]]]:
    """{metric: [(epoch, value)]} of the eval.jsonl records that name their epoch, read as ``latest_metrics`` reads
    one record."""
    out: dict[str, list] = {}
    for rec in records:
        if isinstance(rec, dict) and isinstance(rec.get("epoch"), (int, float)):
            for k, v in latest_metrics([rec])[0].items():
                out.setdefault(k, []).append((float(rec["epoch"]), v))
    return out


def default_config() -> dict:
    return flatten(Config().to_dict())


@dataclass
class RunSummary:
    path: Path
    label: str
    is_run: bool = False
    config: dict = field(default_factory=dict)          # flattened
    non_default: dict = field(default_factory=dict)     # key -> (value, default)
    progress: dict = field(default_factory=dict)        # epoch, g_step, iter (from metrics.jsonl)
    grids: list = field(default_factory=list)           # [(epoch, Path)]
    n_grids_total: int = 0
    losses: Path | None = None
    metrics: dict = field(default_factory=dict)         # latest value per metric key
    metrics_std: dict = field(default_factory=dict)     # metric -> its std where the evaluation gives one
    metrics_meta: dict = field(default_factory=dict)    # epoch / checkpoint of the latest evaluation
    metrics_features: dict = field(default_factory=dict)  # metric -> the feature extractor its latest value used
    figures: list = field(default_factory=list)         # [(Path, caption)]
    problems: list = field(default_factory=list)        # what is missing, in words
    health: list = field(default_factory=list)          # the run's health findings (RUN/health.jsonl), in order
    history: dict = field(default_factory=dict)         # metric -> [(epoch, value)] of every evaluation naming its epoch

    def setting(self, key: str):
        return self.config.get(key)


def _last_jsonl(path: Path) -> dict | None:
    """The last complete record of a (possibly long) JSON-lines file, reading only its end."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            f.seek(max(0, size - 65536))
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            rec = json.loads(line)
            if isinstance(rec, dict):
                return rec
        except json.JSONDecodeError:
            continue
    return None


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


META_KEYS = {"epoch", "checkpoint", "checkpoint_step", "step", "g_step", "iter", "time", "timestamp", "date", "n",
             "n_real", "seed", "run", "device", "note", "dataset", "data", "features", "seconds", "fake",
             "during_training", "real", "of", "cascade", "steps", "levels"}
SHOWN_META = ("epoch", "checkpoint", "checkpoint_step", "time", "during_training")


def latest_metrics(records: list[dict]) -> tuple[dict, dict, dict]:
    """(metric -> latest value, metric -> its std, meta of the latest record) from eval.jsonl records.

    Rows of ``ganlab eval`` ({"metric": NAME, "value": V, "std": S, "epoch": ...}) give one metric each;
    other records are read as flat mappings of numbers (nested ones with dotted names). A later record
    overrides an earlier one, so metrics evaluated separately all show, each at its latest value."""
    metrics, stds, meta = {}, {}, {}
    for rec in records:
        if isinstance(rec.get("metric"), str) and "value" in rec:
            if _is_number(rec["value"]):
                metrics[rec["metric"]] = float(rec["value"])
                if _is_number(rec.get("std")):
                    stds[rec["metric"]] = float(rec["std"])
                else:
                    stds.pop(rec["metric"], None)
                meta = {k: rec[k] for k in SHOWN_META if k in rec}
            continue
        flat = flatten(rec)
        found = False
        for k, v in flat.items():
            if k.split(".")[0] in META_KEYS:
                continue
            if _is_number(v):
                metrics[k] = float(v)
                found = True
        if found:
            meta = {k: rec[k] for k in SHOWN_META if k in rec}
    return metrics, stds, meta


def features_of(records: list[dict]) -> dict:
    """metric -> the ``features`` (inception, classifier:PATH, ...) of its latest ``ganlab eval`` row."""
    return {r["metric"]: r.get("features") for r in records if isinstance(r.get("metric"), str) and "value" in r}


def evenly(items: list, k: int) -> list:
    if len(items) <= k:
        return list(items)
    if k == 1:
        return [items[-1]]
    idx = sorted({round(i * (len(items) - 1) / (k - 1)) for i in range(k)})
    return [items[i] for i in idx]


def collect_run(path, max_grids: int = 12) -> RunSummary:
    from ganlab.runs.folder import RunDir
    rd = RunDir(path)
    s = RunSummary(Path(path), Path(path).resolve().name or str(path))
    if not rd.path.is_dir():
        s.problems.append("the folder does not exist")
        return s
    s.is_run = rd.is_run()
    s.health = rd.findings()
    if s.is_run:
        try:
            cfg = rd.read_config() or {}
            s.config = flatten(cfg)
        except (OSError, ValueError, yaml.YAMLError, RunError) as e:  # ValueError: not UTF-8
            s.problems.append(f"config.yaml cannot be read ({e})")
        defaults = default_config()
        s.non_default = {k: (v, defaults.get(k)) for k, v in s.config.items()
                         if k in defaults and v != defaults.get(k) and k not in IGNORED}
    else:
        s.problems.append("no config.yaml (not a ganlab run folder, or training never started)")
    last = _last_jsonl(rd.metrics_path) if rd.metrics_path.is_file() else None
    if last:
        s.progress = {k: last[k] for k in ("epoch", "g_step", "iter") if k in last}
    grids = []
    for p in rd.sample_grids():
        m = re.findall(r"\d+", p.stem)
        if m:
            grids.append((int(m[0]), p))
    s.n_grids_total = len(grids)
    s.grids = evenly(grids, max_grids)
    if grids:
        s.progress["epochs_done"] = grids[-1][0]
    else:
        s.problems.append("no sample grids yet")
    if rd.losses_png.is_file():
        s.losses = rd.losses_png
    else:
        s.problems.append("no losses.png")
    if rd.eval_path.is_file():
        records = read_jsonl(rd.eval_path)
        s.metrics, s.metrics_std, s.metrics_meta = latest_metrics(records)
        s.metrics_features = features_of(records)
        s.history = metric_history(records)
        if not s.metrics:
            s.problems.append("eval.jsonl has no numbers")
    else:
        s.problems.append("not evaluated (no eval.jsonl)")
    if rd.figures.is_dir():
        for p in sorted(rd.figures.glob("*.png")):
            caption = p.stem
            js = p.with_suffix(".json")
            if js.is_file():
                try:
                    rec = json.loads(js.read_text())
                    if isinstance(rec, dict) and rec.get("summary"):
                        caption = f"{p.stem}: {rec['summary']}"
                except (OSError, json.JSONDecodeError):
                    pass
            s.figures.append((p, caption))
    return s
