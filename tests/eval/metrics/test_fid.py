import numpy as np
import pytest
import torch

from ganlab.eval.metrics.fid import feature_stats, fid_from_features, frechet_distance


def _random_spd(rng, d, scale=1.0):
    a = rng.normal(size=(d, d))
    return scale * (a @ a.T / d + 0.1 * np.eye(d))


def _sym_sqrt(m):
    w, v = np.linalg.eigh(m)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def test_closed_form_diagonal_gaussians():
    # commuting (diagonal) covariances: FID = |mu1-mu2|^2 + sum (sqrt(s1) - sqrt(s2))^2
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, -1.0])
    s1, s2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    expected = 1 + 0 + 9 + (1 - 2) ** 2 + (2 - 1) ** 2 + 0
    assert frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(expected, rel=1e-10)


def test_closed_form_general_gaussians():
    # Tr((S1 S2)^1/2) == Tr((S1^1/2 S2 S1^1/2)^1/2), computed here with symmetric eigendecompositions
    rng = np.random.default_rng(0)
    d = 12
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    s1, s2 = _random_spd(rng, d), _random_spd(rng, d, 3.0)
    r1 = _sym_sqrt(s1)
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(_sym_sqrt(r1 @ s2 @ r1))
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)
    # symmetric in its two arguments
    assert frechet_distance(mu2, s2, mu1, s1) == pytest.approx(expected, rel=1e-8)


def test_samples_from_known_gaussians_approach_closed_form():
    rng = np.random.default_rng(1)
    d = 4
    mu1, mu2 = np.zeros(d), np.full(d, 0.5)
    s1, s2 = np.eye(d), np.diag([0.25, 1.0, 4.0, 1.0])
    x = rng.multivariate_normal(mu1, s1, size=20000)
    y = rng.multivariate_normal(mu2, s2, size=20000)
    expected = frechet_distance(mu1, s1, mu2, s2)  # = 1.0 + 0.25 + 1.0 = 2.25
    assert expected == pytest.approx(2.25)
    assert fid_from_features(x, y) == pytest.approx(expected, abs=0.1)


def test_self_fid_is_zero_and_shift_is_squared_norm():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(500, 32))
    assert abs(fid_from_features(x, x)) < 1e-6
    shift = np.zeros(32)
    shift[:4] = 1.0  # same covariance, mean moved by |shift|^2 = 4
    assert fid_from_features(x, x + shift) == pytest.approx(4.0, rel=1e-6)


def test_feature_stats_matches_numpy_and_accepts_tensors():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(50, 7))
    mu, sigma = feature_stats(torch.from_numpy(x).float())
    assert mu.dtype == np.float64 and sigma.shape == (7, 7)
    np.testing.assert_allclose(mu, x.mean(0), atol=1e-6)
    np.testing.assert_allclose(sigma, np.cov(x, rowvar=False), atol=1e-5)
    with pytest.raises(ValueError):
        feature_stats(x[:1])
    with pytest.raises(ValueError):
        feature_stats(x[0])


def test_singular_covariances_are_handled():
    # fewer samples than dimensions: both covariances are rank deficient
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(10, 64)), rng.normal(size=(12, 64)) + 0.2
    value = fid_from_features(x, y)
    assert np.isfinite(value) and value > 0
    # a rank-one covariance against a zero one: sqrtm of the zero product
    s = np.zeros((3, 3))
    s[0, 0] = 1.0
    assert frechet_distance(np.zeros(3), s, np.zeros(3), np.zeros((3, 3))) == pytest.approx(1.0, abs=1e-4)


def test_shape_errors():
    with pytest.raises(ValueError):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(ValueError):
        frechet_distance(np.zeros(3), np.eye(2), np.zeros(3), np.eye(3))
    with pytest.raises(ValueError):
        fid_from_features(np.zeros((5, 3)), np.zeros((5, 4)))


def _features(seed=5, n=400, d=48):
    g = torch.Generator().manual_seed(seed)
    real = torch.randn(n, d, generator=g, dtype=torch.float64)
    mix = torch.randn(d, d, generator=g, dtype=torch.float64) / d ** 0.5
    noise = torch.randn(n + 37, d, generator=g, dtype=torch.float64)
    fake = 0.8 * noise @ (torch.eye(d, dtype=torch.float64) + mix) + 0.3
    return real, fake


def test_matches_torchmetrics_fid_on_same_features(given_features):
    pytest.importorskip("torchmetrics")
    from torchmetrics.image.fid import FrechetInceptionDistance

    real, fake = _features()
    metric = FrechetInceptionDistance(feature=given_features(real.shape[1]))
    metric.update(real, real=True)
    metric.update(fake, real=False)
    reference = float(metric.compute())
    ours = fid_from_features(real, fake)
    assert ours > 1.0
    assert ours == pytest.approx(reference, rel=1e-4)


def test_matches_torch_fidelity_fid_on_same_features():
    pytest.importorskip("torch_fidelity")
    from torch_fidelity.metric_fid import (
        fid_features_to_statistics,
        fid_statistics_to_metric,
    )

    real, fake = _features(seed=6)
    st_real, st_fake = fid_features_to_statistics(real), fid_features_to_statistics(fake)
    reference = fid_statistics_to_metric(st_real, st_fake, verbose=False)["frechet_inception_distance"]
    mu, sigma = feature_stats(real)
    np.testing.assert_allclose(mu, st_real["mu"], rtol=1e-10)
    np.testing.assert_allclose(sigma, st_real["sigma"], rtol=1e-10, atol=1e-12)
    assert fid_from_features(real, fake) == pytest.approx(reference, rel=1e-4)


def test_bootstrap_spread_is_seeded_and_shrinks_with_more_samples():
    from ganlab.eval.metrics.fid import bootstrap_std
    rng = np.random.default_rng(0)

    def spread(n, seed=0):
        real, fake = rng.normal(size=(n, 8)), rng.normal(0.3, 1.0, size=(n, 8))
        return bootstrap_std(real, fake, n=20, seed=seed), real, fake

    small, real, fake = spread(200)
    assert small > 0 and bootstrap_std(real, fake, n=20, seed=0) == small  # the same resamples for a seed
    assert bootstrap_std(real, fake, n=20, seed=1) != small
    big, _, _ = spread(5000)
    assert big < small / 3  # about 1/sqrt(25) of it: sampling noise, not a constant


def test_the_fid_row_carries_its_spread_in_small_feature_spaces():
    from types import SimpleNamespace

    from ganlab.eval.metrics import fid as F
    rng = np.random.default_rng(0)
    for dim, has in ((16, True), (F.BOOTSTRAP_MAX_DIM + 1, False)):
        rf, ff = torch.from_numpy(rng.normal(size=(600, dim))), torch.from_numpy(rng.normal(size=(600, dim)))
        (row,) = F._rows(SimpleNamespace(features=lambda rf=rf, ff=ff: (rf, None, ff, None), seed=3))
        assert ("std" in row) == has and row["value"] == pytest.approx(fid_from_features(rf, ff))
