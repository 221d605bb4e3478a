import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ganlab.eval.metrics.swd import (
    _blur,
    laplacian_pyramid,
    pyramid_resolutions,
    sliced_wasserstein,
)

# many small tensor ops: one thread avoids OpenMP overhead on a busy 2-core box
pytestmark = pytest.mark.usefixtures("one_thread")


def _digits(size):
    """sklearn's 8x8 digits (1797 real images), upscaled to size x size, in [-1, 1]."""
    datasets = pytest.importorskip("sklearn.datasets")
    x = torch.tensor(datasets.load_digits().images, dtype=torch.float32)[:, None] / 8.0 - 1.0
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False).clamp(-1, 1)


def _upsample_zero_insert(x, size):
    from ganlab.eval.metrics.swd import _up
    return _up(x, size)


def test_blur_is_the_binomial_filter_with_mirror_padding():
    ndimage = pytest.importorskip("scipy.ndimage")
    x = torch.rand(2, 3, 16, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    kernel = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256.0
    ref = np.stack([[ndimage.convolve(x[i, c].numpy(), kernel, mode="mirror") for c in range(3)]
                    for i in range(2)])
    np.testing.assert_allclose(_blur(x).numpy(), ref, atol=1e-12)


def test_laplacian_pyramid_reconstructs_and_constant_has_no_detail():
    x = torch.rand(3, 2, 32, 32, generator=torch.Generator().manual_seed(1))
    levels = laplacian_pyramid(x, 3)
    assert [lv.shape[-1] for lv in levels] == [32, 16, 8]
    rec = levels[-1]
    for lv in reversed(levels[:-1]):
        rec = lv + _upsample_zero_insert(rec, lv.shape[-2:])
    torch.testing.assert_close(rec, x, atol=1e-5, rtol=0)
    const = torch.full((1, 1, 32, 32), 0.7)
    band = laplacian_pyramid(const, 2)[0]
    assert band.abs().max() < 1e-6


def test_resolutions():
    assert pyramid_resolutions(16) == [16]
    assert pyramid_resolutions(128) == [128, 64, 32, 16]
    assert pyramid_resolutions(28) == [28]
    assert pyramid_resolutions(12) == [12]


def test_real_vs_real_is_well_below_real_vs_noise():
    x = _digits(16)
    a, b = x[:400], x[400:800]
    noise = torch.rand(400, 1, 16, 16, generator=torch.Generator().manual_seed(2)) * 2 - 1
    rr = sliced_wasserstein(a, b, n_proj=256)
    rn = sliced_wasserstein(a, noise, n_proj=256)
    assert len(rr["levels"]) == 1 and rr["resolutions"] == [16]
    assert rr["mean"] < 0.2 * rn["mean"]


def test_two_levels_and_blur_is_seen_at_the_fine_level():
    x = _digits(32)
    a, b = x[:500], x[500:1000]
    blurred = F.avg_pool2d(b, 3, stride=1, padding=1, count_include_pad=False)
    rr = sliced_wasserstein(a, b, n_patches=64, n_proj=128)
    rb = sliced_wasserstein(a, blurred, n_patches=64, n_proj=128)
    assert rr["resolutions"] == [32, 16] and len(rr["levels"]) == 2
    assert rr["mean"] == pytest.approx(np.mean(rr["levels"]))
    # blurring removes fine detail: the 32x32 band-pass level differs much more than real vs
    # real, the 16x16 low-pass level hardly at all
    assert rb["levels"][0] > 2 * rr["levels"][0]
    assert rb["levels"][1] < 1.5 * rr["levels"][1]


def test_deterministic_uint8_and_per_set_normalisation():
    x = _digits(16)[:200]
    y = _digits(16)[200:400]
    r1 = sliced_wasserstein(x, y, n_patches=32, n_proj=64, seed=3)
    r2 = sliced_wasserstein(x, y, n_patches=32, n_proj=64, seed=3)
    r3 = sliced_wasserstein(x, y, n_patches=32, n_proj=64, seed=4)
    assert r1 == r2 and r1["mean"] != r3["mean"]
    # uint8 input is mapped to [-1, 1]
    xu = ((x + 1) * 127.5).round().to(torch.uint8)
    yu = ((y + 1) * 127.5).round().to(torch.uint8)
    ru = sliced_wasserstein(xu, yu, n_patches=32, n_proj=64, seed=3)
    assert ru["mean"] == pytest.approx(r1["mean"], rel=0.05)
    # each set is normalised by its own statistics: a global contrast/brightness change is invisible
    rc = sliced_wasserstein(x, 0.5 * y + 0.2, n_patches=32, n_proj=64, seed=3)
    assert rc["mean"] == pytest.approx(r1["mean"], rel=1e-3)


def test_rgb_128_gives_four_levels_and_unequal_sizes_work():
    g = torch.Generator().manual_seed(5)
    a = torch.randint(0, 256, (6, 3, 128, 128), generator=g, dtype=torch.uint8)
    b = torch.randint(0, 256, (4, 3, 128, 128), generator=g, dtype=torch.uint8)
    out = sliced_wasserstein(a, b, n_patches=16, n_proj=32, n_repeats=2)
    assert out["resolutions"] == [128, 64, 32, 16]
    assert len(out["levels"]) == 4 and all(np.isfinite(v) and v >= 0 for v in out["levels"])


def test_errors():
    with pytest.raises(ValueError):
        sliced_wasserstein(torch.zeros(2, 1, 16, 16), torch.zeros(2, 3, 16, 16))
    with pytest.raises(ValueError):
        sliced_wasserstein(torch.zeros(2, 1, 6, 6), torch.zeros(2, 1, 6, 6))
    with pytest.raises(ValueError):
        sliced_wasserstein(torch.zeros(2, 1, 16, 16), torch.zeros(2, 1, 16, 16), n_proj=10, n_repeats=4)
