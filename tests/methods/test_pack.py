"""PacGAN packing (tricks.pack): D scores m samples at once, for the methods whose D can; refused with the reason
elsewhere."""
import pytest
import torch

from ganlab.errors import ConfigError
from ganlab.methods import tricks


def test_pack_groups_consecutive_samples_along_the_first_axis():
    x = torch.arange(5 * 3 * 2 * 2, dtype=torch.float32).view(5, 3, 2, 2)
    p = tricks.pack(x, 2)
    assert p.shape == (2, 6, 2, 2)  # the fifth sample is left out
    assert torch.equal(p[1, :3], x[2]) and torch.equal(p[1, 3:], x[3])
    pts = torch.randn(8, 2)
    assert torch.equal(tricks.pack(pts, 4)[1], pts[4:].reshape(-1))
    assert tricks.pack(pts, 1) is pts
    assert tricks.packed_shape((3, 16, 16), 4) == (12, 16, 16) and tricks.packed_shape((2,), 3) == (6,)


@pytest.mark.parametrize("source", ["digits", "ring8"])
def test_D_sees_packs_and_the_step_trains(source, build, batch, dataset, finite):
    ds = dataset(source) if source != "digits" else dataset()
    m = build("gan", ds=ds, **{"tricks.pack": 4, "model.mlp_hidden": 32})
    seen = []
    m.D.register_forward_hook(lambda mod, args, out: seen.append((args[0].shape, out.shape)))
    b = batch(ds, n=32)
    before = [p.detach().clone() for p in m.D.parameters()]
    stats = m.train_step(b)
    assert finite(stats)
    shape = tuple(b.x.shape)
    assert seen[0][0] == (8, shape[1] * 4, *shape[2:]) and seen[0][1] == (8,)
    assert any(not torch.equal(a, p) for a, p in zip(before, m.D.parameters()))
    x = m.generate(m.sample_inputs(5))  # sampling is per sample, as before
    assert x.shape == (5, *shape[1:])


def test_pack_works_with_the_gradient_penalty_and_lsgan(build, batch, finite):
    for method, values in (("gan", {"objective.loss": "wgan-gp", "model.d_norm": "none"}), ("lsgan", {}), ("gan", {"objective.loss": "hinge"})):
        m = build(method, **{"tricks.pack": 2, **values})
        assert finite(m.train_step(batch(n=16)))


@pytest.mark.parametrize("method, needle", [("cgan", "its own tags"), ("acgan", "its own tags"),
                                            ("infogan", "own code"), ("bigan", "pairs"), ("msggan", "every scale")])
def test_refused_where_D_scores_each_sample_against_its_own(method, needle, tiny_config):
    with pytest.raises(ConfigError, match=rf"tricks.pack=2 with method={method}: .*{needle}.*use tricks.pack=1"):
        tiny_config(method=method, **{"tricks.pack": 2})


def test_refused_without_a_discriminator_or_with_a_batch_it_does_not_divide(tiny_config):
    with pytest.raises(ConfigError, match="tricks.pack with method=vae"):
        tiny_config(method="vae", **{"tricks.pack": 2})
    with pytest.raises(ConfigError, match=r"tricks.pack=3 with train.batch_size=32: .*multiple of 3"):
        tiny_config(**{"tricks.pack": 3, "train.batch_size": 32})
    with pytest.raises(ConfigError, match="tricks.pack"):
        tiny_config(**{"tricks.pack": 0})


@pytest.mark.slow
def test_a_packed_gan_covers_the_ring(build, dataset, random_batches):
    """The learning test of the plain GAN on ring-8 (tests/methods/test_learning.py), with D scoring pairs."""
    ds = dataset("ring8", limit=None)
    m = build("gan", ds, **{"model.latent_dim": 8, "model.mlp_hidden": 128, "model.mlp_layers": 3,
                            "model.g_norm": "batch", "optim.g_lr": 2e-4, "optim.d_lr": 1e-3,
                            "optim.g_betas": [0.5, 0.9], "optim.d_betas": [0.5, 0.9], "tricks.ema": 0.98,
                            "tricks.pack": 2})
    for b in random_batches(ds, 512, 1800):
        m.train_step(b)
    m.train(False)
    x = m.generate(m.sample_inputs(2000, torch.Generator().manual_seed(5)))
    d, k = torch.cdist(x, ds.modes).min(1)
    good = d < 3 * ds.mode_std
    modes, precise = len(set(k[good].tolist())), good.float().mean().item()
    assert modes >= 6 and precise > 0.5, (modes, precise)
