import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """The networks here are tiny: one thread is faster than two, and far faster on a shared machine."""
    yield
