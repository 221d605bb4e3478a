"""Adaptive discriminator augmentation (tricks.ada): the pipeline at p = 0 and p = 1, the controller's steps, and a
run that logs p, keeps it in checkpoints and resumes bit-identically."""
import json

import pytest
import torch

from ganlab.errors import ConfigError
from ganlab.methods import tricks
from ganlab.runs.prepare import resume_config
from ganlab.train import train


def test_the_pipeline_at_p_0_and_1():
    torch.manual_seed(0)
    x = torch.rand(32, 3, 16, 16) * 2 - 1
    assert torch.equal(tricks.ada_augment(x, torch.tensor(0.0)), x)
    y = tricks.ada_augment(x, torch.tensor(1.0))
    assert all(not torch.equal(y[i], x[i]) for i in range(32))
    xs = [x[:, :, ::2, ::2].clone(), x]  # several scales of one batch: one set of random choices
    ys = tricks.ada_augment(xs, torch.tensor(1.0))
    assert isinstance(ys, list) and [t.shape for t in ys] == [t.shape for t in xs]
    x.requires_grad_(True)
    tricks.ada_augment(x, torch.tensor(0.5)).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0  # differentiable: G learns through the augmented fakes


def test_half_the_samples_at_p_one_half():
    torch.manual_seed(1)
    x = torch.rand(2000, 1, 8, 8)
    flipped = tricks.ada_augment(x, torch.tensor(0.5))
    changed = (flipped != x).flatten(1).any(1).float().mean()
    assert 1 - 0.5 ** 4 - 0.05 < changed < 1 - 0.5 ** 4 + 0.05  # unchanged only if all 4 operations were skipped


def test_the_controller_steers_p_by_the_sign_of_d_on_real_inputs():
    ada = tricks.AdaptiveAugment(target=0.6, interval=4, images=1000, batch=50, device="cpu")
    for i in range(4):  # D sure of every real input: r = 1 > 0.6, so more augmentation after 4 updates
        assert float(ada.p) == 0.0
        ada.observe(torch.ones(50))
    assert float(ada.p) == pytest.approx(50 * 4 / 1000)
    for _ in range(8):  # r = -1 < 0.6: back down, and never below 0
        ada.observe(-torch.ones(50))
    assert float(ada.p) == 0.0
    ada.p = torch.tensor(0.99)
    for _ in range(4):
        ada.observe(torch.ones(50))
    assert float(ada.p) == 1.0


def test_a_run_logs_p_saves_it_and_resumes_bit_identically(tmp_path, tiny_config):
    sets = {"tricks.ada": True, "tricks.ada_images": 500, "tricks.ada_interval": 2}
    full = train(tiny_config(**{**sets, "train.epochs": 3}), out=tmp_path / "full", log=lambda *a: None)
    part = train(tiny_config(**{**sets, "train.epochs": 1}), out=tmp_path / "part", log=lambda *a: None)
    train(resume_config(part, {"train.epochs": 3}), resume=part.path, log=lambda *a: None)
    a = torch.load(full.latest, weights_only=False)
    b = torch.load(part.latest, weights_only=False)
    assert a["method_state"]["ada"]["p"] > 0 and torch.equal(a["method_state"]["ada"]["p"], b["method_state"]["ada"]["p"])
    for k, v in a["modules"]["G"].items():
        assert torch.equal(v, b["modules"]["G"][k]), k
    ps = [json.loads(line).get("ada_p") for line in full.metrics_path.read_text().splitlines()]
    assert ps[0] is not None and ps[-1] > ps[0]


@pytest.mark.parametrize("sets, needle", [
    ({"tricks.ada": True, "tricks.diffaug": ["color"]}, "drop one"),
    ({"tricks.ada": True, "data.source": "ring8", "model.arch": "mlp", "data.limit": None}, "2-D points"),
    ({"tricks.ada": True, "method": "vae"}, "tricks.ada with method=vae"),
    ({"tricks.ada_target": 1.5}, "between 0 and 1"),
])
def test_settings_that_do_not_fit_are_refused(tiny_config, sets, needle):
    with pytest.raises(ConfigError, match=needle):
        tiny_config(**sets)
