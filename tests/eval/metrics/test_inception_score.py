import math

import numpy as np
import pytest
import torch

from ganlab.eval.metrics.inception_score import inception_score


def _logits(n=200, k=10, seed=0, sharpness=3.0):
    g = torch.Generator().manual_seed(seed)
    return sharpness * torch.randn(n, k, generator=g, dtype=torch.float64)


def test_known_values():
    # one-hot predictions spread evenly over K classes: IS = K
    k = 8
    probs = torch.eye(k).repeat(5, 1)
    mean, std = inception_score(probs, splits=1)
    assert mean == pytest.approx(k) and std == 0.0
    # identical predictions everywhere: IS = 1
    same = torch.full((40, 5), 0.2)
    assert inception_score(same, splits=4)[0] == pytest.approx(1.0)
    # all mass on one class: IS = 1 (0 log 0 handled)
    one = torch.zeros(20, 5)
    one[:, 2] = 1
    assert inception_score(one, splits=2) == pytest.approx((1.0, 0.0))


def test_splits_are_consecutive_chunks_with_population_std():
    # split 0 has 2 classes (IS 2), split 1 has 4 classes (IS 4)
    probs = torch.cat([torch.eye(4)[[0, 1, 0, 1]], torch.eye(4)])
    mean, std = inception_score(probs, splits=2)
    assert mean == pytest.approx(3.0) and std == pytest.approx(1.0)


def test_probs_and_logits_agree_and_validation():
    logits = _logits()
    a = inception_score(torch.softmax(logits, 1), splits=5)
    b = inception_score(logits, splits=5, from_logits=True)
    assert a == pytest.approx(b, rel=1e-10)
    with pytest.raises(ValueError, match="from_logits"):
        inception_score(logits, splits=5)  # logits without the flag
    with pytest.raises(ValueError):
        inception_score(torch.softmax(logits, 1), splits=500)
    with pytest.raises(ValueError):
        inception_score(torch.ones(10), splits=1)
    # NumPy input works too
    assert inception_score(torch.softmax(logits, 1).numpy(), splits=5) == pytest.approx(a)


def test_matches_torch_fidelity_without_shuffle():
    pytest.importorskip("torch_fidelity")
    from torch_fidelity.metric_isc import isc_features_to_metric

    logits = _logits(n=233, k=20, seed=1)  # 233 is not a multiple of 10: uneven chunks
    ref = isc_features_to_metric(logits, splits=10, shuffle=False)
    mean, std = inception_score(logits, splits=10, from_logits=True)
    assert mean > 2
    assert mean == pytest.approx(ref["inception_score_mean"], rel=1e-4)
    assert std == pytest.approx(ref["inception_score_std"], rel=1e-4)


def test_matches_torchmetrics_with_its_permutation(given_features):
    # torchmetrics shuffles with torch.randperm and reports the unbiased std; reproduce the
    # permutation through the seed and rescale the std.
    pytest.importorskip("torchmetrics")
    from torchmetrics.image.inception import InceptionScore

    logits = _logits(n=300, k=15, seed=2)
    metric = InceptionScore(feature=given_features(), splits=10)
    metric.update(logits)
    torch.manual_seed(1234)
    ref_mean, ref_std = metric.compute()
    torch.manual_seed(1234)
    perm = torch.randperm(logits.shape[0])
    mean, std = inception_score(logits[perm], splits=10, from_logits=True)
    assert mean == pytest.approx(float(ref_mean), rel=1e-4)
    assert std * math.sqrt(10 / 9) == pytest.approx(float(ref_std), rel=1e-4)
    assert np.isfinite(std) and std > 0
