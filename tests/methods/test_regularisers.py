"""R1 (lazy) and LeCam: the terms themselves, when they are taken, what they do to D, how they travel through a
checkpoint, and the settings refused."""
import pytest
import torch

from ganlab.errors import ConfigError
from ganlab.methods import objectives


def test_r1_is_the_squared_gradient_norm_at_the_real_inputs():
    w = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    x = torch.randn(5, 3)
    r1 = objectives.r1_penalty(lambda v: (v * w).sum(1) + (v ** 2).sum(1), x)
    expect = (w.detach() + 2 * x).pow(2).sum(1).mean()  # grad of w.x + |x|^2 is w + 2x
    assert torch.allclose(r1, expect)
    # it trains the critic: d r1 / d w = mean(2 (w + 2x))
    r1.backward()
    assert torch.allclose(w.grad, (2 * (w.detach() + 2 * x)).mean(0))
    # parts taken together (BiGAN's (x, z) pairs): the norm is over all of them
    pair = objectives.r1_penalty(lambda p: 2 * p[0].sum(1) + 3 * p[1].sum(1), (x, torch.randn(5, 2)))
    assert torch.allclose(pair, torch.tensor(4.0 * 3 + 9.0 * 2))
    assert not x.requires_grad  # the caller's tensor is left alone


def test_lecam_pulls_each_side_towards_the_others_average():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([-1.0, 0.0])
    term = objectives.lecam(real, fake, ema_real=torch.tensor(2.0), ema_fake=torch.tensor(-0.5))
    assert term.item() == pytest.approx(((1.5 ** 2 + 3.5 ** 2) / 2) + ((3 ** 2 + 2 ** 2) / 2))


def _gan(build, **values):
    base = {"model.d_norm": "none", "objective.loss": "hinge"}
    return build("gan", **{**base, **values})


def test_lazy_r1_is_taken_every_kth_update_at_k_times_the_weight(build, batch):
    m = _gan(build, **{"objective.r1_gamma": 2.0, "objective.r1_every": 3})
    taken = []
    for i in range(7):
        stats = m.train_step(batch(start=32 * i))
        taken.append("r1" in stats)
    assert taken == [True, False, False, True, False, False, True]
    assert m.d_updates == 7
    # the term added is gamma / 2 * k * r1: the D loss with R1 minus the same loss without it
    m2 = _gan(build, **{"objective.r1_gamma": 2.0, "objective.r1_every": 3})
    m2.d_updates = 0
    torch.manual_seed(3)
    with_r1, stats, _ = m2.d_objective(batch())
    m2.d_updates = 1
    torch.manual_seed(3)
    without, _, _ = m2.d_objective(batch())
    expect = 0.5 * 2.0 * 3 * stats["r1"].item()
    assert expect > 1e-5 and (with_r1 - without).item() == pytest.approx(expect, abs=1e-6)


def test_r1_runs_in_float32_under_bf16(build, batch):
    m = _gan(build, **{"objective.r1_gamma": 1.0, "objective.r1_every": 1, "train.precision": "bf16"})
    seen = []
    conv = next(mod for mod in m.D.modules() if isinstance(mod, torch.nn.Conv2d))
    conv.register_forward_hook(lambda mod, inp, out: seen.append((torch.is_autocast_enabled("cpu"), out.dtype)))
    _, stats, _ = m.d_objective(batch())
    assert seen[-1] == (False, torch.float32)  # the penalty's pass, outside autocast
    assert seen[0][1] == torch.bfloat16 and stats["r1"].dtype == torch.float32


@pytest.mark.slow
def test_r1_keeps_ds_gradient_at_real_data_small(build, batch):
    """Same seeds, with and without R1: R1 is what holds D's gradient at the real images down."""
    norms = {}
    for gamma in (0.0, 10.0):
        m = _gan(build, **({"objective.r1_gamma": gamma, "objective.r1_every": 1} if gamma else {}),
                 **{"optim.d_lr": 2e-3})
        for i in range(100):
            m.train_step(batch(start=(32 * i) % 1500))
        norms[gamma] = objectives.r1_penalty(lambda v: m.D(v), batch(n=128).x).item()
    assert norms[10.0] < 0.4 * norms[0.0], norms  # measured: about 0.2x


def test_lecam_keeps_ds_outputs_on_real_and_fake_close(build, batch):
    gaps = {}
    for weight in (0.0, 3.0):
        m = _gan(build, **({"objective.lecam_weight": weight} if weight else {}), **{"optim.d_lr": 1e-3})
        gap = []
        for i in range(40):
            stats = m.train_step(batch(start=(32 * i) % 1500))
            gap.append(stats["d_real"].item() - stats["d_fake"].item())
        assert ("lecam" in stats) == (weight > 0)
        gaps[weight] = abs(sum(gap[-10:]) / 10)
    assert gaps[3.0] < 0.5 * gaps[0.0], gaps


def test_lecam_averages_start_at_the_first_update_then_move_and_travel_in_the_checkpoint(build, batch):
    m = _gan(build, **{"objective.lecam_weight": 0.1, "objective.lecam_decay": 0.9})
    assert m.lecam_ema is None
    real, fake = torch.tensor([1.0, 2.0]), torch.tensor([-1.0, -3.0])
    m.regularise(torch.zeros(()), {}, None, None, None, real, fake)  # LeCam alone: no penalty, no R1
    assert torch.allclose(m.lecam_ema, torch.tensor([1.5, -2.0]))
    m.regularise(torch.zeros(()), {}, None, None, None, real + 1, fake + 1)
    assert torch.allclose(m.lecam_ema, torch.tensor([0.9 * 1.5 + 0.1 * 2.5, 0.9 * -2.0 + 0.1 * -1.0]))
    state = m.extra_state()
    other = _gan(build, **{"objective.lecam_weight": 0.1, "objective.lecam_decay": 0.9})
    other.load_extra_state(state)
    assert torch.equal(other.lecam_ema, m.lecam_ema) and other.d_updates == m.d_updates
    # a checkpoint from before these existed: the R1 clock follows the D steps, no averages yet
    other.load_extra_state({"g_steps": 5, "d_steps": 5})
    assert other.d_updates == 5 and other.lecam_ema is None


@pytest.mark.parametrize("method,extra", [("cgan", {"cond.d_mode": "projection"}), ("bigan", {}),
                                          ("infogan", {}), ("acgan", {})])
def test_every_adversarial_method_takes_both(build, batch, finite, method, extra):
    m = build(method, **{"model.d_norm": "none", "objective.r1_gamma": 1.0, "objective.r1_every": 1,
                         "objective.lecam_weight": 0.1, **extra})
    stats = m.train_step(batch())
    assert "r1" in stats and "lecam" in stats and finite(stats)


@pytest.mark.parametrize("values,match", [
    ({"objective.r1_gamma": 1.0, "objective.loss": "wgan-gp", "model.d_norm": "none"}, "two gradient penalties"),
    ({"objective.r1_gamma": 1.0, "model.d_norm": "batch"}, "model.d_norm=none"),
    ({"objective.r1_every": 4}, "no effect without objective.r1_gamma"),
    ({"objective.lecam_decay": 0.5}, "no effect without objective.lecam_weight"),
    ({"objective.lecam_weight": 0.1, "objective.lecam_decay": 1.0}, r"in \[0, 1\)"),
    ({"objective.r1_gamma": -1.0}, "objective.r1_gamma"),
])
def test_settings_that_cannot_work_are_refused(tiny_config, values, match):
    with pytest.raises(ConfigError, match=match):
        tiny_config(**values)


@pytest.mark.parametrize("key", ["objective.r1_gamma", "objective.lecam_weight"])
def test_the_vae_refuses_them(tiny_config, key):
    with pytest.raises(ConfigError, match="a VAE has none"):
        tiny_config(method="vae", **{key: 1.0, "model.d_norm": "none"})
