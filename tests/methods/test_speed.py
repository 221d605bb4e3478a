"""The step timer the recipe ladder reads a time budget with (ganlab.methods.speed)."""
import torch

from ganlab.methods.speed import step_seconds


def test_the_probe_times_the_steps_of_a_config_and_leaves_the_random_stream(tiny_config):
    before = torch.random.get_rng_state()
    s = step_seconds(tiny_config(), "cpu", warmup=1, steps=2)
    assert 0 < s < 60
    assert torch.equal(before, torch.random.get_rng_state())
