"""train-classifier's speed work: precision (auto|fp32|bf16), channels-last batches sliced from the in-memory
data, no per-step host syncs, batched channels-last features; files of earlier versions still load."""
import pytest
import torch

from ganlab.cli import main
from ganlab.config import DataConfig
from ganlab.data import load_dataset
from ganlab.errors import ConfigError
from ganlab.eval.features import extract, get_extractor, load_classifier, train_classifier
from ganlab.eval.features.classifier import DomainClassifier, choose_precision, save_classifier

# tiny networks on 16x16 digits: one torch thread (on two busy cores a second thread mostly spins)
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def digits16():
    return load_dataset(DataConfig(source="digits", image_size=16), progress=False)


def _quiet(**kw):
    return dict(progress=False, log=lambda *a: None, **kw)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_tiny_classifier_learns_digits_in_either_precision(digits16, precision, tmp_path):
    model, report = train_classifier(digits16, epochs=3, batch_size=64, width=16, precision=precision, **_quiet())
    assert report["precision"] == precision
    assert report["heldout_accuracy"]["digit"] > 0.8 > report["majority_baseline"]["digit"] + 0.5
    assert all(p.dtype == torch.float32 for p in model.parameters())  # autocast casts copies, weights stay fp32
    assert all(b.dtype == torch.float32 for n, b in model.named_buffers() if "running" in n)
    save_classifier(model, tmp_path / "c.pt", report)
    ext = get_extractor(f"classifier:{tmp_path / 'c.pt'}")
    f, p = ext.features_and_probs(digits16.data[:37])
    assert f.shape == (37, 256) and f.dtype == torch.float32 and p.shape == (37, 10)
    assert ext.predict(digits16.data[:37])["digit"].shape == (37,)


def test_precision_is_checked_in_one_line(digits16, tmp_path, capsys):
    with pytest.raises(ConfigError, match=r"--precision: 'fp16' is not allowed; choose one of: auto, fp32, bf16"):
        train_classifier(digits16, precision="fp16", **_quiet())
    with pytest.raises(ConfigError, match="--precision=bf16 on a mps device"):
        choose_precision("bf16", "mps")
    assert choose_precision("fp32", "cpu") == ("fp32", "--precision=fp32")
    assert choose_precision("auto", "cpu")[0] in ("fp32", "bf16")
    for bad, needle in ((["--precision", "half"], "--precision: 'half' is not allowed"),
                        (["--precision", "bf16", "--device", "mps"], "--precision=bf16 on a mps device")):
        assert main(["train-classifier", "--data", "digits", "--out", str(tmp_path / "c.pt"), *bad]) == 2
        err = capsys.readouterr().err.strip()
        assert needle in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "c.pt").exists()


def test_the_command_takes_precision(tmp_path, capsys):
    out = tmp_path / "c.pt"
    assert main(["train-classifier", "--data", "digits", "--image-size", "16", "--limit", "300", "--epochs", "1",
                 "--width", "8", "--precision", "fp32", "--out", str(out)]) == 0
    assert "precision fp32 (--precision=fp32)" in capsys.readouterr().out
    model = load_classifier(out)
    assert model.report["precision"] == "fp32" and set(model.config) == {"channels", "image_size", "attributes",
                                                                         "width", "feature_dim"}
    assert all(v.is_contiguous() for v in torch.load(out, weights_only=False)["state_dict"].values())


def test_no_host_sync_per_step(digits16, monkeypatch):
    """ganlab's loop reads no tensor on the host per step: the loss stays on the device and is read once an epoch
    (and every log_every steps where a progress bar shows it). (The optimizer's own reads of its CPU step counters
    are torch's, and no device sync.)"""
    import sys
    from pathlib import Path

    import ganlab
    root = str(Path(ganlab.__file__).parent)
    calls = []

    def spy(name, orig):
        def f(self, *a):
            caller = sys._getframe(1).f_code.co_filename
            if caller.startswith(root):
                calls.append(f"{name} from {Path(caller).name}:{sys._getframe(1).f_lineno}")
            return orig(self, *a)
        return f
    for name in ("item", "__float__", "__int__", "__bool__", "tolist"):
        monkeypatch.setattr(torch.Tensor, name, spy(name, getattr(torch.Tensor, name)))
    small = load_dataset(DataConfig(source="digits", image_size=16, limit=600), progress=False)
    _, report = train_classifier(small, epochs=2, batch_size=16, width=8, **_quiet())
    steps = 2 * (report["n_train"] // 16)
    monkeypatch.undo()
    assert steps == 66 and len(calls) < 20, calls


def test_channels_last_and_batch_size_do_not_change_features(digits16, tmp_path):
    model, report = train_classifier(digits16, epochs=1, batch_size=64, width=8, precision="fp32", **_quiet())
    save_classifier(model, tmp_path / "c.pt", report)
    ext = get_extractor(f"classifier:{tmp_path / 'c.pt'}")
    x = digits16.data[:300]
    big, _ = extract(ext, x)
    small, _ = extract(ext, x, batch_size=7)
    plain = load_classifier(tmp_path / "c.pt")  # contiguous layout, one pass
    with torch.no_grad():
        ref = plain.features(x.float() / 255)
    assert big.shape == small.shape == ref.shape == (300, 256)
    assert torch.allclose(big, small, atol=1e-5) and torch.allclose(big, ref, atol=1e-4)


def _old_file(path, size=16, width=8, attributes=None):
    """A classifier file as earlier versions wrote it, built by hand (not by today's code): their config keys, trunk
    indices of two conv/BN/ReLU triples and a max-pool per level, NCHW weights, a report without 'precision'."""
    attributes = attributes or {"digit": [str(i) for i in range(10)]}
    g = torch.Generator().manual_seed(0)
    sd, i, c = {}, 0, 1
    for level in range(2):  # 16 -> 4: two levels
        cout = width * 2 ** level
        for _ in range(2):
            sd[f"trunk.{i}.weight"] = torch.randn(cout, c, 3, 3, generator=g) * 0.2
            sd[f"trunk.{i}.bias"] = torch.zeros(cout)
            sd[f"trunk.{i + 1}.weight"], sd[f"trunk.{i + 1}.bias"] = torch.ones(cout), torch.zeros(cout)
            sd[f"trunk.{i + 1}.running_mean"], sd[f"trunk.{i + 1}.running_var"] = torch.zeros(cout), torch.ones(cout)
            sd[f"trunk.{i + 1}.num_batches_tracked"] = torch.tensor(0)
            i, c = i + 3, cout
        i += 1  # the max-pool
    i += 3  # average pool, flatten, dropout
    sd[f"trunk.{i}.weight"], sd[f"trunk.{i}.bias"] = torch.randn(256, c, generator=g) * 0.1, torch.zeros(256)
    for name, values in attributes.items():
        sd[f"heads.{name}.weight"] = torch.randn(len(values), 256, generator=g) * 0.1
        sd[f"heads.{name}.bias"] = torch.zeros(len(values))
    config = {"channels": 1, "image_size": size, "attributes": attributes, "width": width, "feature_dim": 256}
    torch.save({"config": config, "state_dict": sd, "report": {"heldout_accuracy": {"digit": 0.5}}}, path)


def test_classifier_files_of_earlier_versions_still_load(digits16, tmp_path):
    _old_file(tmp_path / "old.pt")
    model = load_classifier(tmp_path / "old.pt")
    assert isinstance(model, DomainClassifier) and model.report == {"heldout_accuracy": {"digit": 0.5}}
    ext = get_extractor(f"classifier:{tmp_path / 'old.pt'}")
    f, p = extract(ext, digits16.data[:50])
    assert f.shape == (50, 256) and p.shape == (50, 10) and torch.isfinite(f).all()
    with torch.no_grad():
        assert torch.allclose(f, model.features(digits16.data[:50].float() / 255), atol=1e-5)
    new, report = train_classifier(digits16, epochs=1, batch_size=256, width=8, **_quiet())
    save_classifier(new, tmp_path / "new.pt", report)
    a, b = (torch.load(tmp_path / n, weights_only=False) for n in ("old.pt", "new.pt"))
    assert set(a["config"]) == set(b["config"]) and set(a["state_dict"]) == set(b["state_dict"])
    assert all(a["state_dict"][k].shape == b["state_dict"][k].shape for k in a["state_dict"])
