"""optim.lr_decay: the factor over a run, the rates it sets, and the settings refused."""
import pytest
import torch

from ganlab.errors import ConfigError
from ganlab.methods.schedule import apply_lr_decay, lr_factor


def test_factor_runs_from_one_to_the_floor():
    assert lr_factor("none", 0.7) == 1.0
    assert [lr_factor("linear", t) for t in (0, 0.25, 1)] == pytest.approx([1, 0.75, 0])
    assert [lr_factor("cosine", t) for t in (0, 0.5, 1)] == pytest.approx([1, 0.5, 0])
    assert lr_factor("linear", 1, floor=0.1) == pytest.approx(0.1)
    assert lr_factor("cosine", 2.0, floor=0.2) == pytest.approx(0.2)  # past the end: stays at the floor
    with pytest.raises(ValueError, match="linear"):
        lr_factor("step", 0.5)


def test_rates_follow_the_configured_rate_not_the_last_one():
    w = torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.Adam([{"params": [w], "lr": 1e-3}])
    for step in (0, 5, 10):
        f = apply_lr_decay([opt], "linear", step, 10)
    assert f == 0 and opt.param_groups[0]["lr"] == 0 and opt.param_groups[0]["initial_lr"] == 1e-3
    # a resumed optimizer carries initial_lr in its state: the rate is computed from it again
    again = torch.optim.Adam([w], lr=123.0)
    again.load_state_dict(opt.state_dict())
    apply_lr_decay([again], "linear", 5, 10)
    assert again.param_groups[0]["lr"] == pytest.approx(5e-4)
    assert apply_lr_decay([again], "linear", 5, None) == 1.0  # no planned length: no decay


@pytest.mark.parametrize("values,match", [({"optim.lr_floor": 0.1}, "no effect with optim.lr_decay=none"),
                                          ({"optim.lr_decay": "linear", "optim.lr_floor": 2.0}, r"\[0, 1\]"),
                                          ({"optim.lr_decay": "exp"}, "optim.lr_decay")])
def test_settings_refused(tiny_config, values, match):
    with pytest.raises(ConfigError, match=match):
        tiny_config(**values)
