"""Fixtures for the training tests: reading a run's checkpoint and comparing two runs' final states."""
import pytest
import torch

from ganlab.runs.folder import RunDir


def _run_state(run, which="latest") -> dict:
    return torch.load(RunDir(run).checkpoint(which), weights_only=False)


@pytest.fixture(scope="session")
def run_state():
    """``run_state(run, which="latest")``: the checkpoint of a run folder as saved (a dict)."""
    return _run_state


@pytest.fixture(scope="session")
def same_run():
    """``same_run(a, b)``: two runs' latest checkpoints are at the same epoch and iteration and every network holds
    bit-identical tensors (the same networks, the same names)."""
    def same_run(a, b) -> bool:
        sa, sb = _run_state(a), _run_state(b)
        if (sa["epoch"], sa["global_iter"]) != (sb["epoch"], sb["global_iter"]) or sa["modules"].keys() != \
                sb["modules"].keys():
            return False
        return all(sa["modules"][net].keys() == sb["modules"][net].keys()
                   and all(torch.equal(v, sb["modules"][net][k]) for k, v in sa["modules"][net].items())
                   for net in sa["modules"])
    return same_run
