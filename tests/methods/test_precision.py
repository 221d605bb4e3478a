"""train.precision=bf16 in a method's step: the networks compute in bfloat16; weights, gradients, optimizer
state, losses, batch-norm statistics and the gradient penalty stay float32."""
import pytest
import torch
from torch import nn


def conv_output_dtypes(module: nn.Module) -> list:
    """Hooks that record the dtype of every convolution's output in ``module``, in call order."""
    seen = []
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            layer.register_forward_hook(lambda mod, inp, out: seen.append(out.dtype))
    return seen


@pytest.mark.parametrize("precision, inside", [("bf16", torch.bfloat16), ("fp32", torch.float32)])
def test_networks_compute_in_the_chosen_precision_and_keep_float32_state(precision, inside, batch, build):
    m = build("gan", **{"train.precision": precision})
    g_seen, d_seen = conv_output_dtypes(m.G), conv_output_dtypes(m.D)
    stats = m.train_step(batch())
    assert g_seen and set(g_seen) == {inside} and set(d_seen) == {inside}
    assert all(v.dtype == torch.float32 for v in stats.values()), stats
    for net in (m.G, m.D):
        for name, p in net.named_parameters():
            assert p.dtype == torch.float32 and p.grad.dtype == torch.float32, name
        for name, b in net.named_buffers():
            if b.is_floating_point():  # batch-norm running statistics
                assert b.dtype == torch.float32, name
                assert torch.isfinite(b).all(), name
    for opt in m.optimizers().values():
        for state in opt.state.values():
            assert state["exp_avg"].dtype == state["exp_avg_sq"].dtype == torch.float32


def test_gradient_penalty_runs_the_critic_in_float32(batch, build):
    m = build("gan", **{"train.precision": "bf16", "objective.loss": "wgan-gp", "model.d_norm": "none"})
    d_seen = conv_output_dtypes(m.D)
    m.d_objective(batch())
    n_layers = sum(isinstance(x, (nn.Conv2d, nn.Linear)) for x in m.D.modules())
    # real and fake pass through D under autocast; the penalty's pass on the interpolates is float32
    assert d_seen[:2 * n_layers] == [torch.bfloat16] * (2 * n_layers)
    assert d_seen[2 * n_layers:] == [torch.float32] * n_layers


@pytest.mark.parametrize("method", ["vae", "bigan", "msggan", "acgan", "infogan"])
def test_every_family_computes_in_bfloat16(method, batch, build, finite):
    values = {"train.precision": "bf16"}
    if method == "bigan":
        values["model.mlp_hidden"] = 32
    m = build(method, **values)
    seen = [conv_output_dtypes(net) for net in m.modules().values()]
    stats = m.train_step(batch())
    assert finite(stats) and all(v.dtype == torch.float32 for v in stats.values()), stats
    assert torch.bfloat16 in {d for s in seen for d in s}
