"""The training size chosen from a user's images when --image-size is not given, and the line that says so."""
import numpy as np
import pytest
from PIL import Image

from ganlab.data.peek import choose, choose_image_size


def folder(tmp_path, w, h, n=6, name="imgs"):
    d = tmp_path / name
    d.mkdir()
    for i in range(n):
        Image.fromarray(np.full((h, w, 3), 40 * i % 255, np.uint8)).save(d / f"{i}.png")
    return d


@pytest.mark.parametrize("side, minutes, size", [
    (512, None, 64), (512, 60, 64), (512, 2, 32), (100, None, 64), (40, None, 32), (20, None, 16), (8, None, 16),
    (160, 3, 32), (30, 2, 16)])
def test_the_size_is_the_largest_the_images_fill_within_what_is_measured(side, minutes, size):
    assert choose(side, minutes)[0] == size


def test_large_photos_are_trained_at_64_and_the_run_says_so(tmp_path):
    lines = []
    d = folder(tmp_path, 512, 384)
    out = choose_image_size({"data.source": str(d)}, [], log=lines.append)
    assert out["data.image_size"] == 64
    (line,) = lines
    assert line.startswith(f"images: 6 in {d}, typically 512x384 pixels; training at 64x64 (") and \
        "--image-size 16|32|64|128 to change it" in line
    assert choose_image_size({"data.source": str(d), "train.minutes": 2}, [], log=lines.append)["data.image_size"] == 32


def test_a_size_given_the_built_in_data_and_unreadable_folders_are_left_alone(tmp_path):
    d = folder(tmp_path, 512, 512)
    said = []
    for values, sets in (({"data.source": str(d), "data.image_size": 16}, []),
                         ({"data.source": str(d)}, ["data.image_size=16"]),
                         ({"data.source": "digits"}, []), ({}, []),
                         ({"data.source": str(tmp_path / "nowhere")}, []),
                         ({"data.source": str(tmp_path / "empty-folder-made-below")}, [])):
        (tmp_path / "empty-folder-made-below").mkdir(exist_ok=True)
        assert choose_image_size(values, sets, log=said.append) == values
    assert said == []


def test_the_command_line_chooses_before_the_recipe(tmp_path, capsys):
    from ganlab.cli import main
    d = folder(tmp_path, 200, 200, n=40)
    assert main(["train", "--data", str(d), "--epochs", "1", "--batch-size", "16", "--set", "train.progress=false",
                 "--set", "train.device=cpu", "--set", "model.g_width=4", "--set", "model.d_width=4",
                 "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "training at 64x64" in out and "recipe: fast64 (recommended for your own images at 64x64" in out


def test_a_small_folder_trains_with_adaptive_augmentation_and_says_so(tmp_path, capsys, monkeypatch):
    from ganlab.cli import main
    from ganlab.data import peek
    from ganlab.data.peek import ADA_BELOW, small_set_augmentation
    d = folder(tmp_path, 64, 64, n=10)
    extra, said = small_set_augmentation({"data.source": str(d)}, [])
    assert extra == ["tricks.ada=true"]  # 10 images: too few to hold 16 out for the rv heuristic
    assert "10 images is a small set" in said and "--set tricks.ada=false" in said and "held out" not in said
    monkeypatch.setattr(peek, "RV_FROM", 10)  # a folder large enough for rv: p rises only once D memorises
    extra, said = small_set_augmentation({"data.source": str(d)}, [])
    assert extra == ["tricks.ada=true", "tricks.ada_heuristic=rv"] and "held out of training" in said
    assert small_set_augmentation({"data.source": str(d)}, ["tricks.ada_heuristic=rt"])[0] == ["tricks.ada=true"]
    monkeypatch.undo()
    from ganlab.methods.tricks import ada_held_out_count  # RV_FROM is where rv's held-out part is down to 5%:
    k = peek.RV_FROM                                       # it follows the mechanism, not a number copied from it
    assert ada_held_out_count(k) <= k / 20 and ada_held_out_count(k - 1) > (k - 1) / 20
    for values, sets in (({"data.source": str(d)}, ["tricks.ada=false"]),      # the user's word stands
                         ({"data.source": str(d)}, ["tricks.diffaug=[color]"]),  # or their own augmentation
                         ({"data.source": "digits"}, [])):
        assert small_set_augmentation(values, sets) == ([], "")
    assert ADA_BELOW > 10
    tiny = ["--epochs", "1", "--batch-size", "4", "--image-size", "16", "--set", "train.progress=false",
            "--set", "train.device=cpu", "--set", "model.g_width=4", "--set", "model.d_width=4"]
    assert main(["train", "--data", str(d), *tiny, "--out", str(tmp_path / "gan")]) == 0
    assert "adaptive augmentation is on" in capsys.readouterr().out
    # a method without a D refuses ADA: it trains as asked, and nothing claims augmentation
    assert main(["train", "--data", str(d), *tiny, "--set", "method=vae", "--out", str(tmp_path / "vae")]) == 0
    assert "adaptive augmentation" not in capsys.readouterr().out
