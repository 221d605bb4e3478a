"""The pieces the exploration commands share: latent directions (found, saved, applied with their size check) and
photos decoded under their limits. Pure functions on small tensors and files: no trained run."""
import io
import json

import pytest
import torch
from PIL import Image

from ganlab.errors import ConfigError
from ganlab.explore import directions as d
from ganlab.explore.photos import decode_upload, read_photo


def test_direction_is_the_unit_difference_of_means():
    z = torch.tensor([[2.0, 0.0], [0.0, 0.0], [0.0, 0.0], [-2.0, 0.0]])
    assert torch.allclose(d.direction(z, torch.tensor([0])), torch.tensor([1.0, 0.0]))
    with pytest.raises(ConfigError, match="no direction"):
        d.direction(z, torch.arange(4))


def test_the_classifier_choice_takes_the_top_scores_in_index_order():
    scores = torch.tensor([0.1, 0.9, 0.5, 0.8, 0.0, 0.2, 0.3, 0.4, 0.6, 0.7, 0.05, 0.15, 0.25, 0.35, 0.45, 0.55])
    chosen, how = d.chosen_by_classifier(scores, "smiling", seed=3)
    assert chosen.tolist() == [1, 3] and how == "the 2 of 16 samples (seed 3) the classifier scores highest for smiling"
    assert d.chosen_by_classifier(scores, "smiling", 3, k=3)[0].tolist() == [1, 3, 9]
    with pytest.raises(ConfigError, match="--top-k 16: choose between 1 and 15"):
        d.chosen_by_classifier(scores, "smiling", 3, k=16)


def test_edits_along_a_direction():
    z = torch.tensor([[1.0, 2.0], [3.0, -1.0]])
    e = torch.tensor([0.0, 1.0])
    out = dict(d.along(z, e, [-1.0, 2.0]))
    assert list(out) == ["removed", "-1e", "+2e"]
    assert torch.equal(out["removed"], torch.tensor([[1.0, 0.0], [3.0, 0.0]]))
    assert torch.equal(out["+2e"], z + torch.tensor([0.0, 2.0]))


def test_named_directions_are_added_with_their_strengths_and_checked():
    z = torch.zeros(3, 2)
    known = {"a": {"direction": torch.tensor([[1.0, 0.0]])}, "b": {"direction": torch.tensor([0.0, 1.0])},
             "long": {"direction": torch.ones(3)}}
    assert torch.equal(d.add_directions(z, {"a": 2, "b": -1}, known), torch.tensor([[2.0, -1.0]] * 3))
    assert torch.equal(d.add_directions(z, None, known), z)
    with pytest.raises(ConfigError, match="direction 'c': this run has a, b, long"):
        d.add_directions(z, {"c": 1}, known)
    with pytest.raises(ConfigError, match="direction 'long' has 3 numbers; this run's latent has 2"):
        d.add_directions(z, {"long": 1}, known)
    with pytest.raises(ConfigError, match="direction 'x' has 3 numbers; the latent of RUN has 2"):
        d.fitting(torch.ones(3), z, "'x'", "the latent of RUN")


def test_saved_directions_are_read_back_and_damaged_files_skipped(tmp_path):
    record = {"direction_definition": d.DEFINITION, "checkpoint": "c.pt", "epoch": 3, "n": 16, "seed": 0}
    path = d.save_direction(tmp_path, "thick", "thick", torch.tensor([0.6, 0.8]), "selected tiles 1,2", record)
    assert path == d.directions_dir(tmp_path) / "thick.json"
    assert json.loads(path.read_text())["chosen_by"] == "selected tiles 1,2"
    (d.directions_dir(tmp_path) / "broken.json").write_text("{not json")
    saved = d.read_directions(tmp_path)
    assert list(saved) == ["thick"] and torch.equal(saved["thick"]["direction"], torch.tensor([0.6, 0.8]))
    assert d.read_directions(tmp_path / "no-such-run") == {}


def test_photos_are_cropped_to_the_run_and_refused_with_the_flag_named(tmp_path):
    buf = io.BytesIO()
    Image.new("RGB", (40, 20), (255, 0, 0)).save(buf, "PNG")
    x = decode_upload(buf.getvalue(), 1, 8)
    assert x.shape == (1, 1, 8, 8) and 0 < x.min() and x.max() < 1  # red in grey
    assert decode_upload(buf.getvalue(), 3, 8)[0, :, 4, 4].tolist() == [1.0, 0.0, 0.0]

    class Run:
        class data_info:
            shape = (3, 16, 16)

    (tmp_path / "p.png").write_bytes(buf.getvalue())
    assert read_photo(tmp_path / "p.png", Run).shape == (1, 3, 16, 16)
    with pytest.raises(ConfigError, match="--image .*missing.png: no such file"):
        read_photo(tmp_path / "missing.png", Run)
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(ConfigError, match="--image .*notes.png: the upload is not an image"):
        read_photo(tmp_path / "notes.png", Run)
