import json

import pytest
from PIL import Image

from ganlab.cli import main

TINY = ["--data", "digits", "--image-size", "16", "--limit", "64", "--batch-size", "32", "--latent-dim", "8",
        "--set", "model.g_width=4", "--set", "model.d_width=4", "--set", "train.progress=false",
        "--set", "train.tensorboard=false"]


def test_train_resume_and_sample(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", *TINY, "--epochs", "1", "--out", str(run)]) == 0
    out = capsys.readouterr().out
    assert "parameters: G" in out and "D" in out
    assert main(["train", "--resume", str(run), "--epochs", "2"]) == 0
    assert json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["epoch"] == 1
    assert len(list((run / "samples").glob("*.png"))) == 2

    assert main(["sample", str(run), "--n", "9", "--out", str(tmp_path / "grid.png"), "--seed", "1"]) == 0
    grid = Image.open(tmp_path / "grid.png")
    assert grid.size == (3 * 18 + 2, 3 * 18 + 2)  # 3x3 tiles of 16 px with 2 px padding
    assert main(["sample", str(run), "--n", "5", "--out", str(tmp_path / "each") + "/"]) == 0
    assert len(list((tmp_path / "each").glob("*.png"))) == 5
    assert main(["sample", str(run), "--n", "4", "--numbered", "--out", str(tmp_path / "sheet.png")]) == 0
    assert (tmp_path / "sheet.png").exists()
    assert main(["sample", str(run), "--checkpoint", "1", "--n", "4", "--out", str(tmp_path / "e1.png")]) == 0


@pytest.mark.parametrize("args, message", [
    (["train", "--set", "model.upsample=cubic"], "model.upsample: 'cubic' is not allowed; choose one of"),
    (["train", "--set", "nosuch=1"], "unknown config key 'nosuch'"),
    (["train", "--image-size", "48"], "16, 32, 64, 128"),
    (["train", "--set", "objective.clip=0.01"], "weight clipping"),
    (["train", "--resume", "/nonexistent/run"], "does not exist"),
    (["sample", "/nonexistent/run"], "does not exist"),
    (["train", "--recipe", "nope"], "recipe 'nope' not found"),
])
def test_bad_input_exits_2_with_a_clear_message(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_missing_data_path(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path / "nothing-here"), "--out", str(tmp_path / "r")]) == 2
    assert "nothing-here" in capsys.readouterr().err


def test_resume_refuses_changed_architecture(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", *TINY, "--epochs", "1", "--out", str(run)]) == 0
    assert main(["train", "--resume", str(run), "--latent-dim", "12"]) == 2
    assert "--resume takes only" in capsys.readouterr().err


def test_recipes_lists_comments(capsys):
    assert main(["recipes"]) == 0
    assert "dcgan" in capsys.readouterr().out
