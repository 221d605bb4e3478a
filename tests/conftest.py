"""Fixtures shared by every test folder: test isolation, the tiny config, trained runs, pass-through features.
Test modules take these as fixture arguments; nothing here is imported."""
import os
import signal
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]

# A suite started in the background (nohup, &) inherits SIGINT ignored, and the trainer rightly leaves an ignored
# signal alone; the tests that send SIGINT to check the trainer's handling need Python's usual handler.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


class GivenFeatures(torch.nn.Module):
    """A 'feature extractor' for torchmetrics' FID/KID/IS that returns its input: the inputs are the features,
    so torchmetrics and ganlab can be compared on the same numbers."""

    def __init__(self, num_features: int | None = None):
        super().__init__()
        if num_features is not None:
            self.num_features = num_features  # FID asks for it

    def forward(self, x):
        return x


def shared_data() -> Path | None:
    """../shared/data beside the repository (or $GANLAB_SHARED_DATA), or None when absent."""
    p = Path(os.environ.get("GANLAB_SHARED_DATA", REPO.parent / "shared" / "data"))
    return p if p.is_dir() else None


@pytest.fixture
def shared():
    p = shared_data()
    if p is None:
        pytest.skip("../shared/data is not available")
    return p


_COLLECTED = pytest.StashKey[list]()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Note every collected test and whether it is marked slow before -m or -k deselects any (tests/test_markers.py
    checks that python -m pytest -m "not slow" keeps most of the suite)."""
    config.stash[_COLLECTED] = [(item.nodeid, item.get_closest_marker("slow") is not None) for item in items]


@pytest.fixture(scope="session")
def collected(request):
    """``[(node id, marked slow)]`` for every test this session collected, before -m or -k deselected any."""
    return request.config.stash.get(_COLLECTED, [])


@pytest.fixture(autouse=True)
def _cuda_only(request):
    """Tests marked ``@pytest.mark.cuda`` need a CUDA device: skipped where there is none."""
    if request.node.get_closest_marker("cuda") is not None and not torch.cuda.is_available():
        pytest.skip("needs a CUDA device (marker cuda)")


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory, monkeypatch):
    """Keep every test's data cache away from the user's and make CPU runs reproducible."""
    monkeypatch.setenv("GANLAB_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    yield


@pytest.fixture
def one_thread():
    """One torch thread: for tests of tiny networks and many small ops, where OpenMP overhead dominates."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _tiny_config(**values):
    """A config for runs that finish in about a second: 16x16 digits, thin networks."""
    from ganlab.experiment import load_experiment
    base = {"data.source": "digits", "data.image_size": 16, "data.limit": 128, "model.g_width": 8,
            "model.d_width": 8, "model.latent_dim": 16, "train.batch_size": 32, "train.epochs": 2,
            "train.progress": False, "train.tensorboard": False, "train.log_every": 2, "train.n_samples": 16,
            "train.precision": "fp32",  # the same numbers on every machine; bf16 is asked for where tested
            "train.device": "cpu",  # bit-identical comparisons need the CPU's kernels (auto would pick a GPU)
            # tiny runs are fixtures, not experiments: the health monitor reports but does not stop them (its own
            # tests set train.on_failure); e.g. the 16x16 BiGAN of tests/explore/test_project.py is flagged d_won
            "train.on_failure": "warn"}
    base.update(values)
    overrides = [f"{k}={v}" for k, v in base.items() if k.startswith("__")]
    return load_experiment("dcgan", overrides, {k: v for k, v in base.items() if not k.startswith("__")})


@pytest.fixture(scope="session")
def tiny_config():
    """``tiny_config(**values)``: a config for runs that finish in about a second (16x16 digits, thin networks);
    ``values`` are dotted settings that override the defaults."""
    return _tiny_config


@pytest.fixture(scope="session")
def given_features():
    """The GivenFeatures class: a pass-through feature extractor for torchmetrics' FID/KID/IS."""
    return GivenFeatures


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, tiny_config):
    """``trained_run(name, **values)``: train a tiny run (one epoch of ``tiny_config``) in a fresh temporary
    folder and return its path; skips when the method does not exist. For session-scoped run fixtures."""
    def train_run(name: str, **values):
        from ganlab.methods import METHODS
        from ganlab.train import train
        method = values.get("method", "gan")
        if method not in METHODS:
            pytest.skip(f"method {method} does not exist yet (ganlab.methods has {', '.join(sorted(METHODS))})")
        out = tmp_path_factory.mktemp("runs") / name
        cfg = tiny_config(**{"train.epochs": 1, **values})
        return train(cfg, out=out, log=lambda *a: None).path
    return train_run


@pytest.fixture(scope="session")
def gan_run(trained_run):
    """A tiny GAN run, trained once per session (the exploration and report tests read it)."""
    return trained_run("gan")
