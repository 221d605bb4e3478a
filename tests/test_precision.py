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


@pytest.fixture
def gpus(monkeypatch):
    """``gpus((8, 0), (7, 5), current=0)``: pretend CUDA has devices of these compute capabilities, mocked where torch
    is asked (availability, count, capability, name); precision's own functions stay real."""
    def set_gpus(*capabilities, current=0):
        monkeypatch.setattr(torch.version, "hip", None)
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: len(capabilities))
        monkeypatch.setattr(torch.cuda, "current_device", lambda: current)

        def index(d):
            return d if isinstance(d, int) else (torch.device(d).index or 0)
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None: capabilities[index(d)])
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda d=None: f"GPU{index(d)}")
    return set_gpus


@pytest.mark.parametrize("capability, chosen", [((7, 5), "fp32"), ((7, 0), "fp32"), ((8, 0), "bf16"),
                                                ((8, 6), "bf16"), ((9, 0), "bf16")])
def test_auto_on_cuda_needs_native_bf16(gpus, capability, chosen):
    """A T4 (7.5) or V100 (7.0) emulates bfloat16: auto keeps fp32 there, bf16 from Ampere (8.0) on."""
    gpus(capability)
    got, why = precision.choose("auto", torch.device("cuda:0"))
    assert got == chosen and f"compute capability {capability[0]}.{capability[1]}" in why


def test_auto_asks_the_runs_own_device_not_the_current_one(gpus):
    gpus((8, 0), (7, 5), current=0)
    assert precision.choose("auto", torch.device("cuda:1"))[0] == "fp32"
    assert precision.choose("auto", torch.device("cuda:0"))[0] == "bf16"
    gpus((7, 5), (8, 0), current=0)
    assert precision.choose("auto", torch.device("cuda:1"))[0] == "bf16"


def test_bf16_forced_where_it_is_emulated_warns(gpus, recwarn):
    gpus((7, 5))
    got, why = precision.choose("bf16", torch.device("cuda"))
    assert got == "bf16" and "emulates" in why
    warned = [str(w.message) for w in recwarn]
    assert len(warned) == 1 and "train.precision=bf16 on cuda" in warned[0] and "fp32" in warned[0]
    gpus((8, 0))
    assert precision.choose("bf16", torch.device("cuda")) == ("bf16", "train.precision=bf16")
    assert len(recwarn) == 1  # native: no warning


def test_the_old_amp_switch_and_a_flag_warn_alike(gpus, recwarn):
    """train.amp=true is train.precision=bf16, and a command's --precision is named in its own words."""
    gpus((7, 0))
    cfg = build_config(None, ["train.amp=true"])
    assert precision.choose(cfg.train.precision, torch.device("cuda"))[0] == "bf16"
    assert precision.choose("auto", torch.device("cuda"), key="--precision")[0] == "fp32"
    assert precision.choose("bf16", torch.device("cuda"), key="--precision")[0] == "bf16"
    assert [str(w.message).split(" on ")[0] for w in recwarn] == ["train.precision=bf16", "--precision=bf16"]


def test_the_device_auto_is_resolved_first(gpus, flags, monkeypatch):
    """train-classifier --device auto --precision auto: the device auto picks, then its precision."""
    gpus((8, 0))
    assert precision.choose("auto", "auto")[0] == "bf16"
    flags("avx2")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    got, why = precision.choose("auto", "auto")
    assert got == "fp32" and "the CPU has neither" in why
