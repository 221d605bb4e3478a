"""uint8 <-> float scaling, and the 2-D toy mixtures."""
from __future__ import annotations

import math

import pytest
import torch

from ganlab.data import Attribute, Dataset, from_float, load_dataset, to_float
from ganlab.errors import DataError


@pytest.mark.parametrize("output, lo, hi", [("tanh", -1.0, 1.0), ("sigmoid", 0.0, 1.0), ("none", 0.0, 1.0)])
def test_to_float_range_and_round_trip(output, lo, hi):
    x = torch.arange(256, dtype=torch.uint8).reshape(4, 1, 8, 8)
    f = to_float(x, output)
    assert f.dtype == torch.float32 and f.shape == x.shape
    assert f.min().item() == pytest.approx(lo) and f.max().item() == pytest.approx(hi)
    assert (f[0, 0, 0, 1] - f[0, 0, 0, 0]).item() == pytest.approx((hi - lo) / 255)
    back = from_float(f, output)
    assert back.dtype == torch.uint8 and torch.equal(back, x)


def test_from_float_clamps_and_rounds():
    x = torch.tensor([-3.0, -1.0, 0.0, 0.999, 5.0, float("nan")])
    assert from_float(x, "tanh").tolist() == [0, 0, 128, 255, 255, 0]
    assert from_float(torch.tensor([-0.5, 0.5, 2.0]), "sigmoid").tolist() == [0, 128, 255]


def test_to_float_on_the_tensors_device():
    x = torch.full((2, 3), 255, dtype=torch.uint8, device="meta")
    assert to_float(x).device.type == "meta"
    if torch.cuda.is_available():
        y = to_float(torch.zeros(3, dtype=torch.uint8, device="cuda"))
        assert y.is_cuda and y.eq(-1).all()


def test_scaling_errors():
    with pytest.raises(DataError, match="tanh, sigmoid, none"):
        to_float(torch.zeros(1, dtype=torch.uint8), "relu")
    with pytest.raises(DataError, match="float32"):
        to_float(torch.zeros(1))


@pytest.mark.parametrize("name, k, std", [("ring8", 8, 0.01), ("grid25", 25, 0.05)])
def test_toy_mixtures(cfg, name, k, std):
    ds = load_dataset(cfg(source=name), progress=False)
    assert ds.kind == "points" and ds.data.dtype == torch.float32 and tuple(ds.data.shape) == (10_000, 2)
    assert ds.image_shape == (2,) and ds.name == name
    assert ds.modes.shape == (k, 2) and ds.mode_std == pytest.approx(std)
    a = ds.attributes["mode"]
    assert a.values == [str(i) for i in range(k)] and a.codes.dtype == torch.int64
    counts = torch.bincount(a.codes, minlength=k)
    assert len(counts) == k and counts.min() > 10_000 / k * 0.7  # every mode is used, roughly evenly
    offsets = ds.data - ds.modes[a.codes]
    assert offsets.mean(0).abs().max() < std * 0.1
    assert offsets.std(0).sub(std).abs().max() < std * 0.05
    for j in range(k):  # each mode's sample mean is its mean
        assert torch.allclose(ds.data[a.codes == j].mean(0), ds.modes[j], atol=std * 0.5)


def test_toy_means_and_reproducibility(cfg):
    ring = load_dataset(cfg(source="ring8"), progress=False)
    assert torch.allclose(ring.modes.norm(dim=1), torch.ones(8))
    angles = torch.atan2(ring.modes[:, 1], ring.modes[:, 0]).remainder(2 * math.pi)
    assert torch.allclose(angles.sort().values, torch.arange(8) * (2 * math.pi / 8), atol=1e-5)
    grid = load_dataset(cfg(source="grid25", format="grid25", limit=500), progress=False)
    assert len(grid) == 500
    assert sorted(set(grid.modes[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]
    assert len({tuple(m) for m in grid.modes.tolist()}) == 25
    again = load_dataset(cfg(source="grid25", limit=500), progress=False)
    assert torch.equal(grid.data, again.data)


def test_dataset_checks_lengths():
    data = torch.zeros(3, 1, 16, 16, dtype=torch.uint8)
    with pytest.raises(DataError, match="2 codes for 3 items"):
        Dataset(data, "images", {"x": Attribute("x", ["a"], torch.zeros(2, dtype=torch.int64))}, [], "t")
    with pytest.raises(DataError, match="codes must lie in 0..0"):
        Attribute("x", ["a"], torch.tensor([0, 1]))
    assert len(Dataset(data, "images", {}, [], "t")) == 3
