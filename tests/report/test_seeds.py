"""Reports of settings over seeds (grouped runs, intervals, bands, verdicts, supported stars), ``ganlab compare`` and
``ganlab sweep --seeds``, on run folders whose numbers are written by the test, so the answer is known."""
import json
import re
import shutil
import subprocess

import pytest
import yaml

from ganlab.cli import main
from ganlab.report import write_report

FIDS = {"deconv": [31.0, 29.0, 32.7], "nearest": [16.0, 17.0, 15.3], "bilinear": [16.5, 15.8, 17.4]}


def make_runs(gan_run, root, fids=FIDS, seeds=(0, 1, 2)):
    """A run folder per (upsample, seed): the tiny GAN's folder with that config and an eval.jsonl of two epochs."""
    out = {}
    for up, values in fids.items():
        for seed, fid in zip(seeds, values):
            run = root / up / f"seed={seed}"
            shutil.copytree(gan_run, run)
            cfg = yaml.safe_load((run / "config.yaml").read_text())
            cfg["model"]["upsample"], cfg["train"]["seed"] = up, seed
            (run / "config.yaml").write_text(yaml.safe_dump(cfg))
            (run / "eval.jsonl").write_text(json.dumps({"epoch": 1, "fid": fid + 10}) + "\n"
                                            + json.dumps({"epoch": 2, "fid": fid}) + "\n")
            out[up, seed] = run
    return out


def metrics_of(text):
    start = text.index('id="metrics"')
    return text[start:text.index("</table>", start)]


def test_a_report_over_seeds_says_which_setting_is_better(gan_run, tmp_path):
    runs = make_runs(gan_run, tmp_path)
    text = write_report(list(runs.values()), tmp_path / "r.html").read_text()
    assert "<h2>Settings over seeds</h2>" in text
    verdicts = text[text.index('id="verdicts"'):]
    assert "upsample=nearest beats upsample=deconv on fid in 3 of 3 seeds, 16.1 ± 0.854 vs 30.9" in verdicts
    assert "cannot be told apart on fid with 3 seeds" in verdicts
    seeds = text[text.index('id="seeds"'):text.index("</table>", text.index('id="seeds"'))]
    assert re.search(r"upsample=nearest</th><td class=num>3</td><td class=num>16.1 ± 0.854</td>"
                     r"<td class=num>14 to 18.2</td>", seeds)
    assert 'alt="fid over epochs, a band over seeds" src="data:image/png;base64,' in text
    # nearest and bilinear cannot be told apart: no star for either
    assert 'class="num best"' not in metrics_of(text)
    # without bilinear, nearest is the supported best: each of its seeds' runs gets the star, no other run
    two = [p for (up, _), p in runs.items() if up != "bilinear"]
    text = write_report(two, tmp_path / "r2.html").read_text()
    assert len(re.findall(r'class="num best">1[5-7](\.\d+)? &#9733;', metrics_of(text))) == 3
    assert metrics_of(text).count("&#9733;") == 3


def test_reversed_numbers_give_the_reversed_verdict(gan_run, tmp_path):
    flipped = {up: [60 - v for v in vals] for up, vals in FIDS.items() if up != "bilinear"}
    runs = make_runs(gan_run, tmp_path, flipped)
    text = write_report(list(runs.values()), tmp_path / "r.html").read_text()
    assert "upsample=deconv beats upsample=nearest on fid in 3 of 3 seeds" in text


def test_single_runs_without_a_spread_get_no_star_and_no_seed_section(gan_run, tmp_path):
    runs = make_runs(gan_run, tmp_path, {"deconv": [31.0], "nearest": [16.0]}, seeds=(0,))
    text = write_report(list(runs.values()), tmp_path / "r.html").read_text()
    assert 'class="num best"' not in metrics_of(text) and "<h2>Settings over seeds</h2>" not in text
    assert "ganlab sweep --seeds 3" in text  # the page says what would give a verdict


def test_compare_on_the_command_line(gan_run, tmp_path, capsys):
    make_runs(gan_run, tmp_path, {k: v for k, v in FIDS.items() if k != "bilinear"})
    assert main(["compare", str(tmp_path / "nearest"), str(tmp_path / "deconv")]) == 0
    out = capsys.readouterr().out
    assert "fid (lower is better)" in out
    assert re.search(r"nearest\s+3\s+16.1 ± 0.854\s+14 to 18.2", out)
    assert "- nearest beats deconv on fid in 3 of 3 seeds" in out
    assert main(["compare", str(tmp_path / "nearest"), str(tmp_path / "deconv"), "--metric", "is"]) == 2
    assert "--metric is: the runs have fid" in capsys.readouterr().err
    assert main(["compare", str(tmp_path / "nearest")]) == 2  # one folder whose runs are all one setting
    assert "all one setting" in capsys.readouterr().err
    flat = tmp_path / "sweep"  # one folder of runs, as a sweep writes them: grouped by setting
    for up in ("nearest", "deconv"):
        for run in (tmp_path / up).iterdir():
            shutil.copytree(run, flat / f"upsample={up},{run.name}")
    assert main(["compare", str(flat)]) == 0
    assert "- upsample=nearest beats upsample=deconv on fid in 3 of 3 seeds" in capsys.readouterr().out
    assert main(["compare", str(tmp_path / "nearest"), str(tmp_path / "nowhere")]) == 2


def test_sweep_seeds_run_every_point_with_each_seed(tmp_path, capsys):
    out = tmp_path / "sw"
    args = ["sweep", "dcgan", "--grid", "model.upsample=deconv,nearest", "--seeds", "2", "--image-size", "16",
            "--epochs", "1", "--set", "data.limit=64", "--set", "model.g_width=8", "--set", "model.d_width=8",
            "--set", "train.device=cpu", "--out", str(out), "--dry-run"]
    assert main(args) == 0
    text = capsys.readouterr().out
    for name in ("upsample=deconv,seed=0", "upsample=deconv,seed=1", "upsample=nearest,seed=0",
                 "upsample=nearest,seed=1"):
        assert f"{name} (new)" in text and f"--set train.seed={name[-1]}" in text
    assert main(["sweep", "dcgan", "--seeds", "0,7", "--dry-run", "--out", str(out)]) == 0
    assert "seed=0 (new), seed=7 (new)" in capsys.readouterr().out
    assert main(["sweep", "dcgan", "--seeds", "2", "--grid", "train.seed=1,2", "--dry-run"]) == 2
    assert "train.seed is both in --grid and given by --seeds" in capsys.readouterr().err
    assert main(["sweep", "dcgan", "--seeds", "-1", "--dry-run"]) == 2


@pytest.mark.slow
def test_the_seed_report_renders_in_headless_chromium(gan_run, tmp_path, chromium):
    runs = make_runs(gan_run, tmp_path)
    out = write_report(list(runs.values()), tmp_path / "r.html")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000"]
    dom = subprocess.run([chromium, *flags, "--dump-dom", out.resolve().as_uri()], capture_output=True, text=True,
                         timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', re.search(r"<body([^>]*)>", dom.stdout).group(1)))
    assert body.get("images-loaded") == "true" and body.get("errors", "") == "", body
    assert 'id="verdicts"' in dom.stdout


def test_a_local_sweep_trains_each_seed_differently(tmp_path, capsys):
    import torch
    out = tmp_path / "sw"
    assert main(["sweep", "dcgan", "--seeds", "2", "--data", "digits", "--image-size", "16", "--limit", "64",
                 "--batch-size", "32", "--latent-dim", "8", "--steps", "2", "--set", "model.g_width=4",
                 "--set", "model.d_width=4", "--set", "train.progress=false", "--set", "train.tensorboard=false",
                 "--set", "train.device=cpu", "--out", str(out), "--no-report"]) == 0
    a, b = (torch.load(out / f"seed={s}" / "checkpoints" / "latest.pt", weights_only=False) for s in (0, 1))
    assert (a["config"]["train"]["seed"], b["config"]["train"]["seed"]) == (0, 1)
    assert not torch.equal(next(iter(a["modules"]["G"].values())), next(iter(b["modules"]["G"].values())))
    assert main(["sweep", "dcgan", "--seeds", "2", "--data", "digits", "--image-size", "16", "--limit", "64",
                 "--batch-size", "32", "--latent-dim", "8", "--steps", "2", "--set", "model.g_width=4",
                 "--set", "model.d_width=4", "--set", "train.progress=false", "--set", "train.tensorboard=false",
                 "--set", "train.device=cpu", "--out", str(out), "--no-report"]) == 0
    assert capsys.readouterr().out.count("[sweep] skip") == 2  # finished seeds are skipped, as any grid point
