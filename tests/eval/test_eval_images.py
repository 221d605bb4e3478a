"""evaluate(fake=...): images in memory (another tool's generator's samples) scored like a folder of them."""
import pytest
import torch
from PIL import Image

from ganlab.config import DataConfig
from ganlab.data import load_dataset
from ganlab.errors import EvalError
from ganlab.eval.features.classifier import save_classifier, train_classifier
from ganlab.eval.run import evaluate


@pytest.fixture(scope="module")
def digits16():
    return load_dataset(DataConfig(source="digits", image_size=16), progress=False)


@pytest.fixture(scope="module")
def clf(tmp_path_factory):
    few = load_dataset(DataConfig(source="digits", image_size=16, limit=600), progress=False)
    model, report = train_classifier(few, epochs=2, batch_size=64, progress=False, log=lambda *a: None)
    path = tmp_path_factory.mktemp("clf") / "digits.pt"
    save_classifier(model, path, report)
    return path


def test_images_in_memory_score_as_the_same_images_in_a_folder(digits16, clf, tmp_path):
    good = digits16.data[1000:1150]
    noise = torch.randint(0, 256, (150, 1, 16, 16), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    folder = tmp_path / "good"
    folder.mkdir()
    for i, x in enumerate(good):
        Image.fromarray(x[0].numpy()).save(folder / f"{i:03d}.png")
    kw = dict(data="digits", metrics=["swd", "fid", "prdc"], n=300, features=f"classifier:{clf}",
              progress=False, log=lambda *a: None)
    mem = {r["metric"]: r for r in evaluate(fake=good, **kw)}
    disk = {r["metric"]: r for r in evaluate(fake_dir=str(folder), image_size=16, **kw)}
    bad = {r["metric"]: r["value"] for r in evaluate(fake=noise, **kw)}
    assert {m: r["value"] for m, r in mem.items()} == pytest.approx({m: r["value"] for m, r in disk.items()})
    assert mem["fid"]["n"] == 150 and mem["fid"]["fake"] == "images in memory"
    assert mem["fid"]["value"] < bad["fid"] / 5 and mem["swd"]["value"] < bad["swd"]
    assert set(mem) == {"swd", "fid", "precision", "recall", "density", "coverage"}


def test_images_in_memory_are_checked(digits16):
    with pytest.raises(EvalError, match="uint8"):
        evaluate(fake=torch.rand(4, 1, 16, 16), data="digits", metrics=["swd"], log=lambda *a: None)
    with pytest.raises(EvalError, match="not both"):
        evaluate(fake=digits16.data[:4], fake_dir="x", data="digits", metrics=["swd"], log=lambda *a: None)
