"""ganlab explore: the pictures the live page asks for (Explorer), the server's guards, and the page itself driven in
headless Chromium (the system's browser through Playwright; skipped with the reason where either is missing)."""
import io
import json
import shutil
import socket
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest
import torch
from PIL import Image

from ganlab.errors import ConfigError
from ganlab.explore import live

pytest.importorskip("starlette", reason="the explore extra is not installed: pip install -e '.[explore]'")
pytest.importorskip("uvicorn", reason="the explore extra is not installed: pip install -e '.[explore]'")


@pytest.fixture(scope="module")
def runs(gan_run, cgan_run, infogan_run, vae_run):
    from ganlab.explore.edit import edit
    edit(gan_run, "thick", select=[1, 2, 3], n=16, log=lambda *a: None)  # saves directions/thick.json
    return {"gan": gan_run, "cgan": cgan_run, "infogan": infogan_run, "vae": vae_run}


@pytest.fixture(scope="module")
def explorer(runs):
    return live.Explorer([runs[k] for k in ("gan", "cgan", "infogan", "vae")])


def png(data: bytes) -> torch.Tensor:
    return torch.from_numpy(__import__("numpy").asarray(Image.open(io.BytesIO(data)).convert("L"))).float()


def test_edit_saves_its_direction_for_the_page(runs, explorer):
    rec = json.loads((runs["gan"] / "directions" / "thick.json").read_text())
    assert rec["attribute"] == "thick" and "selected tiles 1,2,3" in rec["chosen_by"]
    assert abs(torch.tensor(rec["direction"]).norm().item() - 1) < 1e-5
    gan = explorer.describe()[0]
    assert "thick" in [d["name"] for d in gan["directions"]]  # other tests' edits of this run save theirs too


def test_each_control_changes_the_picture(explorer):
    base = png(explorer.grid(0, n=16, seed=1))
    assert base.shape == (4 * 18 + 2, 4 * 18 + 2)  # 4x4 tiles of 16 px with 2 px gaps
    assert not torch.equal(base, png(explorer.grid(0, n=16, seed=2)))
    assert not torch.equal(base, png(explorer.grid(0, n=16, seed=1, scale=0.3)))
    assert not torch.equal(base, png(explorer.grid(0, n=16, seed=1, dirs={"thick": 2.0})))
    assert torch.equal(base, png(explorer.grid(0, n=16, seed=1, dirs={"thick": 0.0})))
    three = png(explorer.grid(1, n=16, seed=1, cond={"digit": "3"}))
    assert not torch.equal(three, png(explorer.grid(1, n=16, seed=1, cond={"digit": "7"})))
    code = png(explorer.grid(2, n=16, seed=1, cond={"c1": -1}))
    assert not torch.equal(code, png(explorer.grid(2, n=16, seed=1, cond={"c1": 1})))
    over = png(explorer.attribute_grid(1, "digit", rows=3))
    assert over.shape == (3 * 18 + 2, 10 * 18 + 2)


def test_interpolation_ends_at_the_two_tiles(explorer):
    grid = png(explorer.grid(0, n=16, seed=4))
    strip = png(explorer.interpolation(0, 5, 9, n=16, seed=4, steps=6))
    assert strip.shape == (18 + 2, 6 * 18 + 2)
    tile = lambda img, r, c: img[2 + r * 18: 2 + r * 18 + 16, 2 + c * 18: 2 + c * 18 + 16]  # noqa: E731
    assert torch.equal(tile(strip, 0, 0), tile(grid, 1, 1)) and torch.equal(tile(strip, 0, 5), tile(grid, 2, 1))
    gif = Image.open(io.BytesIO(explorer.interpolation(0, 5, 9, n=16, seed=4, steps=7, fmt="gif")))
    assert gif.n_frames == 7


def test_a_photo_projected_then_moved_by_a_direction(explorer):
    buf = io.BytesIO()
    Image.new("L", (20, 20), 30).save(buf, "PNG")
    with pytest.raises(ConfigError, match="upload a photo first"):
        explorer.photo_edit(0)
    three = png(explorer.project_upload(0, buf.getvalue()))
    assert three.shape == (18 + 2, 3 * 18 + 2)
    tile = lambda img, c: img[2:18, 2 + c * 18: 2 + c * 18 + 16]  # noqa: E731
    assert torch.equal(tile(three, 1), tile(three, 2))  # no direction: the edit is the projection
    moved = png(explorer.photo_edit(0, dirs={"thick": 3}))
    assert torch.equal(tile(moved, 1), tile(three, 1)) and not torch.equal(tile(moved, 2), tile(three, 2))
    with pytest.raises(ConfigError, match="direction 'nope': this run has"):
        explorer.photo_edit(0, dirs={"nope": 1})
    vae = png(explorer.project_upload(3, buf.getvalue()))  # the VAE's decoder, optimised through the same way
    assert vae.shape == (18 + 2, 3 * 18 + 2) and torch.equal(tile(vae, 1), tile(vae, 2))


def test_scale_draws_each_latent_towards_its_prior_centre(explorer, ring_mixture_run):
    g = explorer.generator(0)
    z = explorer.inputs(g, 0, 8, seed=5)["z"]
    assert torch.allclose(explorer.inputs(g, 0, 8, seed=5, scale=0.5)["z"], z * 0.5)  # N(0, I): towards 0
    ring = live.Explorer([ring_mixture_run])
    g = ring.generator(0)
    centres = g.method.latent_prior().centres
    z = ring.inputs(g, 0, 32, seed=5)["z"]
    nearest = centres[torch.cdist(z, centres).argmin(1)]
    assert torch.allclose(ring.inputs(g, 0, 32, seed=5, scale=0.0)["z"], nearest)
    assert torch.allclose(ring.inputs(g, 0, 32, seed=5, scale=0.5)["z"], (z + nearest) / 2, atol=1e-6)


def test_compare_and_reconstruct(explorer, runs):
    side = png(explorer.compare([0, 1], n=4))
    assert side.shape == (2 * 18 + 2, 2 * (2 * 18 + 2) + 8)
    buf = io.BytesIO()
    Image.new("L", (40, 30), 128).save(buf, "PNG")
    pair = png(explorer.reconstruction(3, buf.getvalue()))
    assert pair.shape == (18 + 2, 2 * 18 + 2)
    with pytest.raises(ConfigError, match="needs an encoder"):
        explorer.reconstruction(0, buf.getvalue())


def test_the_page_names_no_files(explorer, tmp_path):
    for bad in ("/etc/passwd", "../latest", "checkpoints/latest.pt"):
        with pytest.raises(ConfigError, match="latest, best or an epoch"):
            explorer.grid(0, checkpoint=bad)
    assert explorer.grid(0, checkpoint="1", n=4)
    with pytest.raises(ConfigError, match="there are 4 runs"):
        explorer.run_index(7)


def test_uploads_are_checked_and_never_written(explorer, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="not an image"):
        live.decode_upload(b"<html>not an image</html>", 1, 16)
    with pytest.raises(ConfigError, match="empty"):
        live.decode_upload(b"", 1, 16)
    huge = io.BytesIO()
    Image.new("1", (5000, 5000)).save(huge, "PNG")  # a few kB on disk, 25 million pixels decoded
    assert len(huge.getvalue()) < live.MAX_UPLOAD_BYTES
    with pytest.raises(ConfigError, match="5000x5000 pixels"):
        live.decode_upload(huge.getvalue(), 1, 16)
    with pytest.raises(ConfigError, match="MiB"):
        live.decode_upload(b"\0" * (live.MAX_UPLOAD_BYTES + 1), 1, 16)
    assert list(tmp_path.iterdir()) == []


def test_binds_to_localhost_and_warns_otherwise(runs, monkeypatch, capsys):
    import uvicorn

    from ganlab.explore import server
    seen = []
    monkeypatch.setattr(uvicorn, "run", lambda app, host, port, **kw: seen.append((host, port)))
    server.serve([runs["gan"]], log=lambda *a: None)
    assert seen[-1] == ("127.0.0.1", 8765) and "warning" not in capsys.readouterr().err
    server.serve([runs["gan"]], host="0.0.0.0", port=9000, log=lambda *a: None)
    assert seen[-1] == ("0.0.0.0", 9000) and "reachable from other machines" in capsys.readouterr().err


def test_without_the_extra_it_says_what_to_install(runs, monkeypatch):
    from ganlab.explore import server
    monkeypatch.setitem(sys.modules, "starlette", None)
    with pytest.raises(ConfigError, match=r'pip install -e "\.\[explore\]"'):
        server.serve([runs["gan"]])


# --------------------------------------------------------------------------- the page in a browser

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(runs):
    """The app of ``ganlab explore GAN CGAN INFOGAN VAE`` under uvicorn on a free local port, in a thread."""
    import uvicorn

    from ganlab.explore.server import make_app
    ex = live.Explorer([runs[k] for k in ("gan", "cgan", "infogan", "vae")])
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(make_app(ex), host="127.0.0.1", port=port, log_level="warning"))
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    t.join(10)


def test_the_api_answers_bad_requests_with_a_message(served):
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{served}/api/grid?run=0&checkpoint=/etc/passwd")
    assert e.value.code == 400 and "latest, best or an epoch" in json.loads(e.value.read())["error"]
    req = urllib.request.Request(f"{served}/api/reconstruct?run=3", data=b"GIF89a broken", method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req)
    assert e.value.code == 400 and "not an image" in json.loads(e.value.read())["error"]


def chromium_path():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.fixture(scope="module")
def page(served):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the test extra)")
    exe = chromium_path()
    if exe is None:
        pytest.skip("no chromium on this machine (Debian: apt install chromium)")
    with sync_api.sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        except Exception as e:  # noqa: BLE001  (a browser that does not start: say why and skip)
            pytest.skip(f"chromium at {exe} did not start under Playwright: {str(e).splitlines()[0]}")
        pg = browser.new_page(accept_downloads=True)
        pg.errors = []
        pg.on("console", lambda m: pg.errors.append(m.text) if m.type == "error" else None)
        pg.on("pageerror", lambda e: pg.errors.append(str(e)))
        outside = []
        pg.on("request", lambda r: outside.append(r.url) if not r.url.startswith((served, "blob:", "data:")) else None)
        pg.goto(served)
        pg.outside = outside
        yield pg
        browser.close()


def changed(pg, img="grid", act=None):
    """Run ``act`` and wait until ``img`` has shown a new picture; its digest before and after."""
    loads = pg.get_attribute(f"#{img}", "data-loads") or "0"
    before = pg.get_attribute(f"#{img}", "data-digest")
    act()
    pg.wait_for_function(f"(document.getElementById('{img}').dataset.loads || '0') !== '{loads}'", timeout=30000)
    return before, pg.get_attribute(f"#{img}", "data-digest")


def set_range(pg, selector, value):
    pg.eval_on_selector(selector, "(el, v) => { el.value = v; el.dispatchEvent(new Event('input')); }", value)


@pytest.mark.slow
def test_the_page_in_a_browser(page, tmp_path):
    pg = page
    pg.wait_for_function("document.getElementById('grid').dataset.loads === '1'", timeout=30000)
    assert pg.inner_text("#health") == "health: no findings"  # the tiny runs' monitor found nothing
    # a new seed
    before, after = changed(pg, act=lambda: pg.click("#newseed"))
    assert before and after and before != after
    # the latent direction saved by ganlab edit
    before, after = changed(pg, act=lambda: set_range(pg, "#dir-thick", "2"))
    assert before != after
    # a direction found without labels (SeFa, found by the page: this run has only the labelled one saved)
    assert "SeFa direction 1" in pg.get_attribute("#dir-sefa-1", "title")
    before, after = changed(pg, act=lambda: set_range(pg, "#dir-sefa-1", "3"))
    assert before != after
    # a tag dropdown on the cgan
    changed(pg, act=lambda: pg.select_option("#run", "1"))
    assert pg.is_visible("#cond-digit") and not pg.is_visible("#dir-thick")
    before, after = changed(pg, act=lambda: pg.select_option("#cond-digit", "3"))
    assert before != after
    before, after = changed(pg, "over", act=lambda: pg.click("#over-go"))
    assert after
    # a code slider on the infogan
    changed(pg, act=lambda: pg.select_option("#run", "2"))
    before, after = changed(pg, act=lambda: set_range(pg, "#cond-c1", "0.9"))
    assert before != after
    before, after = changed(pg, act=lambda: pg.select_option("#cond-c0", "4"))
    assert before != after
    # interpolation between two clicked samples, and its GIF
    box = pg.locator("#grid").bounding_box()
    tile = box["width"] / 8  # 64 samples: 8 x 8

    def two_clicks():
        pg.mouse.click(box["x"] + tile * 0.5, box["y"] + tile * 0.5)
        pg.mouse.click(box["x"] + tile * 3.5, box["y"] + tile * 2.5)
    changed(pg, "interp", act=two_clicks)
    assert pg.inner_text("#picks") == "#0 → #19"
    with pg.expect_download() as dl:
        pg.click("#interp-gif")
    path = tmp_path / "walk.gif"
    dl.value.save_as(path)
    assert Image.open(path).n_frames == 10
    # the grid itself downloads as the PNG shown
    with pg.expect_download() as dl:
        pg.click("#grid-dl")
    dl.value.save_as(tmp_path / "grid.png")
    assert Image.open(tmp_path / "grid.png").size[0] == 8 * 18 + 2
    # a real image reconstructed by the VAE
    changed(pg, act=lambda: pg.select_option("#run", "3"))
    Image.new("L", (30, 30), 200).save(tmp_path / "face.png")
    changed(pg, "recon", act=lambda: pg.set_input_files("#upload", str(tmp_path / "face.png")))
    # a real photo projected into the GAN's latent space, then moved by the saved direction
    changed(pg, act=lambda: pg.select_option("#run", "0"))
    changed(pg, "photo", act=lambda: pg.set_input_files("#photo-upload", str(tmp_path / "face.png")))
    before, after = changed(pg, "photo", act=lambda: set_range(pg, "#dir-thick", "-2.5"))
    assert before != after
    before, after = changed(pg, "photo", act=lambda: set_range(pg, "#dir-sefa-1", "-3"))
    assert before != after
    # side by side with another run at the same noise
    changed(pg, "compare", act=lambda: pg.click("#compare-go"))
    assert pg.errors == [], pg.errors
    assert pg.outside == [], pg.outside  # nothing fetched from anywhere but the server


def test_the_page_shows_the_runs_health(trained_run, tmp_path):
    import shutil

    import yaml
    run = trained_run("health-page", **{"data.limit": 64})
    ex = live.Explorer([run])
    assert ex.describe()[0]["health"] == []  # the monitor ran and found nothing
    (run / "health.jsonl").write_text(json.dumps({"kind": "d_won", "severity": "hard", "step": 60, "iteration": 60,
                                                  "began": 3, "message": "the discriminator has won", "values": {}})
                                      + "\n" + "{cut off\n")
    assert live.Explorer([run]).describe()[0]["health"] == [
        {"kind": "d_won", "severity": "hard", "began": 3, "step": 60, "message": "the discriminator has won"}]
    # a run from before the monitor (no train.health in its config.yaml) or with it off: the page claims nothing
    old = tmp_path / "old"
    shutil.copytree(run, old)
    (old / "health.jsonl").unlink()
    cfg = yaml.safe_load((old / "config.yaml").read_text())
    del cfg["train"]["health"]
    (old / "config.yaml").write_text(yaml.safe_dump(cfg))
    assert live.Explorer([old]).describe()[0]["health"] is None
    cfg["train"]["health"] = False
    (old / "config.yaml").write_text(yaml.safe_dump(cfg))
    assert live.Explorer([old]).describe()[0]["health"] is None


def test_find_a_direction_with_the_command_lines_classifier(runs, tmp_path):
    fc = pytest.importorskip("ganlab.eval.features.classifier")
    torch.manual_seed(0)
    path = tmp_path / "clf.pt"
    fc.save_classifier(fc.DomainClassifier(1, 16, {"digit": [str(d) for d in range(10)]}), path, {})
    with pytest.raises(ConfigError, match="--classifier PATH"):
        live.Explorer([runs["gan"]]).find_direction(0, "digit=3")
    ex = live.Explorer([runs["gan"]], classifier=str(path))
    assert ex.describe()[0]["classifier"]
    found = ex.find_direction(0, "digit=3")
    assert found["name"] == "found-digit-3" and "scores highest for digit=3" in found["chosen_by"]
    assert "found-digit-3" in [d["name"] for d in ex.describe()[0]["directions"]]
    assert not (runs["gan"] / "directions" / "found-digit-3.json").exists()  # the page writes nothing
    assert png(ex.grid(0, n=4, dirs={"found-digit-3": 2})).shape == png(ex.grid(0, n=4)).shape
    assert not torch.equal(png(ex.grid(0, n=4, dirs={"found-digit-3": 2})), png(ex.grid(0, n=4)))
