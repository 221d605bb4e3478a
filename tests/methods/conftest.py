import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    """The networks here are tiny: one thread is faster than two, and far faster on a shared machine."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
