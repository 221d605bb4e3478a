import math

import numpy as np
import pytest
import torch

from ganlab.eval.metrics.modes import count_modes
from ganlab.eval.metrics.toy import grid_modes, mode_stats, ring_modes

STD = 0.02


def test_ring_and_grid_means():
    ring = ring_modes(8, radius=2.0)
    assert ring.shape == (8, 2)
    np.testing.assert_allclose(np.linalg.norm(ring, axis=1), 2.0)
    np.testing.assert_allclose(ring[2], [0.0, 2.0], atol=1e-12)
    grid = grid_modes(5, spacing=2.0)
    assert grid.shape == (25, 2)
    assert grid.min() == -4.0 and grid.max() == 4.0
    assert len({tuple(p) for p in grid}) == 25


def test_samples_exactly_at_six_of_eight_modes():
    modes = ring_modes(8)
    samples = np.repeat(modes[:6], 30, axis=0)
    out = mode_stats(samples, modes, STD)
    assert out["modes_captured"] == 6
    assert out["high_quality_fraction"] == 1.0
    assert out["counts"] == [30] * 6 + [0, 0]
    # q uniform over 6 of 8 modes: KL(q || uniform_8) = log(8 / 6)
    assert out["reverse_kl"] == pytest.approx(math.log(8 / 6))


def test_all_samples_far_from_every_mode():
    modes = ring_modes(8)
    samples = np.zeros((100, 2))  # the ring's centre: 50 std from every mean
    out = mode_stats(samples, modes, STD)
    assert out["modes_captured"] == 0
    assert out["high_quality_fraction"] == 0.0
    assert math.isnan(out["reverse_kl"])


def test_threshold_radius_and_min_count():
    modes = ring_modes(8)
    inside = np.repeat(modes[:1], 2, axis=0)
    hq = np.concatenate([np.repeat(modes[:3], 25, axis=0), np.repeat(modes[3:4], 5, axis=0), inside])
    just_out = modes[5] + np.array([3.5 * STD, 0.0])  # nearest mean is mode 5, but beyond 3 std
    just_in = modes[6] + np.array([0.0, 2.5 * STD])
    samples = np.vstack([hq, just_out, just_in])
    out = mode_stats(torch.tensor(samples), modes, STD)
    assert out["counts"] == [27, 25, 25, 5, 0, 0, 1, 0]
    assert out["modes_captured"] == 3  # modes with >= 20 high-quality samples
    assert mode_stats(samples, modes, STD, min_count=1)["modes_captured"] == 5
    assert out["high_quality_fraction"] == pytest.approx(83 / 84)
    # a wider radius takes in the sample at 3.5 std
    assert mode_stats(samples, modes, STD, n_std=4.0)["counts"][5] == 1
    # per-mode std
    assert mode_stats(samples, modes, np.full(8, STD))["counts"] == out["counts"]


def test_reverse_kl_uneven():
    modes = grid_modes(2, spacing=1.0)  # 4 modes
    samples = np.repeat(modes, [70, 10, 10, 10], axis=0)
    q = np.array([0.7, 0.1, 0.1, 0.1])
    expected = float(np.sum(q * np.log(q * 4)))
    assert mode_stats(samples, modes, 0.05, min_count=1)["reverse_kl"] == pytest.approx(expected)


def test_toy_errors():
    with pytest.raises(ValueError):
        mode_stats(np.zeros((5, 3)), ring_modes(8), STD)
    with pytest.raises(ValueError):
        mode_stats(np.zeros((5, 2)), ring_modes(8), 0.0)


def test_stacked_mnist_single_mode():
    labels = torch.tensor([[1, 2, 3]] * 50)
    out = count_modes(labels)
    assert out["modes"] == 1 and out["total_modes"] == 1000 and out["n"] == 50
    assert out["kl"] == pytest.approx(math.log(1000))


def test_stacked_mnist_all_modes_once():
    labels = np.array([[a, b, c] for a in range(10) for b in range(10) for c in range(10)])
    out = count_modes(labels)
    assert out["modes"] == 1000
    assert out["kl"] == pytest.approx(0.0, abs=1e-12)


def test_stacked_mnist_order_matters_and_kl():
    labels = np.array([[1, 2, 3]] * 30 + [[3, 2, 1]] * 10)
    out = count_modes(labels)
    assert out["modes"] == 2
    q = np.array([0.75, 0.25])
    assert out["kl"] == pytest.approx(float(np.sum(q * np.log(q * 1000))))
    # other stack depths work too: 2 channels -> 100 modes
    assert count_modes(np.array([[0, 0], [9, 9]]))["total_modes"] == 100


def test_stacked_mnist_errors():
    with pytest.raises(ValueError):
        count_modes(np.array([[1, 2, 10]]))
    with pytest.raises(ValueError):
        count_modes(np.array([[1, 2, -1]]))
    with pytest.raises(ValueError):
        count_modes(np.array([1, 2, 3]))
    with pytest.raises(ValueError):
        count_modes(np.array([[0.5, 1.0, 2.0]]))


def test_the_metric_counts_modes_by_the_published_rule_and_the_strict_one_apart():
    """toy/modes: a mode counts with one high-quality sample (PacGAN/VEEGAN); toy/modes_20 needs 20."""
    from types import SimpleNamespace

    from ganlab.eval.metrics.toy import _rows
    modes = ring_modes(8)
    fake = np.concatenate([np.repeat(modes[:6], 40, axis=0), modes[6:7], np.repeat(modes[7:], 5, axis=0)])
    rows = {r["metric"]: r for r in _rows(SimpleNamespace(fake=fake, modes=modes, mode_std=0.01))}
    assert rows["toy/modes"]["value"] == 8 and rows["toy/modes"]["of"] == 8
    assert rows["toy/modes_20"]["value"] == 6 and rows["toy/modes_20"]["of"] == 8
    assert rows["toy/high_quality"]["value"] == 1.0
