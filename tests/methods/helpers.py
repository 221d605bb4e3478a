"""Small builders shared by the method tests: data sets, methods built without the loop, batches."""
from __future__ import annotations

import functools

import torch

from ganlab.data import load_dataset, to_float
from ganlab.methods import Batch, DataInfo, build_method
from tests.conftest import tiny_config


@functools.cache
def dataset(source: str = "digits", size: int = 16, limit: int | None = None):
    cfg = tiny_config(**{"data.source": source, "data.image_size": size, "data.limit": limit,
                         **({"model.arch": "mlp"} if source in ("ring8", "grid25") else {})})
    return load_dataset(cfg.data)


def info_of(ds, output: str = "tanh") -> DataInfo:
    return DataInfo(ds.kind, tuple(ds.image_shape), {a.name: list(a.values) for a in ds.attributes.values()}, output)


def build(method: str = "gan", ds=None, seed: int = 0, **values):
    """A method on ``ds`` (default: 16x16 digits) from ``tiny_config(method=..., **values)``."""
    ds = dataset() if ds is None else ds
    if ds.kind == "points":
        values.setdefault("model.arch", "mlp")
        values.setdefault("data.source", ds.name)
    cfg = tiny_config(method=method, **values)
    torch.manual_seed(seed)
    return build_method(cfg, info_of(ds, cfg.model.output), "cpu")


def batch(ds=None, n: int = 32, start: int = 0, output: str = "tanh", idx=None) -> Batch:
    ds = dataset() if ds is None else ds
    idx = torch.arange(start, start + n) if idx is None else idx
    x = ds.data[idx]
    x = to_float(x, output) if ds.kind == "images" else x
    return Batch(x, {k: a.codes[idx] for k, a in ds.attributes.items()})


def random_batches(ds, n: int, steps: int, seed: int = 1, output: str = "tanh"):
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        yield batch(ds, output=output, idx=torch.randint(0, len(ds), (n,), generator=g))


def finite(stats: dict) -> bool:
    return all(torch.isfinite(v).all() for v in stats.values())
