"""LSGAN, the README's example of adding a method: its losses, its config checks, and that it learns."""
import pytest
import torch

from ganlab.data import load_dataset
from ganlab.errors import ConfigError
from ganlab.experiment import load_experiment
from ganlab.methods import METHODS, DataInfo, build_method
from ganlab.methods.losses import LOSSES

RING = {"method": "lsgan", "data.source": "ring8", "model.arch": "mlp", "model.latent_dim": 8,
        "model.mlp_hidden": 128, "model.g_norm": "batch", "optim.g_lr": 2e-4, "optim.d_lr": 1e-3,
        "optim.g_betas": [0.5, 0.9], "optim.d_betas": [0.5, 0.9], "tricks.ema": 0.98}


def _build(values):
    cfg = load_experiment(None, [], values)
    ds = load_dataset(cfg.data, progress=False)
    torch.manual_seed(0)
    return build_method(cfg, DataInfo(ds.kind, tuple(ds.image_shape), {}, cfg.model.output), "cpu"), ds


def test_least_squares_losses():
    m, _ = _build(RING)
    assert m.loss is LOSSES["lsgan"]  # the method name lsgan trains with the loss table's lsgan entry
    loss = m.loss.d_term(torch.ones(4), torch.zeros(4))  # a perfect regressor: real 1, fake 0
    assert loss.item() == 0.0 and m.loss.stats(torch.ones(4), torch.zeros(4))["d_real"].item() == 1.0
    loss = m.loss.d_term(torch.zeros(4), torch.ones(4))  # the worst: 1/2 + 1/2
    assert loss.item() == pytest.approx(1.0)
    assert m.loss.g_term(None, torch.ones(4)).item() == 0.0
    assert m.loss.g_term(None, torch.full((4,), 3.0)).item() == pytest.approx(2.0)  # 1/2 (3 - 1)^2


def test_registered_and_its_settings_checked():
    m, _ = _build(RING)
    assert type(m) is METHODS["lsgan"] and isinstance(m, METHODS["gan"])  # method: lsgan builds the GAN subclass
    with pytest.raises(ConfigError, match="least-squares"):
        load_experiment(None, ["objective.loss=wgan"], {"method": "lsgan"})
    with pytest.raises(ConfigError, match="real_label"):
        load_experiment(None, ["tricks.real_label=[0.8, 1.0]"], {"method": "lsgan"})


@pytest.mark.slow
def test_lsgan_covers_the_ring(one_thread, ring_coverage):
    modes, good = ring_coverage(RING)
    assert modes >= 6 and good > 0.4
