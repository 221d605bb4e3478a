"""What train.precision=auto picks on a device, the old train.amp name, and the autocast context."""
import pytest
import torch

from ganlab import precision
from ganlab.config import build_config, config_from_dict
from ganlab.errors import ConfigError


@pytest.fixture
def flags(monkeypatch):
    """``flags(*names)``: pretend the CPU lists exactly these feature flags."""
    def set_flags(*names):
        monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset(names))
        monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    return set_flags


@pytest.mark.parametrize("names, chosen", [(("avx512f", "avx512_bf16"), "bf16"), (("amx_bf16", "amx_tile"), "bf16"),
                                           (("avx2", "avx512f"), "fp32"), ((), "fp32")])
def test_auto_picks_bf16_only_where_the_cpu_has_it(flags, names, chosen):
    flags(*names)
    got, why = precision.choose("auto", torch.device("cpu"))
    assert got == chosen and why.startswith("auto: ")
    assert ("bf16" in why or "amx" in why) if chosen == "bf16" else "neither" in why


def test_explicit_choices_are_kept_and_unknown_ones_refused(flags):
    flags()
    assert precision.choose("bf16", torch.device("cpu")) == ("bf16", "train.precision=bf16")
    assert precision.choose("fp32", torch.device("cpu"))[0] == "fp32"
    with pytest.raises(ConfigError, match="fp16.*choose one of: auto, fp32, bf16"):
        precision.choose("fp16", torch.device("cpu"))
    with pytest.raises(ConfigError, match="bf16 on a mps device"):
        precision.choose("bf16", torch.device("mps"))
    assert precision.choose("auto", torch.device("mps"))[0] == "fp32"


def test_cuda_without_bf16_gets_fp32(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert precision.choose("auto", torch.device("cuda"))[0] == "fp32"


def test_autocast_is_bfloat16_only_for_bf16():
    lin = torch.nn.Linear(4, 4)
    x = torch.randn(2, 4)
    with precision.autocast("bf16", torch.device("cpu")):
        assert lin(x).dtype == torch.bfloat16
    with precision.autocast("fp32", torch.device("cpu")):
        assert lin(x).dtype == torch.float32


def test_amp_is_the_old_name_of_precision():
    assert build_config(None, ["train.amp=true"]).train.precision == "bf16"
    cfg = build_config(None, ["train.amp=false"])
    assert cfg.train.precision == "fp32" and cfg.train.amp is None
    # the config.yaml of a run made before train.precision existed
    assert config_from_dict({"train": {"amp": False}}).train.precision == "fp32"
    assert build_config(None, ["train.amp=true", "train.precision=bf16"]).train.precision == "bf16"
    with pytest.raises(ConfigError, match="train.amp is the old name of train.precision"):
        build_config(None, ["train.amp=true", "train.precision=fp32"])
    with pytest.raises(ConfigError, match="train.precision: 'half' is not allowed"):
        build_config(None, ["train.precision=half"])
