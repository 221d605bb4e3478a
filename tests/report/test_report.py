"""The HTML report: one self-contained page for runs side by side, checked by parsing it and by opening it
in headless Chromium."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from ganlab.cli import main
from ganlab.explore.interpolate import interpolate
from ganlab.report import write_report
from ganlab.report.collect import latest_metrics, metric_direction


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def all(self, tag):
        return [a for t, a in self.tags if t == tag]


def eval_rows(path: Path, rows: list[dict]) -> None:
    with open(path, "a") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


@pytest.fixture
def two_runs(gan_run, tmp_path):
    """A complete run (samples, losses, a figure, eval.jsonl) and one with only a config and an evaluation."""
    full = tmp_path / "full"
    shutil.copytree(gan_run, full)
    interpolate(full, pairs=1, steps=3, log=lambda *a: None)
    eval_rows(full / "eval.jsonl", [
        {"metric": "fid", "value": 30.0, "epoch": 1, "checkpoint": "x/latest.pt"},
        {"metric": "fid", "value": 12.5, "std": 0.5, "epoch": 1, "checkpoint": "x/latest.pt"},  # the latest counts
        {"metric": "is", "value": 2.5, "std": 0.1, "epoch": 1},
        {"metric": "precision", "value": 0.6, "epoch": 1}])
    bare = tmp_path / "bare"
    bare.mkdir()
    cfg = yaml.safe_load((gan_run / "config.yaml").read_text())
    cfg["model"]["upsample"] = "nearest"
    (bare / "config.yaml").write_text(yaml.safe_dump(cfg))
    eval_rows(bare / "eval.jsonl", [{"metric": "fid", "value": 40.0, "std": 0.5, "epoch": 3},
                                    {"metric": "is", "value": 2.0, "std": 0.2, "epoch": 3},
                                    {"metric": "kid", "value": 0.01, "std": 0.002, "epoch": 3}])
    return full, bare


def test_metric_directions():
    assert [metric_direction(k) for k in ("fid", "kid", "swd", "w_critic", "toy/reverse_kl")] == ["lower"] * 5
    assert [metric_direction(k) for k in ("is", "precision", "recall", "density", "coverage", "face_rate",
                                          "cond_acc/digit", "toy/modes", "accuracy")] == ["higher"] * 9
    assert metric_direction("kid_std") is None and metric_direction("epoch") is None
    m, s, meta = latest_metrics([{"metric": "fid", "value": 3, "epoch": 1}, {"metric": "fid", "value": 2, "epoch": 2},
                                 {"fid": 9, "prdc": {"recall": 0.5}, "epoch": 4}])
    assert m == {"fid": 9.0, "prdc.recall": 0.5} and meta["epoch"] == 4 and s == {}


def test_report_is_self_contained_and_marks_the_best(two_runs, tmp_path, capsys):
    full, bare = two_runs
    out = tmp_path / "r" / "report.html"
    assert main(["report", str(full), str(bare), "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    text = out.read_text()
    page = Page()
    page.feed(text)
    imgs = page.all("img")
    # sample grids (thumbnails + the big one), losses, the interpolation figure
    assert len(imgs) >= 4
    assert all(a.get("src", "").startswith("data:image/png;base64,") for a in imgs)
    assert not page.all("link") and all("src" not in a for a in page.all("script"))
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", text)
    assert "full" in text and "bare" in text
    assert "no sample grids yet" in text and "no losses.png" in text  # the bare run shows what it lacks
    assert "interpolate" in text  # the figure's caption
    # settings side by side: the varied key is shaded
    m = re.search(r"<tr class=differs><th[^>]*>upsample</th><td[^>]*>deconv</td><td[^>]*>nearest</td>", text)
    assert m, "the upsample row should differ between the runs"
    # metrics: fid lower is better -> full (12.5); is higher is better -> full (2.5); kid only in one run; each
    # lead is over twice the runs' combined sampling spread, so the stars are supported
    metrics = text[text.index('id="metrics"'):text.index("</table>", text.index('id="metrics"'))]
    assert re.search(r'class="num best">12\.5 &plusmn; 0\.5 &#9733;', metrics)
    assert re.search(r'class="num best">2\.5 &plusmn; 0\.1 &#9733;', metrics)
    assert "40" in metrics and not re.search(r'class="num best">40', metrics)
    assert not re.search(r'class="num best">0\.01', metrics)


def test_report_of_one_run_and_of_a_non_run(gan_run, tmp_path):
    out = write_report([gan_run], tmp_path / "one.html")
    assert "not evaluated" in out.read_text()
    empty = tmp_path / "empty"
    empty.mkdir()
    out = write_report([empty], tmp_path / "none.html")
    assert "no config.yaml" in out.read_text()


@pytest.mark.slow
def test_report_renders_in_headless_chromium(two_runs, tmp_path, chromium):
    full, bare = two_runs
    out = write_report([full, bare], tmp_path / "report.html")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'chrome-profile'}", "--virtual-time-budget=10000"]
    url = out.resolve().as_uri()
    dom = subprocess.run([chromium, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", dom.stdout)
    assert body, dom.stdout[:500]
    attrs = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', body.group(1)))
    n_img = text_imgs = len(re.findall(r"<img ", out.read_text()))
    assert attrs.get("images-loaded") == "true", attrs
    assert attrs.get("images-total") == str(n_img) == attrs.get("images-ok") and text_imgs > 0
    assert attrs.get("errors", "") == "", attrs
    shot = tmp_path / "report.png"
    r = subprocess.run([chromium, *flags, f"--screenshot={shot}", "--window-size=1280,2000", url],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and shot.is_file(), r.stderr[-2000:]
    from PIL import Image
    im = Image.open(shot).convert("RGB")
    assert im.size == (1280, 2000)
    colors = im.resize((64, 100)).getcolors(64 * 100)
    assert colors is not None and len(colors) > 20  # not a blank page
    keep = os.environ.get("GANLAB_REPORT_SCREENSHOT")
    if keep:  # for a person to look at
        shutil.copy(shot, keep)


def test_best_marks_compare_only_like_with_like(two_runs, tmp_path):
    """A FID in one feature space (or on other data) is not compared with another: no star across them."""
    full, bare = two_runs
    other = tmp_path / "other"
    shutil.copytree(bare, other)
    (other / "eval.jsonl").write_text("")
    eval_rows(other / "eval.jsonl", [{"metric": "fid", "value": 1.0, "features": "classifier:celeba.pt"}])
    text = write_report([full, bare, other], tmp_path / "r.html").read_text()
    metrics = text[text.index('id="metrics"'):text.index("</table>", text.index('id="metrics"'))]
    assert re.search(r'class="num best">12\.5 &plusmn; 0\.5 &#9733;', metrics)  # full vs bare: same features
    assert not re.search(r'class="num best">1\.0', metrics)  # other features: alone in its group
    cfg = yaml.safe_load((other / "config.yaml").read_text())
    cfg["data"]["image_size"] = 32
    (other / "config.yaml").write_text(yaml.safe_dump(cfg))
    eval_rows(other / "eval.jsonl", [{"metric": "fid", "value": 1.0}])  # same features, other image size
    text = write_report([full, bare, other], tmp_path / "r2.html").read_text()
    metrics = text[text.index('id="metrics"'):text.index("</table>", text.index('id="metrics"'))]
    assert re.search(r'class="num best">12\.5 &plusmn; 0\.5 &#9733;', metrics)
    assert not re.search(r'class="num best">1\.0', metrics)


def test_settings_of_other_methods_are_not_shown_as_differences(gan_run, tmp_path):
    """info.* means nothing to a GAN: an InfoGAN beside it differs in its codes, the GAN shows '-' there."""
    info = tmp_path / "info"
    info.mkdir()
    cfg = yaml.safe_load((gan_run / "config.yaml").read_text())
    cfg["method"], cfg["info"]["categorical"] = "infogan", [10, 10]
    (info / "config.yaml").write_text(yaml.safe_dump(cfg))
    text = write_report([gan_run, info], tmp_path / "r.html").read_text()
    row = re.search(r"<tr[^>]*><th[^>]*>info\.categorical</th>(.*?)</tr>", text)
    assert row and re.findall(r"<td[^>]*>(.*?)</td>", row.group(1)) == ["-", "[10, 10]"]
    assert not re.search(r"<tr[^>]*><th[^>]*>vae\.", text)  # neither run is a VAE
