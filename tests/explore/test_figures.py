"""interpolate, edit and conditional on tiny trained runs: figures with the right tiles and sensible numbers."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import ganlab
from ganlab.cli import main
from ganlab.explore.conditional import conditional
from ganlab.explore.edit import direction, edit, remove_component
from ganlab.explore.interpolate import interpolate, slerp

QUIET = {"log": lambda *a: None}


def test_slerp_ends_and_norm():
    z0, z1 = torch.randn(3, 16), torch.randn(3, 16)
    assert torch.allclose(slerp(torch.tensor(1.0), z0, z1), z0, atol=1e-5)
    assert torch.allclose(slerp(torch.tensor(0.0), z0, z1), z1, atol=1e-5)
    mid = slerp(torch.tensor(0.5), z0, z0 * 2)  # parallel vectors: falls back to the straight line
    assert torch.allclose(mid, z0 * 1.5, atol=1e-4)


def test_interpolate_rows_pixel_and_latent(gan_run, as_uint8, check_grid, read_json, tile):
    rec = interpolate(gan_run, pairs=2, steps=5, space="both", seed=3, **QUIET)
    img = check_grid(rec, rows=4, cols=5)
    assert rec["row_labels"] == ["0: pixel", "0: latent", "1: pixel", "1: latent"]
    assert read_json(gan_run, "interpolate")["alphas"] == pytest.approx([1.0, 0.75, 0.5, 0.25, 0.0])
    # both walks start at the same sample x0 and end at the same x1
    for p in range(2):
        for c in (0, 4):
            np.testing.assert_array_equal(tile(img, rec, 2 * p, c), tile(img, rec, 2 * p + 1, c))
    # and the ends are the samples g.inputs(2 * pairs, seed) gives
    g = ganlab.load(gan_run)
    x = g.sample(4, seed=3)
    assert np.abs(tile(img, rec, 0, 0).astype(int) - as_uint8(x[0])).max() <= 1
    assert np.abs(tile(img, rec, 2, 4).astype(int) - as_uint8(x[3])).max() <= 1
    ms = rec["mean_step_change"]
    assert ms["latent"] >= 0 and ms["pixel"] >= 0


def test_interpolate_cli_slerp_latent_only(gan_run, tmp_path, capsys, check_grid, read_json):
    out = tmp_path / "walk.png"
    assert main(["interpolate", str(gan_run), "--pairs", "3", "--steps", "4", "--space", "latent", "--slerp",
                 "--out", str(out)]) == 0
    assert out.is_file() and str(out) in capsys.readouterr().out
    rec = read_json(gan_run, "interpolate")
    assert rec["slerp"] and rec["png"] == str(out)
    check_grid(rec, rows=3, cols=4)


def test_interpolate_between_needs_a_conditional_model(gan_run, capsys):
    assert main(["interpolate", str(gan_run), "--between", "digit=1:digit=7"]) == 2
    assert "conditional generator" in capsys.readouterr().err


def test_interpolate_between_tag_sets(cgan_run, check_grid):
    rec = interpolate(cgan_run, pairs=2, steps=4, space="latent", between="digit=1:digit=7", **QUIET)
    check_grid(rec, rows=2, cols=4)
    assert rec["between"] == [{"digit": "1"}, {"digit": "7"}]


def _digit_zero_classifier(path):
    """A logistic regression 'is this a 0' on real 16x16 digits, saved as a whole nn.Module (one logit)."""
    from sklearn.linear_model import LogisticRegression

    from ganlab.config import DataConfig
    from ganlab.data import load_dataset
    ds = load_dataset(DataConfig(source="digits", image_size=16, channels=1), progress=False)
    x = ds.data.float().div(255).flatten(1).numpy()
    y = (ds.attributes["digit"].codes.numpy() == 0).astype(int)
    lr = LogisticRegression(max_iter=500, C=0.1).fit(x, y)
    assert lr.score(x, y) > 0.95
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(256, 1))
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor(lr.coef_, dtype=torch.float32))
        model[1].bias.copy_(torch.tensor(lr.intercept_, dtype=torch.float32))
    torch.save(model, path)
    return path


def test_edit_removing_the_direction_lowers_the_classifier_score(gan_run, tmp_path, check_grid, read_json):
    clf = _digit_zero_classifier(tmp_path / "zero.pt")
    rec = edit(gan_run, "digit=0", classifier=clf, strength="1,3", n=256, top_k=24, seed=0, **QUIET)
    check_grid(rec, rows=8, cols=4)  # before, removed, +1e, +3e
    assert rec["columns"] == ["before", "removed", "+1e", "+3e"]
    s = rec["scores"]
    # the chosen samples are the top scored; removing their direction takes away much of their excess
    # over the pool, adding it raises everyone's score
    assert s["before"]["chosen"] > s["before"]["all"]
    excess = s["before"]["chosen"] - s["before"]["all"]
    assert s["removed"]["chosen"] < s["before"]["chosen"] - 0.3 * excess
    assert s["+3e"]["all"] > s["+1e"]["all"] > s["before"]["all"]
    e = torch.tensor(rec["direction"])
    assert abs(float(e.norm()) - 1) < 1e-5 and len(rec["chosen"]) == 24
    assert read_json(gan_run, "edit-digit-0")["scores"] == s
    # control: removing random unit directions from the same samples changes their score far less
    g, model = ganlab.load(gan_run), torch.load(clf, weights_only=False)
    z, chosen = g.inputs(256, 0)["z"], torch.tensor(rec["chosen"])
    drop = s["before"]["chosen"] - s["removed"]["chosen"]
    gen = torch.Generator().manual_seed(1)
    for _ in range(3):
        r = torch.randn(z.shape[1], generator=gen)
        r = r / r.norm()
        with torch.no_grad():
            score = torch.sigmoid(model(g.generate({"z": remove_component(z[chosen], r)}))).mean().item()
        assert abs(s["before"]["chosen"] - score) < 0.5 * drop


def test_edit_reads_a_train_classifier_file(gan_run, tmp_path, capsys, check_grid):
    """A file of 'ganlab train-classifier' (here an untrained one): a head per attribute, values by name."""
    fc = pytest.importorskip("ganlab.eval.features.classifier")
    model = fc.DomainClassifier(1, 16, {"digit": [str(d) for d in range(10)]}, width=4, feature_dim=8)
    path = tmp_path / "clf.pt"
    fc.save_classifier(model, path, {})
    rec = edit(gan_run, "digit=3", classifier=path, n=32, top_k=4, strength="1", **QUIET)
    assert all(0 <= v["chosen"] <= 1 for v in rec["scores"].values())
    check_grid(rec, rows=4, cols=3)
    assert main(["edit", str(gan_run), "--attribute", "digit", "--classifier", str(path), "--n", "32"]) == 2
    assert "say which one to score" in capsys.readouterr().err


def test_edit_select_uses_the_numbered_sheet_latents(gan_run, tmp_path, as_uint8, check_grid, tile):
    sheet = tmp_path / "sheet.png"
    assert main(["sample", str(gan_run), "--numbered", "--n", "12", "--seed", "5", "--out", str(sheet)]) == 0
    rec = edit(gan_run, "smile", select="2,9,4", n=12, seed=5, strength="2", **QUIET)
    assert rec["chosen"] == [2, 4, 9]
    img = check_grid(rec, rows=3, cols=3)
    x = ganlab.load(gan_run).sample(12, seed=5)
    for r, i in enumerate([2, 4, 9]):  # the 'before' column shows exactly the sheet's tiles
        assert np.abs(tile(img, rec, r, 0).astype(int) - as_uint8(x[i])).max() <= 1
    z = ganlab.load(gan_run).inputs(12, 5)["z"]
    e = direction(z, torch.tensor([2, 4, 9]))
    assert torch.allclose(torch.tensor(rec["direction"]), e, atol=1e-6)
    assert float((remove_component(z, e) @ e).abs().max()) < 1e-5


def test_edit_errors(gan_run, capsys):
    assert main(["edit", str(gan_run), "--attribute", "smile"]) == 2
    assert "--select" in capsys.readouterr().err
    assert main(["edit", str(gan_run), "--attribute", "smile", "--select", "3,40", "--n", "16"]) == 2
    assert "not a tile" in capsys.readouterr().err


def test_conditional_columns_are_every_value(cgan_run, check_grid, read_json):
    (rec,) = conditional(cgan_run, attribute="digit", n=3, **QUIET)
    check_grid(rec, rows=3, cols=10)
    assert rec["values"] == [str(d) for d in range(10)]
    assert read_json(cgan_run, "conditional-digit")["layout"] == "values"


def test_conditional_acgan_reports_its_auxiliary_classifier(acgan_run, capsys, check_grid, read_json):
    assert main(["conditional", str(acgan_run), "--n", "2", "--seed", "4"]) == 0  # the only attribute: digit
    assert "auxiliary classifier accuracy" in capsys.readouterr().out
    rec = read_json(acgan_run, "conditional-digit")
    check_grid(rec, rows=2, cols=10)
    assert 0 <= rec["aux_accuracy"] <= 1 and rec["method"] == "acgan"
    assert main(["conditional", str(acgan_run), "--code", "c0"]) == 2
    assert "use --attribute" in capsys.readouterr().err


def test_conditional_infogan_one_figure_per_code(infogan_run, check_grid):
    recs = conditional(infogan_run, n=2, steps=5, **QUIET)
    assert [r["code"] for r in recs] == ["c0", "c1"]
    check_grid(recs[0], rows=2, cols=10)
    check_grid(recs[1], rows=2, cols=5)
    assert 0 <= recs[0]["q_accuracy"] <= 1 and -1 <= recs[1]["q_correlation"] <= 1
    assert recs[1]["values"] == pytest.approx([-1, -0.5, 0, 0.5, 1])


def test_conditional_refuses_unconditional_models(gan_run, capsys):
    assert main(["conditional", str(gan_run), "--attribute", "digit"]) == 2
    assert "unconditional" in capsys.readouterr().err


@pytest.fixture(scope="module")
def two_tag_run(tmp_path_factory, tiny_config):
    """A 1-epoch cgan on 48 tiny images with two tag columns (colour: 3 values, size: 2 values)."""
    from PIL import Image

    from ganlab.train import train
    root = tmp_path_factory.mktemp("tags")
    (root / "img").mkdir()
    lines = ["file,colour,size"]
    for i in range(48):
        colour, size = ("red", "green", "blue")[i % 3], ("small", "large")[i // 3 % 2]
        a = np.zeros((16, 16, 3), np.uint8)
        r = 3 if size == "small" else 7
        a[8 - r:8 + r, 8 - r:8 + r, i % 3] = 255
        Image.fromarray(a).save(root / "img" / f"{i}.png")
        lines.append(f"{i}.png,{colour},{size}")
    (root / "tags.csv").write_text("\n".join(lines) + "\n")
    cfg = tiny_config(**{"method": "cgan", "train.epochs": 1, "train.batch_size": 16, "data.limit": None,
                         "data.source": str(root / "img"), "data.labels": str(root / "tags.csv")})
    return train(cfg, out=root / "run", log=lambda *a: None).path


def test_conditional_pairs_grid_one_image_per_tag_pair(two_tag_run, capsys, as_uint8, check_grid, read_json, tile):
    assert main(["conditional", str(two_tag_run), "--attribute", "colour", "--rows", "size", "--seed", "5"]) == 0
    rec = read_json(two_tag_run, "conditional-size-x-colour")
    img = check_grid(rec, rows=2, cols=3)
    assert rec["layout"] == "pairs-grid" and rec["row_values"] == ["large", "small"]
    g = ganlab.load(two_tag_run)
    for r, size in enumerate(rec["row_values"]):
        for c, colour in enumerate(rec["values"]):  # every cell: the same seed's noise, asked for that pair
            want = as_uint8(g.sample(1, seed=5, cond={"size": size, "colour": colour})[0])
            assert np.abs(tile(img, rec, r, c).astype(int) - want).max() <= 1
    assert main(["conditional", str(two_tag_run), "--attribute", "colour", "--rows", "colour"]) == 2
    assert "two different attributes" in capsys.readouterr().err
    assert main(["conditional", str(two_tag_run), "--attribute", "colour", "--rows", "size", "--cond",
                 "size=small"]) == 2
    assert "drop it from --cond" in capsys.readouterr().err
