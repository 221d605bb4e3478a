import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganlab.eval.metrics.wasserstein_critic import critic_wasserstein, default_critic

# many small tensor ops: one thread avoids OpenMP overhead on a busy 2-core box
pytestmark = pytest.mark.usefixtures("one_thread")


def _digits16():
    datasets = pytest.importorskip("sklearn.datasets")
    x = torch.tensor(datasets.load_digits().images, dtype=torch.float32)[:, None] / 8.0 - 1.0
    return F.interpolate(x, size=16, mode="bilinear", align_corners=False).clamp(-1, 1)


def test_real_vs_real_is_well_below_real_vs_noise():
    x = _digits16()
    a, b = x[:600], x[600:1200]
    noise = torch.rand(600, 1, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    # a short, cheap budget (the default is 500 steps at batch 64, lr 1e-4)
    kw = {"steps": 40, "batch_size": 32, "lr": 1e-3, "seed": 0}
    rr = critic_wasserstein(a, b, **kw)
    rn = critic_wasserstein(a, noise, **kw)
    assert rn["w_estimate"] > 1.0
    assert abs(rr["w_estimate"]) < 0.1 * rn["w_estimate"]
    assert rr["steps"] == 40 and rr["seed"] == 0
    assert "same" in rr["note"] and "seed" in rr["note"]
    assert rr["n_train"] == (300, 300) and rr["n_heldout"] == (300, 300)


def test_vectors_use_an_mlp_and_grow_with_the_shift():
    g = torch.Generator().manual_seed(1)
    real = torch.randn(400, 2, generator=g)
    near = torch.randn(400, 2, generator=g) + torch.tensor([0.5, 0.0])
    far = torch.randn(400, 2, generator=g) + torch.tensor([3.0, 0.0])
    w_near = critic_wasserstein(real, near, steps=100, batch_size=32, lr=1e-3)["w_estimate"]
    w_far = critic_wasserstein(real, far, steps=100, batch_size=32, lr=1e-3)["w_estimate"]
    assert 0 < w_near < w_far
    assert w_far > 1.0  # true W1 is 3.0; a budget-limited critic gets part of it


def test_memorising_critic_scores_near_zero_on_held_out_halves():
    # two small samples of the same distribution in 64-D: the critic can tell its training points
    # apart (large w_train) but that says nothing about the distributions (w_estimate near 0)
    g = torch.Generator().manual_seed(3)
    real, fake = torch.randn(40, 64, generator=g), torch.randn(40, 64, generator=g)
    out = critic_wasserstein(real, fake, steps=100, batch_size=20, lr=1e-3)
    assert out["w_train"] > 5.0
    assert abs(out["w_estimate"]) < 0.1 * out["w_train"]


def test_deterministic_and_leaves_global_rng_and_given_critic_alone():
    x = _digits16()[:200]
    y = torch.rand(200, 1, 16, 16, generator=torch.Generator().manual_seed(2)) * 2 - 1
    state = torch.get_rng_state()
    r1 = critic_wasserstein(x, y, steps=10, batch_size=16, seed=5)
    assert torch.equal(state, torch.get_rng_state())
    r2 = critic_wasserstein(x, y, steps=10, batch_size=16, seed=5)
    assert r1 == r2
    r3 = critic_wasserstein(x, y, steps=10, batch_size=16, seed=6)
    assert r3["w_estimate"] != r1["w_estimate"]

    net = default_critic((1, 16, 16))
    before = [p.detach().clone() for p in net.parameters()]
    critic_wasserstein(x, y, steps=5, batch_size=16, critic=net)
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))
    # a factory gets the per-sample shape
    shapes = []
    critic_wasserstein(x, y, steps=2, batch_size=16, critic=lambda s: shapes.append(s) or default_critic(s))
    assert shapes == [(1, 16, 16)]


def test_default_critic_shapes_and_uint8_input():
    for shape in [(3, 32, 32), (1, 28, 28), (3, 64, 64), (1, 4, 4), (7,)]:
        net = default_critic(shape)
        assert net(torch.zeros((2,) + shape)).shape == (2, 1)
    imgs = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
    out = critic_wasserstein(imgs, imgs.flip(0), steps=2, batch_size=4)
    assert isinstance(out["w_estimate"], float)


def test_errors():
    with pytest.raises(ValueError):
        critic_wasserstein(torch.zeros(10, 3), torch.zeros(10, 4), steps=1)
    with pytest.raises(ValueError):
        critic_wasserstein(torch.zeros(1, 3), torch.zeros(10, 3), steps=1)
    with pytest.raises(ValueError):
        default_critic((2, 3))
    with pytest.raises(TypeError):
        critic_wasserstein(torch.zeros(4, 3), torch.zeros(4, 3), steps=1, critic=nn)
