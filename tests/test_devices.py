"""One resolver for every device name (ganlab.devices): auto never reaches torch.device, a device the machine does
not have is refused in one line, and the CUDA-only settings are left alone elsewhere."""
import pytest
import torch

from ganlab import devices
from ganlab.errors import ConfigError


@pytest.fixture
def gpus(monkeypatch):
    """``gpus(n)``: pretend CUDA is here with ``n`` devices (0: not here)."""
    def set_gpus(n: int):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: n > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: n)
    return set_gpus


def test_auto_is_the_gpu_where_there_is_one(gpus):
    gpus(0)
    assert devices.resolve("auto") == torch.device("cpu")
    gpus(2)
    assert devices.resolve("auto") == torch.device("cuda")
    assert devices.resolve("cuda:1") == torch.device("cuda", 1)
    assert devices.resolve(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.parametrize("n, name, words", [
    (2, "cuda:2", "train.device=cuda:2: this machine has 2 CUDA device(s) (cuda:0 to cuda:1)"),
    (1, "cuda:1", "train.device=cuda:1: this machine has 1 CUDA device(s) (cuda:0)"),
    (0, "cuda", "train.device=cuda: CUDA is not available on this machine"),
    (0, "cuda:0", "train.device=cuda:0: CUDA is not available"),
    (0, "gpu", "train.device='gpu' is not a device; use auto, cpu, cuda or cuda:N"),
    (0, "", "is not a device")])
def test_a_device_the_machine_lacks_is_one_line(gpus, n, name, words):
    gpus(n)
    with pytest.raises(ConfigError) as e:
        devices.resolve(name)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_the_settings_name_is_the_callers(gpus):
    gpus(1)
    with pytest.raises(ConfigError, match=r"^--device=cuda:4: this machine has 1"):
        devices.resolve("cuda:4", "--device")


def test_the_cudnn_autotuner_is_for_cuda_training_only(monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    assert not devices.use_cudnn_autotuner(torch.device("cpu")) and torch.backends.cudnn.benchmark is False
    monkeypatch.setattr(torch, "are_deterministic_algorithms_enabled", lambda: True)
    assert not devices.use_cudnn_autotuner(torch.device("cuda")) and torch.backends.cudnn.benchmark is False
    monkeypatch.setattr(torch, "are_deterministic_algorithms_enabled", lambda: False)
    assert devices.use_cudnn_autotuner(torch.device("cuda:0")) and torch.backends.cudnn.benchmark is True


def test_auto_reaches_no_torch_device_when_loading_sampling_and_evaluating(gan_run):
    """ganlab.load, the evaluation and its feature extractors take --device auto (the CPU here)."""
    import ganlab
    from ganlab.eval import evaluate
    g = ganlab.load(gan_run, device="auto")
    assert g.device == devices.resolve("auto")
    assert g.sample(2, seed=0).shape[0] == 2
    rows = evaluate(g, metrics=["swd"], n=32, device="auto", progress=False, log=lambda *a: None)
    assert rows[0]["metric"].startswith("swd")


def test_a_classifier_and_its_features_take_auto(tmp_path):
    from ganlab.eval.features import get_extractor
    from ganlab.eval.features.classifier import DomainClassifier, load_classifier, save_classifier
    path = tmp_path / "c.pt"
    save_classifier(DomainClassifier(1, 16, {"digit": [str(i) for i in range(10)]}, width=4), path, {})
    assert next(load_classifier(path, "auto").parameters()).device == devices.resolve("auto")
    feats = get_extractor(f"classifier:{path}", "auto")
    assert feats.device == devices.resolve("auto")
    f, _ = feats.features_and_probs(torch.zeros(2, 1, 16, 16, dtype=torch.uint8))
    assert f.shape[0] == 2
