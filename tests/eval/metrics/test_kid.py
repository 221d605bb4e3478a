import itertools

import numpy as np
import pytest
import torch

from ganlab.eval.metrics.kid import kid_from_features, mmd2_unbiased, polynomial_kernel


def _features(seed=0, n=300, d=32, shift=0.5):
    g = torch.Generator().manual_seed(seed)
    real = torch.randn(n, d, generator=g, dtype=torch.float64)
    fake = 1.2 * torch.randn(n + 20, d, generator=g, dtype=torch.float64) + shift
    return real, fake


def _mmd2_by_definition(x, y, kernel):
    """Unbiased MMD^2 written out as explicit averages over index pairs."""
    m = len(x)
    xx = np.mean([kernel(x[i], x[j]) for i, j in itertools.permutations(range(m), 2)])
    yy = np.mean([kernel(y[i], y[j]) for i, j in itertools.permutations(range(m), 2)])
    xy = np.mean([kernel(x[i], y[j]) for i in range(m) for j in range(m)])
    return xx + yy - 2 * xy


def test_mmd2_matches_pairwise_definition():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(9, 5)), rng.normal(size=(9, 5)) + 0.3
    kernel = lambda a, b: (a @ b / 5 + 1) ** 3
    expected = _mmd2_by_definition(x, y, kernel)
    got = mmd2_unbiased(polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y))
    assert got == pytest.approx(expected, rel=1e-10)
    # whole sets as one subset: KID mean is the same number, std 0
    mean, std = kid_from_features(x, y, subsets=3, subset_size=100)
    assert mean == pytest.approx(expected, rel=1e-10) and std == pytest.approx(0.0, abs=1e-12)


def test_same_distribution_is_near_zero_and_shift_is_positive():
    real, fake = _features(n=600)
    other = torch.randn(600, real.shape[1], generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    mean_same, std_same = kid_from_features(real, other, subsets=50, subset_size=200)
    mean_diff, std_diff = kid_from_features(real, fake, subsets=50, subset_size=200)
    assert mean_diff > 0.5 and std_diff > 0
    assert abs(mean_same) < 0.03 * mean_diff
    assert abs(mean_same) < 4 * std_same / 50 ** 0.5 + 1e-3


def test_set_against_itself():
    # X vs X on the whole set: within-set sums drop the diagonal, the cross sum keeps it, so the
    # unbiased estimate is -2 (mean diag - mean off-diag) / m: slightly negative, near 0.
    real, fake = _features()
    x = real.numpy()
    k = polynomial_kernel(x, x)
    m = len(x)
    expected = -2 * (np.trace(k) / m - (k.sum() - np.trace(k)) / (m * (m - 1))) / m
    mean_self, std_self = kid_from_features(real, real, subsets=2, subset_size=m)
    assert mean_self == pytest.approx(expected, rel=1e-9)
    assert std_self == pytest.approx(0.0, abs=1e-12)
    assert abs(mean_self) < 0.1 * kid_from_features(real, fake, subsets=1, subset_size=m)[0]


def test_subset_size_is_clipped_and_seeded():
    real, fake = _features(n=50)
    a = kid_from_features(real, fake, subsets=5, subset_size=1000, seed=3)
    b = kid_from_features(real, fake, subsets=5, subset_size=1000, seed=3)
    c = kid_from_features(real, fake, subsets=5, subset_size=1000, seed=4)
    assert a == b and a != c
    with pytest.raises(ValueError):
        kid_from_features(real[:1], fake)
    with pytest.raises(ValueError):
        kid_from_features(real, fake[:, :5])


def test_matches_torch_fidelity_kid_with_same_subsets():
    pytest.importorskip("torch_fidelity")
    from torch_fidelity.metric_kid import kid_features_to_metric

    real, fake = _features(seed=1)
    ref = kid_features_to_metric(
        real, fake, kid_subsets=10, kid_subset_size=100, kid_kernel="poly",
        kid_kernel_poly_degree=3, kid_kernel_poly_gamma=None, kid_kernel_poly_coef0=1,
        rng_seed=7, verbose=False,
    )
    mean, std = kid_from_features(real, fake, subsets=10, subset_size=100, seed=7)
    assert mean == pytest.approx(ref["kernel_inception_distance_mean"], rel=1e-4)
    assert std == pytest.approx(ref["kernel_inception_distance_std"], rel=1e-4)


def test_matches_torchmetrics_kid_on_whole_sets(given_features):
    # torchmetrics draws subsets with torch.randperm; with subset_size == N every subset is the
    # whole set, so both compute the same unbiased MMD^2.
    pytest.importorskip("torchmetrics")
    from torchmetrics.image.kid import KernelInceptionDistance

    real, fake = _features(seed=2, n=120)
    fake = fake[:120]
    metric = KernelInceptionDistance(feature=given_features(), subsets=2, subset_size=120,
                                     degree=3, gamma=None, coef=1.0)
    metric.update(real, real=True)
    metric.update(fake, real=False)
    ref_mean, _ = metric.compute()
    mean, _ = kid_from_features(real, fake, subsets=1, subset_size=120)
    assert mean > 0
    assert mean == pytest.approx(float(ref_mean), rel=1e-4)
