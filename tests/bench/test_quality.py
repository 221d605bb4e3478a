"""bench/quality.py end to end on tiny data, with a stand-in for the pytorch/examples script (a few lines written
here, shaped like it: module-level netG, nz, opt and an ImageFolder loop), in seconds."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

import quality  # noqa: E402

SCRIPT = '''
import argparse, torch, torch.nn as nn, torchvision.datasets as dset, torchvision.transforms as T
p = argparse.ArgumentParser()
for flag in ("--dataset", "--dataroot", "--outf"):
    p.add_argument(flag)
for flag, default in (("--imageSize", 16), ("--batchSize", 8), ("--ngf", 4), ("--ndf", 4), ("--niter", 1),
                      ("--workers", 0), ("--manualSeed", 0), ("--nz", 8)):
    p.add_argument(flag, type=int, default=default)
p.add_argument("--lr", type=float, default=2e-4)
p.add_argument("--beta1", type=float, default=0.5)
opt = p.parse_args()
torch.manual_seed(opt.manualSeed)
nz = opt.nz
data = dset.ImageFolder(opt.dataroot, T.Compose([T.Resize(opt.imageSize), T.ToTensor(), T.Normalize([0.5] * 3, [0.5] * 3)]))
loader = torch.utils.data.DataLoader(data, batch_size=opt.batchSize, shuffle=True, num_workers=opt.workers)
netG = nn.Sequential(nn.ConvTranspose2d(nz, opt.ngf, 4, 1, 0), nn.BatchNorm2d(opt.ngf), nn.ReLU(),
                     nn.ConvTranspose2d(opt.ngf, 3, 4, 4, 0), nn.Tanh())
netD = nn.Sequential(nn.Conv2d(3, opt.ndf, 4, 4, 0), nn.LeakyReLU(0.2), nn.Conv2d(opt.ndf, 1, 4, 1, 0), nn.Flatten())
optD = torch.optim.Adam(netD.parameters(), lr=opt.lr, betas=(opt.beta1, 0.999))
optG = torch.optim.Adam(netG.parameters(), lr=opt.lr, betas=(opt.beta1, 0.999))
bce = nn.BCEWithLogitsLoss()
for epoch in range(opt.niter):
    for real, _ in loader:
        b = len(real)
        fake = netG(torch.randn(b, nz, 1, 1))
        optD.zero_grad()
        (bce(netD(real), torch.ones(b, 1)) + bce(netD(fake.detach()), torch.zeros(b, 1))).backward()
        optD.step()
        optG.zero_grad()
        bce(netD(fake), torch.ones(b, 1)).backward()
        optG.step()
'''


@pytest.mark.slow
def test_quality_bench_races_scores_and_reports_both_sides(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    g = torch.Generator().manual_seed(0)
    rows = ["file,colour"]
    for i in range(64):
        colour = i % 2
        x = torch.randint(0, 120, (16, 16, 3), generator=g, dtype=torch.uint8) + 130 * colour
        Image.fromarray(x.numpy()).save(images / f"{i:02d}.png")
        rows.append(f"{i:02d}.png,{'light' if colour else 'dark'}")
    (tmp_path / "tags.csv").write_text("\n".join(rows) + "\n")
    script = tmp_path / "fake_dcgan.py"
    script.write_text(SCRIPT)
    work = tmp_path / "work"
    cmd = [sys.executable, str(REPO / "bench" / "quality.py"), "--script", str(script), "--data", str(images),
           "--labels", str(tmp_path / "tags.csv"), "--held-out", "16", "--image-size", "16", "--minutes", "0.5",
           "--snapshot-minutes", "0.25", "--n", "64", "--classifier-epochs", "1", "--work", str(work),
           "--script-batch-size", "8", "--script-width", "4",
           "--set", "model.g_width=4", "--set", "model.d_width=4", "--set", "train.batch_size=8",
           "--set", "model.latent_dim=8"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "g / s" in out and "floor" in out and out.count(" ganlab ") >= 2 and out.count(" script ") >= 2
    result = json.loads((work / "quality.json").read_text())
    assert (work / "quality.png").stat().st_size > 10_000
    assert set(result["floor"]) == set(quality.ROWS)
    for side in quality.SIDES:
        snaps = result[side]
        assert [s["planned_s"] for s in snaps] == pytest.approx([15.0, 30.0])
        assert all(s["seconds"] >= s["planned_s"] for s in snaps)  # (the start-up counts: ~10-20 s here)
        assert snaps[-1]["images"] >= snaps[0]["images"] >= 0 and snaps[-1]["steps"] > 0
        assert all(isinstance(s[m], float) for s in snaps for m in quality.ROWS)
    assert len(result["ratios"]) == 2 and result["ratios"][-1]["fid"] == pytest.approx(
        result["ganlab"][-1]["fid"] / result["script"][-1]["fid"])
    race = Path(result["race"])
    samples = torch.load(next((race / "script-snapshots").glob("snap-02.samples-n64-s0.pt")))
    assert samples.dtype == torch.uint8 and samples.shape == (64, 3, 16, 16)
    # a second call redoes nothing: the race, samples and scores are found
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "race: done before" in again.stdout
    assert json.loads((work / "quality.json").read_text())["ganlab"] == result["ganlab"]


def test_schedule_ends_at_the_deadline():
    assert quality.schedule(30, 5) == [300, 600, 900, 1200, 1500, 1800]
    assert quality.schedule(1, 0.4) == pytest.approx([24, 48, 60])


def test_celeba_attributes_become_a_tags_csv(tmp_path):
    import csv

    import heldout
    names = list(heldout.CELEBA_ATTRIBUTES) + ["Big_Nose"]
    rows = ["2", " ".join(names), "a.jpg " + " ".join(["1", "-1"] * (len(names) // 2) + ["1"] * (len(names) % 2)),
            "b.jpg " + " ".join(["-1"] * len(names)), ""]
    attr = tmp_path / "list_attr_celeba.txt"
    attr.write_text("\n".join(rows))
    out = heldout.as_tags_csv(attr, tmp_path)
    table = list(csv.reader(open(out)))
    assert table[0] == ["file", *heldout.CELEBA_ATTRIBUTES]
    assert table[1][:3] == ["a.jpg", "yes", "no"] and set(table[2][1:]) == {"no"} and len(table) == 3
    assert heldout.as_tags_csv(tmp_path / "tags.csv", tmp_path) == tmp_path / "tags.csv"  # a CSV stays as it is


def test_a_ganlab_side_with_its_own_budget_ends_as_its_last_snapshot(tmp_path, monkeypatch):
    """A run with train.minutes ends itself by its deadline, before the race's last snapshot is due: its final
    state (the run's latest checkpoint) becomes that snapshot, at the time it ended."""
    from ganlab.train import loop
    monkeypatch.setattr(loop.Trainer, "batch", loop.Trainer.batch)  # the child patches it; restored after
    threads = torch.get_num_threads()
    snaps = tmp_path / "snaps"
    snaps.mkdir()
    run = tmp_path / "run"
    start = __import__("time").time()
    spec = {"start": start, "times": [1.0, 600.0], "snapshots": str(snaps),
            "argv": ["--data", "digits", "--image-size", "16", "--limit", "64", "--batch-size", "16",
                     "--epochs", "100000", "--out", str(run), "--set", "model.g_width=4", "--set", "model.d_width=4",
                     "--set", "train.progress=false", "--set", "train.tensorboard=false",
                     "--set", "train.minutes=0.1"]}
    try:
        quality.ganlab_child(spec)
    finally:
        torch.set_num_threads(threads)
    first, last = (json.loads((snaps / f"snap-0{k}.json").read_text()) for k in (1, 2))
    assert first["seconds"] >= 1.0 and first["steps"] < last["steps"]
    assert last["seconds"] < 60 and last["planned_s"] == pytest.approx(last["seconds"], abs=0.5)
    state = torch.load(snaps / "snap-02.pt", weights_only=False)
    final = torch.load(run / "checkpoints" / "latest.pt", weights_only=False)
    assert "optimizers" not in state and state["method_state"]["g_steps"] == last["steps"]
    assert all(torch.equal(a, b) for a, b in zip(state["modules"]["G"].values(), final["modules"]["G"].values()))
    assert state["budget"]["stopped_at"] == last["steps"]
