"""Label-free latent directions (SeFa, GANSpace): orthonormal and deterministic for every generator family, the
known answer on a generator built with a dominant direction, ``ganlab edit --unsupervised`` and the explorer's
sliders."""
import json
from pathlib import Path

import pytest
import torch

from ganlab.errors import ConfigError
from ganlab.explore import unsupervised as U
from ganlab.explore.common import load_generator
from ganlab.explore.edit import edit_unsupervised

FAMILIES = {  # name -> settings of a tiny run whose generator is of that family
    "dcgan-deconv": {},
    "dcgan-bilinear": {"model.upsample": "bilinear"},
    "resnet": {"model.arch": "resnet", "model.upsample": "nearest", "model.g_width": 4, "model.d_width": 4},
    "dense": {"model.arch": "mlp", "model.mlp_hidden": 32, "model.mlp_layers": 1},
    "cgan-concat": {"method": "cgan"},
    "cgan-cbn": {"method": "cgan", "cond.g_mode": "cbn"},
    "infogan": {"method": "infogan"},
    "msggan": {"method": "msggan"},
    "vae": {"method": "vae"},
    "ema": {"tricks.ema": 0.9},
}


@pytest.fixture(scope="module")
def family_runs(trained_run):
    return {name: trained_run(f"family-{name}", **{"data.limit": 64, **values}) for name, values in FAMILIES.items()}


def assert_orthonormal(rows: torch.Tensor):
    assert torch.allclose(rows @ rows.T, torch.eye(rows.shape[0]), atol=1e-4)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_both_methods_give_orthonormal_directions_again_and_again(family_runs, family):
    g = load_generator(family_runs[family])
    d = g.inputs(1, 0)["z"][0].numel()
    for method in U.METHODS:
        first = U.find(g, method, k=4, n=300)
        again = U.find(load_generator(family_runs[family]), method, k=4, n=300)
        assert first.directions.shape == (4, d)
        assert_orthonormal(first.directions)
        assert torch.equal(first.directions, again.directions) and torch.equal(first.values, again.values)
        assert (first.values[:-1] >= first.values[1:]).all() and (first.shares > 0).all()
        assert first.shares.sum() <= 1 + 1e-6
        top = first.directions.abs().argmax(1)
        assert (first.directions.gather(1, top[:, None]) > 0).all()  # the sign convention


def test_ganspace_depends_on_its_seed_and_sefa_on_nothing_drawn(family_runs):
    g = load_generator(family_runs["dcgan-deconv"])
    a, b = U.ganspace(g, 3, n=300, seed=0), U.ganspace(g, 3, n=300, seed=1)
    assert not torch.equal(a.directions, b.directions)
    # the same latents in a different order (a different seed, then a permutation) give the same answer: the
    # PCA and the regression depend on the set of samples only
    inputs = g.inputs(300, 0)
    g.inputs = lambda n, seed=None, cond=None: {k: v.flip(0) if torch.is_tensor(v) else v for k, v in inputs.items()}
    again = U.ganspace(g, 3, n=300, seed=7).directions  # (its randomised SVD draws another projection: close, not equal)
    assert ((again * a.directions).sum(1) > 0.999).all()


def _plant(layer: torch.nn.Module, u: torch.Tensor, d: int, gain: float, extra: torch.Tensor | None = None):
    """Set the layer's weight to small noise plus ``gain`` times a rank-one map reading direction ``u`` of z (the
    first ``d`` inputs); ``extra`` (a direction of the inputs after z) gets a still larger rank-one map."""
    torch.manual_seed(1)
    with torch.no_grad():
        w = layer.weight
        if isinstance(layer, torch.nn.ConvTranspose2d):      # [in, out, kh, kw]
            v = torch.randn(w[0].numel())
            w.normal_(0, 0.01)
            w[:d] += gain * (u[:, None] * v[None, :]).view(d, *w.shape[1:])
            if extra is not None:
                w[d:] += 3 * gain * (extra[:, None] * v[None, :]).view(-1, *w.shape[1:])
        else:                                                 # Linear: [out, in]
            v = torch.randn(w.shape[0])
            w.normal_(0, 0.01)
            w[:, :d] += gain * v[:, None] * u[None, :]
            if extra is not None:
                w[:, d:] += 3 * gain * v[:, None] * extra[None, :]


@pytest.mark.parametrize("family", ["dcgan-deconv", "resnet", "dense", "cgan-concat"])
def test_sefa_finds_the_direction_built_into_the_first_layer(family_runs, family):
    g = load_generator(family_runs[family])
    layer = g.method.sampling_generator().latent_layer()
    d = g.inputs(1, 0)["z"][0].numel()
    u = torch.nn.functional.normalize(torch.randn(d, generator=torch.Generator().manual_seed(3)), dim=0)
    n_in = layer.weight.shape[0] if isinstance(layer, torch.nn.ConvTranspose2d) else layer.weight.shape[1]
    extra = None
    if n_in > d:  # a conditional generator: its embeddings enter the same layer, and must not count
        extra = torch.nn.functional.normalize(torch.ones(n_in - d), dim=0)
    _plant(layer, u, d, gain=1.0, extra=extra)
    found = U.sefa(g, k=3)
    assert abs(float(found.directions[0] @ u)) > 0.999
    assert found.shares[0] > 0.9
    a = U.latent_map(g)  # the measured map is the weight's, restricted to z
    assert a.shape[1] == d and torch.linalg.matrix_rank(a, atol=0.5) == 1


def test_ganspace_finds_the_direction_built_into_the_first_layer(family_runs):
    g = load_generator(family_runs["dcgan-deconv"])
    layer = g.method.sampling_generator().latent_layer()
    d = g.inputs(1, 0)["z"][0].numel()
    u = torch.nn.functional.normalize(torch.randn(d, generator=torch.Generator().manual_seed(3)), dim=0)
    _plant(layer, u, d, gain=1.0)
    found = U.ganspace(g, k=2, n=500)
    assert abs(float(found.directions[0] @ u)) > 0.95
    assert found.shares[0] > 3 * found.shares[1]


def test_bad_requests_are_refused(family_runs):
    g = load_generator(family_runs["dcgan-deconv"])
    with pytest.raises(ConfigError, match="choose sefa or ganspace"):
        U.find(g, "pca")
    with pytest.raises(ConfigError, match="--k 0"):
        U.sefa(g, 0)
    with pytest.raises(ConfigError, match="--n 1"):
        U.ganspace(g, 2, n=1)
    assert U.sefa(g, 1000).directions.shape[0] == 16  # no more directions than z has coordinates


def test_edit_unsupervised_draws_each_direction_and_saves_it(family_runs, tmp_path, check_grid, tile):
    run = family_runs["dcgan-bilinear"]
    rec = edit_unsupervised(run, "sefa", k=3, rows=2, strength=(-3, 0, 3), log=lambda *a: None)
    img = check_grid(rec, rows=6, cols=3)
    g = load_generator(run)
    plain = g.generate(g.inputs(2, 0))
    for r in range(6):  # the middle column is the unedited sample; the ends differ from it
        sample = plain[r % 2, 0].mul(255).round().to(torch.uint8).numpy()
        assert (abs(tile(img, rec, r, 1).astype(int) - sample.astype(int)) <= 1).all()
        assert (tile(img, rec, r, 0) != tile(img, rec, r, 1)).any()
    saved = sorted(p.name for p in (Path(run) / "directions").glob("sefa-*.json"))
    assert saved == ["sefa-1.json", "sefa-2.json", "sefa-3.json"]
    one = json.loads((Path(run) / "directions" / "sefa-1.json").read_text())
    assert one["method"] == "sefa" and one["rank"] == 1 and "eigenvector 1" in one["chosen_by"]
    assert torch.allclose(torch.tensor(one["direction"]), U.sefa(g, 1).directions[0], atol=1e-6)
    edit_unsupervised(run, "sefa", k=2, rows=1, log=lambda *a: None)  # fewer: none of the old ones left behind
    assert sorted(p.name for p in (Path(run) / "directions").glob("sefa-*.json")) == ["sefa-1.json", "sefa-2.json"]


def test_the_command_line(family_runs, capsys):
    from ganlab.cli import main
    run = family_runs["resnet"]
    assert main(["edit", str(run), "--unsupervised", "ganspace", "--k", "2", "--n", "200", "--rows", "1"]) == 0
    out = capsys.readouterr().out
    assert "ganspace-1: GANSpace direction 1" in out and "2 directions saved" in out
    assert main(["edit", str(run), "--unsupervised", "sefa", "--attribute", "smiling"]) == 2
    assert "drop --attribute" in capsys.readouterr().err
    assert main(["edit", str(run)]) == 2
    assert "--unsupervised sefa|ganspace" in capsys.readouterr().err
    # a saved label-free direction moves a photo, as an attribute's does
    from PIL import Image
    photo = Path(run) / "photo.png"
    Image.new("L", (20, 20), 120).save(photo)
    from ganlab.explore.edit import edit_photo
    rec = edit_photo(run, photo, "ganspace-1", steps=5, log=lambda *a: None)
    assert rec["direction_chosen_by"].startswith("GANSpace direction 1")


def test_the_page_finds_sefa_for_a_run_without_directions(family_runs):
    live = pytest.importorskip("ganlab.explore.live")
    run = family_runs["infogan"]
    ex = live.Explorer([run])
    names = [d["name"] for d in ex.describe()[0]["directions"]]
    assert names == [f"sefa-{i}" for i in range(1, live.PAGE_SEFA + 1)]
    assert not (Path(run) / "directions").exists()  # the page writes nothing
    assert ex.grid(0, n=4, dirs={"sefa-1": 3}) != ex.grid(0, n=4)
    edit_unsupervised(run, "ganspace", k=2, rows=1, n=200, log=lambda *a: None)
    assert [d["name"] for d in live.Explorer([run]).describe()[0]["directions"]] == ["ganspace-1", "ganspace-2"]
