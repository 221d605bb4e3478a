"""vae-views, embed and probe on a tiny VAE (an encoder method), and their refusals for a plain GAN."""
from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from ganlab.cli import main
from ganlab.explore.embed import embed, project
from ganlab.explore.probe import fit_probes
from ganlab.explore.vae_views import test_indices as held_out
from ganlab.explore.vae_views import vae_views

QUIET = {"log": lambda *a: None}


class Flags:
    """The data flags of the command line, as the library functions read them."""
    def __init__(self, **kw):
        self.data = self.format = self.labels = self.limit = self.image_size = self.channels = None
        self.__dict__.update(kw)


def test_held_out_split_is_the_end_of_the_data():
    assert held_out(100, 0.1).tolist() == list(range(90, 100))
    assert held_out(5, 0.0).tolist() == list(range(5))
    assert len(held_out(7, 0.1)) == 1


def test_vae_views_rows_and_test_mse(vae_run, capsys, check_grid, read_json):
    rec = vae_views(vae_run, Flags(), n=6, samples=12, **QUIET)
    check_grid(rec, rows=4, cols=6)  # test, reconstruction, 2 rows of samples
    assert rec["n_test"] == math.ceil(128 * 0.1)  # the run's 128 images, vae.test_fraction 0.1
    assert 0 < rec["test_mse"] < 4  # per pixel on [-1, 1]
    assert read_json(vae_run, "vae-views")["test_mse"] == rec["test_mse"]
    # the command line prints the number
    assert main(["vae-views", str(vae_run), "--n", "4", "--samples", "0", "--limit", "64"]) == 0
    out = capsys.readouterr().out
    assert "test MSE" in out and "64" not in out.split("held-out")[0].split()[-1]
    rec = read_json(vae_run, "vae-views")
    check_grid(rec, rows=2, cols=4)
    assert rec["n_test"] == math.ceil(64 * 0.1)


def test_embed_pca_with_legend(vae_run, read_json):
    rec = embed(vae_run, Flags(limit=400), color_by="digit", method="pca", n=300, **QUIET)
    assert rec["n"] == 300 and sum(rec["counts"].values()) == 300 and set(rec["counts"]) <= set(map(str, range(10)))
    assert -1 <= rec["silhouette_2d"] <= 1 and rec["latent_dim"] == 16
    assert Image.open(rec["png"]).size == (700, 600)
    assert read_json(vae_run, "embed-digit-pca")["n"] == 300


def test_tsne_projection_separates_clusters():
    rng = np.random.default_rng(0)
    z = np.concatenate([rng.normal(size=(30, 8)), rng.normal(size=(30, 8)) + 6])
    xy = project(z, "tsne", seed=0)
    assert xy.shape == (60, 2)
    from sklearn.metrics import silhouette_score
    assert silhouette_score(xy, [0] * 30 + [1] * 30) > 0.5


def test_embed_unknown_attribute(vae_run, capsys):
    assert main(["embed", str(vae_run), "--color-by", "hair", "--method", "pca", "--n", "50"]) == 2
    assert "'hair' is not in digits; it has: digit" in capsys.readouterr().err


def test_probe_beats_the_majority_baseline(vae_run, capsys, read_json):
    assert main(["probe", str(vae_run), "--target", "digit", "--limit", "600", "--n", "600"]) == 0
    out = capsys.readouterr().out
    assert "logistic regression" in out and "RBF SVM" in out and "majority class" in out
    rec = read_json(vae_run, "probe-digit")
    assert rec["n_test"] == 150 and rec["n_train"] == 450
    assert rec["majority"] < 0.2  # ten balanced digits
    assert rec["linear"] > rec["majority"] + 0.3 and rec["rbf_svm"] > rec["majority"] + 0.3
    assert Image.open(rec["png"]).size[0] > 100


def test_fit_probes_on_separable_and_on_noise():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    z = rng.normal(size=(400, 5))
    noise = fit_probes(z, y)
    assert abs(noise["linear"] - noise["majority"]) < 0.2
    z[:, 0] += 4 * y
    sep = fit_probes(z, y)
    assert sep["linear"] > 0.95 and sep["rbf_svm"] > 0.95


@pytest.mark.parametrize("command", ["vae-views", "embed", "probe"])
def test_encoder_commands_refuse_a_gan(gan_run, capsys, command):
    extra = {"vae-views": [], "embed": ["--color-by", "digit"], "probe": ["--target", "digit"]}[command]
    assert main([command, str(gan_run), *extra]) == 2
    assert "method gan has no encoder" in capsys.readouterr().err


def test_colour_named_values_are_drawn_in_their_colour():
    from matplotlib.colors import to_rgba

    from ganlab.plots import colours_named_by, wrap
    got = colours_named_by(["blonde", "Aqua", "black", "white"])
    assert got == [to_rgba("gold"), to_rgba("aqua"), to_rgba("black"), to_rgba("white")]
    assert colours_named_by(["0", "1"]) is None  # digits: matplotlib would read them as grey levels
    assert colours_named_by(["smiling", "red"]) is None
    assert max(len(line) for line in wrap("word " * 40, 30).splitlines()) <= 30
