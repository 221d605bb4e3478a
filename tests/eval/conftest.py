"""Fixtures for the evaluation tests."""
import pytest
import torch


def _fid_inception_weights(path, he_init: bool = False):
    """A state dict of torch-fidelity's FID Inception architecture with random values, made offline (``he_init``:
    He-initialised convolutions, whose features differ from image to image, unlike the default initialisation's)."""
    from torch_fidelity.feature_extractor_inceptionv3 import (
        FeatureExtractorInceptionV3 as Net,
    )
    empty = path.with_name("empty.pt")
    torch.save({}, empty)
    orig = Net.load_state_dict
    Net.load_state_dict = lambda self, sd, *a, **k: None
    try:
        torch.manual_seed(0)
        net = Net("x", ["2048"], feature_extractor_weights_path=str(empty))
    finally:
        Net.load_state_dict = orig
    if he_init:
        for m in net.modules():
            if isinstance(m, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            elif isinstance(m, torch.nn.Linear):
                torch.nn.init.normal_(m.weight, std=0.05)
    torch.save(net.state_dict(), path)
    return path


@pytest.fixture(scope="session")
def fid_inception_weights():
    """``fid_inception_weights(path, he_init=False)``: write random FID Inception weights to ``path``."""
    return _fid_inception_weights
