"""Methods declare what they can do; what they declare is what they do."""
import dataclasses

import pytest
import torch

from ganlab.config import Config
from ganlab.errors import ConfigError
from ganlab.methods import METHODS
from ganlab.report.page import applies

EXTRA = {"infogan": {"info.categorical": [3], "info.continuous": 1}}


@pytest.mark.parametrize("name", sorted(METHODS))
def test_declared_capabilities_hold(name, build, batch):
    m = build(name, **EXTRA.get(name, {}))
    caps = m.capabilities
    sections = {f.name for f in dataclasses.fields(Config)}
    assert set(caps.sections) <= sections
    inputs = m.sample_inputs(6, torch.Generator().manual_seed(0))
    specs = m.condition_specs()
    if caps.conditions is None:
        assert specs == [] and m.requested_labels(inputs) is None
        with pytest.raises(ConfigError, match="unconditional"):
            m.sample_inputs(2, cond={"x": "1"})
    elif caps.conditions == "attributes":
        assert specs and all(c.kind == "attribute" and len(c.values) >= 2 for c in specs)
        asked = m.requested_labels(m.sample_inputs(6, cond={specs[0].name: specs[0].values[1]}))
        assert asked[specs[0].name].tolist() == [1] * 6
    else:
        assert caps.conditions == "codes" and {c.kind for c in specs} <= {"categorical", "continuous"}
        assert m.requested_labels(inputs) is None
    x = m.generate(inputs)
    if caps.reads_conditions:
        read = m.read_conditions(x)
        assert set(read) == {c.name for c in specs} and all(len(v) == 6 for v in read.values())
    else:
        with pytest.raises(ConfigError):
            m.read_conditions(x)
    if caps.encoder:
        assert m.encode(batch(n=4).x).shape[0] == 4 and m.reconstruct(batch(n=4).x).shape == batch(n=4).x.shape
    else:
        with pytest.raises(ConfigError, match="no encoder"):
            m.encode(batch(n=4).x)
    if caps.held_out:
        idx = m.held_out_indices(100)
        assert 0 < len(idx) < 100 and torch.isfinite(m.held_out_score(batch(n=4).x))
    if caps.mixes_conditions:
        codes_b = m.condition_codes({specs[0].name: specs[0].values[0]}, inputs["codes"])
        assert torch.allclose(m.generate_mixed(inputs, codes_b, 1.0), x, atol=1e-5)
    out = m.generate_in_batches(m.sample_inputs(10, torch.Generator().manual_seed(1)), batch_size=4)
    assert out.shape[0] == 10 and out.device.type == "cpu"


def test_report_shows_a_section_only_for_the_methods_that_declare_it():
    assert applies("info.continuous", "infogan") and not applies("info.continuous", "gan")
    assert applies("cond.embed_dim", "acgan") and not applies("vae.kl_weight", "cgan")
    assert applies("model.g_width", "lsgan")
