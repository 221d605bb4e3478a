"""Fixtures for the method tests: one torch thread, and small builders (data sets, methods built without the
loop, batches), each a session-scoped fixture that returns the function."""
from __future__ import annotations

import functools

import pytest
import torch

from ganlab.data import load_dataset, to_float
from ganlab.methods import Batch, DataInfo, build_method


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """The networks here are tiny: one thread is faster than two, and far faster on a shared machine."""
    yield


def info_of(ds, output: str = "tanh") -> DataInfo:
    return DataInfo(ds.kind, tuple(ds.image_shape), {a.name: list(a.values) for a in ds.attributes.values()}, output)


@pytest.fixture(scope="session")
def dataset(tiny_config):
    """``dataset(source="digits", size=16, limit=None)``: a data set from ``tiny_config``, loaded once per
    session for each argument tuple."""
    @functools.cache
    def dataset(source: str = "digits", size: int = 16, limit: int | None = None):
        cfg = tiny_config(**{"data.source": source, "data.image_size": size, "data.limit": limit,
                             **({"model.arch": "mlp"} if source in ("ring8", "grid25") else {})})
        return load_dataset(cfg.data)
    return dataset


@pytest.fixture(scope="session")
def build(tiny_config, dataset):
    """``build(method="gan", ds=None, seed=0, **values)``: a method on ``ds`` (default: 16x16 digits) from
    ``tiny_config(method=..., **values)``."""
    def build(method: str = "gan", ds=None, seed: int = 0, **values):
        ds = dataset() if ds is None else ds
        if ds.kind == "points":
            values.setdefault("model.arch", "mlp")
            values.setdefault("data.source", ds.name)
        cfg = tiny_config(method=method, **values)
        torch.manual_seed(seed)
        return build_method(cfg, info_of(ds, cfg.model.output), "cpu")
    return build


@pytest.fixture(scope="session")
def batch(dataset):
    """``batch(ds=None, n=32, start=0, output="tanh", idx=None)``: a Batch of ``ds`` (default: 16x16 digits),
    rows ``start:start + n`` or ``idx``."""
    def batch(ds=None, n: int = 32, start: int = 0, output: str = "tanh", idx=None) -> Batch:
        ds = dataset() if ds is None else ds
        idx = torch.arange(start, start + n) if idx is None else idx
        x = ds.data[idx]
        x = to_float(x, output) if ds.kind == "images" else x
        return Batch(x, {k: a.codes[idx] for k, a in ds.attributes.items()})
    return batch


@pytest.fixture(scope="session")
def random_batches(batch):
    """``random_batches(ds, n, steps, seed=1, output="tanh")``: ``steps`` batches of ``n`` random rows."""
    def random_batches(ds, n: int, steps: int, seed: int = 1, output: str = "tanh"):
        g = torch.Generator().manual_seed(seed)
        for _ in range(steps):
            yield batch(ds, output=output, idx=torch.randint(0, len(ds), (n,), generator=g))
    return random_batches


@pytest.fixture(scope="session")
def finite():
    """``finite(stats)``: every value of a step's stats is finite."""
    def finite(stats: dict) -> bool:
        return all(torch.isfinite(v).all() for v in stats.values())
    return finite


@pytest.fixture(scope="session")
def ring_coverage():
    """``ring_coverage(values, steps=1500)``: train the method of ``values`` (dotted settings over the defaults)
    on the 8-Gaussian ring for ``steps`` batches of 512 and return (modes covered, share of high-quality samples)
    over 2,000 samples: within 3 standard deviations of a mode."""
    def ring_coverage(values: dict, steps: int = 1500) -> tuple[int, float]:
        from ganlab.experiment import load_experiment
        cfg = load_experiment(None, [], values)
        ds = load_dataset(cfg.data, progress=False)
        torch.manual_seed(0)
        m = build_method(cfg, info_of(ds, cfg.model.output), "cpu")
        g = torch.Generator().manual_seed(1)
        for _ in range(steps):
            m.train_step(Batch(ds.data[torch.randint(0, len(ds), (512,), generator=g)]))
        m.train(False)
        x = m.generate(m.sample_inputs(2000, torch.Generator().manual_seed(5)))
        d, k = torch.cdist(x, ds.modes).min(1)
        good = d < 3 * ds.mode_std
        return len(set(k[good].tolist())), good.float().mean().item()
    return ring_coverage
