import numpy as np
import pytest
import torch

from ganlab.eval.metrics.prdc import knn_radii, prdc


def _reference_prdc(real, fake, k):
    """Brute force in float64 with full distance matrices, straight from Naeem et al.'s definitions."""
    def dists(a, b):
        return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))

    d_rr, d_ff, d_rf = dists(real, real), dists(fake, fake), dists(real, fake)
    r_real = np.sort(d_rr, axis=1)[:, k]  # column 0 is the point itself
    r_fake = np.sort(d_ff, axis=1)[:, k]
    inside_real = d_rf <= r_real[:, None]  # [N, M]: fake j inside real i's ball
    return {
        "precision": inside_real.any(axis=0).mean(),
        "recall": (d_rf <= r_fake[None, :]).any(axis=1).mean(),
        "density": inside_real.sum() / (k * fake.shape[0]),
        "coverage": (d_rf.min(axis=1) < r_real).mean(),
    }


def test_identical_sets():
    x = torch.randn(400, 16, generator=torch.Generator().manual_seed(0))
    out = prdc(x, x.clone(), k=5, chunk_size=64)
    assert out["precision"] == 1.0 and out["recall"] == 1.0 and out["coverage"] == 1.0
    # every real ball holds its centre and its k neighbours: density = (k + 1) / k exactly
    assert out["density"] == pytest.approx(6 / 5)


def test_disjoint_far_apart_sets():
    g = torch.Generator().manual_seed(1)
    real = torch.randn(300, 8, generator=g)
    fake = torch.randn(250, 8, generator=g) + 100.0
    out = prdc(real, fake, k=5)
    assert out == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_mode_dropping_keeps_precision_and_halves_recall():
    g = torch.Generator().manual_seed(2)
    a = torch.randn(300, 4, generator=g)
    b = torch.randn(300, 4, generator=g) + 50.0
    real = torch.cat([a, b])
    fake = torch.randn(300, 4, generator=g)  # only mode a
    out = prdc(real, fake, k=5)
    assert out["precision"] > 0.9
    assert 0.4 < out["recall"] <= 0.5
    assert 0.4 < out["coverage"] <= 0.5


@pytest.mark.parametrize("chunk_size", [7, 1024])
def test_matches_brute_force_reference(chunk_size):
    rng = np.random.default_rng(3)
    real = rng.normal(size=(220, 6))
    fake = 1.3 * rng.normal(size=(170, 6)) + 0.4
    ref = _reference_prdc(real, fake, k=4)
    out = prdc(real, fake, k=4, chunk_size=chunk_size)
    for key in ref:
        # float32 distances may flip a sample that sits on a ball's edge; allow one sample
        tol = 1.0 / 170 if key in ("precision", "density") else 1.0 / 220
        assert out[key] == pytest.approx(ref[key], abs=tol + 1e-12), key
    assert 0 < out["precision"] < 1 and 0 < out["recall"] < 1


def test_knn_radii_and_errors():
    x = torch.tensor([[0.0], [1.0], [3.0], [7.0]])
    torch.testing.assert_close(knn_radii(x, 1), torch.tensor([1.0, 1.0, 2.0, 4.0]))
    torch.testing.assert_close(knn_radii(x, 2, chunk_size=1), torch.tensor([3.0, 2.0, 3.0, 6.0]))
    with pytest.raises(ValueError):
        knn_radii(x, 4)
    with pytest.raises(ValueError):
        prdc(torch.zeros(10, 3), torch.zeros(10, 4))
