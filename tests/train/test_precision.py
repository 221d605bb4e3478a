"""train.precision and train.compile through the loop: the choice is logged and recorded, resume keeps it."""
import pytest
import torch
import yaml

from ganlab import precision
from ganlab.errors import RunError
from ganlab.runs.folder import RunDir
from ganlab.train import resume_config, train


def _state(run):
    return torch.load(RunDir(run).checkpoint("latest"), weights_only=False)


@pytest.mark.parametrize("native, chosen", [(True, "bf16"), (False, "fp32")])
def test_auto_is_resolved_logged_and_recorded(native, chosen, tmp_path, tiny_config, monkeypatch):
    monkeypatch.setattr(precision, "cpu_bf16_native", lambda: (native, "the test says so"))
    lines = []
    run = train(tiny_config(**{"train.precision": "auto", "train.epochs": 1}), out=tmp_path / "r", log=lines.append)
    assert f"precision: {chosen} (auto: the test says so)" in lines
    assert yaml.safe_load((run.path / "config.yaml").read_text())["train"]["precision"] == chosen
    # on a machine that would choose the other way, the resumed run keeps what it was trained with
    monkeypatch.setattr(precision, "cpu_bf16_native", lambda: (not native, "the test says otherwise"))
    cfg = resume_config(run, {"train.epochs": 2})
    assert cfg.train.precision == chosen
    train(cfg, resume=run.path, log=lines.append)
    assert f"precision: {chosen} (train.precision={chosen})" in lines


@pytest.mark.parametrize("prec", ["fp32", pytest.param("bf16", marks=pytest.mark.slow)])
def test_resume_is_bit_identical_in_each_precision(prec, tmp_path, tiny_config):
    full = train(tiny_config(**{"train.precision": prec, "train.epochs": 2}), out=tmp_path / "full",
                 log=lambda *a: None)
    part = train(tiny_config(**{"train.precision": prec, "train.epochs": 1}), out=tmp_path / "part",
                 log=lambda *a: None)
    train(resume_config(part, {"train.epochs": 2}), resume=part.path, log=lambda *a: None)
    a, b = _state(full.path)["modules"], _state(part.path)["modules"]
    for net in a:
        for k in a[net]:
            assert torch.equal(a[net][k], b[net][k]), (net, k)


def test_bf16_and_fp32_train_differently_from_the_same_seed(tmp_path, tiny_config):
    """The setting reaches the loop's steps (not just the config): the weights differ after one epoch."""
    runs = {p: train(tiny_config(**{"train.precision": p, "train.epochs": 1}), out=tmp_path / p, log=lambda *a: None)
            for p in ("fp32", "bf16")}
    a, b = (_state(runs[p].path)["modules"]["G"] for p in ("fp32", "bf16"))
    assert any(not torch.equal(a[k], b[k]) for k in a)


def test_resume_refuses_another_precision(tmp_path, tiny_config):
    run = train(tiny_config(**{"train.precision": "bf16", "train.epochs": 1}), out=tmp_path / "r", log=lambda *a: None)
    with pytest.raises(RunError, match="train.precision: run has 'bf16', asked 'fp32'"):
        train(tiny_config(**{"train.precision": "fp32", "train.epochs": 2}), resume=run.path, log=lambda *a: None)


def test_a_run_made_before_precision_existed_resumes_in_fp32(tmp_path, tiny_config):
    run = train(tiny_config(**{"train.epochs": 1}), out=tmp_path / "r", log=lambda *a: None)
    cfg_path = run.path / "config.yaml"
    d = yaml.safe_load(cfg_path.read_text())
    for key in ("precision", "compile"):
        del d["train"][key]
    d["train"]["amp"] = False
    del d["data"]["loading"], d["data"]["max_memory"]
    cfg_path.write_text(yaml.safe_dump(d))
    cfg = resume_config(run, {"train.epochs": 2})
    assert cfg.train.precision == "fp32"
    train(cfg, resume=run.path, log=lambda *a: None)
    assert _state(run.path)["epoch"] == 2


@pytest.mark.slow
def test_compiled_networks_train_save_and_resume_like_plain_ones(tmp_path, tiny_config):
    values = {"train.precision": "bf16", "train.epochs": 1, "data.limit": 64}
    plain = train(tiny_config(**values), out=tmp_path / "plain", log=lambda *a: None)
    lines = []
    comp = train(tiny_config(**values, **{"train.compile": True}), out=tmp_path / "comp", log=lines.append)
    assert any("networks compiled" in x for x in lines)
    a, b = _state(plain.path), _state(comp.path)
    for net in a["modules"]:  # the checkpoint names and shapes are those of the plain modules
        assert {k: v.shape for k, v in a["modules"][net].items()} == {k: v.shape for k, v in b["modules"][net].items()}
        assert all(torch.isfinite(v).all() for v in b["modules"][net].values() if v.is_floating_point())
    recs = [yaml.safe_load(x) for x in comp.metrics_path.read_text().splitlines()]
    assert recs and all(abs(r["d_loss"]) < 1e3 for r in recs if "d_loss" in r)
    # a compiled run resumes, also without compiling (train.compile may change on resume)
    train(resume_config(comp, {"train.epochs": 2, "train.compile": False}), resume=comp.path, log=lambda *a: None)
    assert _state(comp.path)["epoch"] == 2
    import ganlab
    assert ganlab.load(comp.path).sample(3, seed=0).shape == (3, 1, 16, 16)


def test_a_config_asking_auto_resumes_a_run_whatever_auto_chose(tmp_path, tiny_config, monkeypatch):
    """A sweep (or a user) resuming with the recipe's precision=auto continues the run in what auto chose."""
    monkeypatch.setattr(precision, "cpu_bf16_native", lambda: (False, "auto would pick fp32 now"))
    run = train(tiny_config(**{"train.precision": "bf16", "train.epochs": 1}), out=tmp_path / "r", log=lambda *a: None)
    train(tiny_config(**{"train.precision": "auto", "train.epochs": 2}), resume=run.path, log=lambda *a: None)
    assert _state(run.path)["epoch"] == 2
