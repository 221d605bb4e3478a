"""What the quality benchmarks share: a fixed split of an image folder into a training part and a held-out
part (symlink folders, so nothing is copied), a feature classifier trained once on the training part's tags
(cached in the work folder), and the evaluation of a run against the held-out images.

Nothing here is part of ganlab; the benchmarks import it from bench/.
"""
from __future__ import annotations

import csv
import json
import random
import subprocess
import sys
from pathlib import Path

EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


# CelebA attributes the feature classifier learns when the labels are a list_attr_celeba.txt: what a face's look
# turns on (hair colour, sex, smile, glasses, age, ...), not the annotators' subtler calls
CELEBA_ATTRIBUTES = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair", "Bangs", "Male", "Smiling",
                     "Eyeglasses", "Wearing_Hat", "Young", "Heavy_Makeup", "No_Beard", "Mouth_Slightly_Open",
                     "Pale_Skin")


def as_tags_csv(labels: Path, work: Path) -> Path:
    """``labels`` as a tags CSV (a ``file`` column, one column per attribute): a CSV as it is, a CelebA
    ``list_attr_celeba.txt`` converted once (``CELEBA_ATTRIBUTES``, values yes/no) into ``work``."""
    if labels.suffix.lower() == ".csv":
        return labels
    lines = labels.read_text().split("\n")
    names = lines[1].split()
    out = work / "celeba_tags.csv"
    if not out.is_file():
        keep = [names.index(a) for a in CELEBA_ATTRIBUTES]
        with open(out, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["file", *CELEBA_ATTRIBUTES])
            for line in lines[2:]:
                parts = line.split()
                if len(parts) == len(names) + 1:
                    w.writerow([parts[0], *("yes" if parts[1 + k] == "1" else "no" for k in keep)])
    return out


def split_folder(images: Path, work: Path, held_out: int, labels: Path | None = None, seed: int = 1234) -> dict:
    """``work/train`` and ``work/heldout``: symlinks to a fixed random split of ``images`` (``held_out`` images
    held out), and, with ``labels`` (a tags CSV with a ``file`` column), ``work/train_tags.csv`` with the rows
    of the training part. Made once; a second call with the same arguments reuses it."""
    work.mkdir(parents=True, exist_ok=True)
    labels = as_tags_csv(labels, work) if labels is not None else None
    marker = work / "split.json"
    want = {"images": str(images.resolve()), "held_out": held_out, "seed": seed,
            "labels": str(labels.resolve()) if labels else None}
    if marker.is_file() and json.loads(marker.read_text()) == want:
        return paths(work, labels is not None)
    files = sorted(p.name for p in images.iterdir() if p.suffix.lower() in EXTS)
    if held_out >= len(files):
        sys.exit(f"bench: {images} has {len(files)} images; cannot hold out {held_out}")
    random.Random(seed).shuffle(files)
    parts = {"heldout": sorted(files[:held_out]), "train": sorted(files[held_out:])}
    for name, names in parts.items():
        d = work / name
        if d.exists():
            for p in d.iterdir():
                p.unlink()
        d.mkdir(parents=True, exist_ok=True)
        for f in names:
            (d / f).symlink_to((images / f).resolve())
    if labels is not None:
        train = set(parts["train"])
        with open(labels, newline="") as f:
            rows = list(csv.reader(f))
        with open(work / "train_tags.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(rows[0])
            w.writerows(r for r in rows[1:] if r and r[0] in train)
    marker.write_text(json.dumps(want))
    return paths(work, labels is not None)


def paths(work: Path, tags: bool) -> dict:
    return {"train": work / "train", "heldout": work / "heldout",
            "train_tags": work / "train_tags.csv" if tags else None}


def classifier(work: Path, images: Path, tags: Path, size: int, epochs: int, env: dict,
               extra: list[str] | None = None) -> Path:
    """A feature classifier for ``size`` x ``size`` images, trained once on the tagged training part
    (``ganlab train-classifier``) and kept in ``work``."""
    out = work / f"classifier-{size}.pt"
    if out.is_file():
        return out
    cmd = [sys.executable, "-m", "ganlab", "train-classifier", "--data", str(images), "--labels", str(tags),
           "--format", "csv", "--image-size", str(size), "--epochs", str(epochs), "--out", str(out), *(extra or [])]
    print("training the feature classifier:", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, env=env)
    report = out.with_suffix(".json")
    if report.is_file():
        print(f"classifier held-out report: {report.read_text()[:400]}")
    return out


def scores(heldout: Path, clf: Path, metrics: list[str], n: int, seed: int = 0, **source) -> dict:
    """{row: value} of ``metrics`` for one source of generated images (``ganlab.eval.run.evaluate``'s ``g``,
    ``fake_dir`` or ``fake``) against the held-out images: SWD needs no features (it ignores them), the others
    are computed in the classifier's."""
    from ganlab.eval.run import evaluate as run_eval
    rows = run_eval(data=str(heldout), metrics=metrics, n=n, features=f"classifier:{clf}", seed=seed,
                    progress=False, log=lambda *a: None, **source)
    out = {r["metric"]: r["value"] for r in rows}
    out.update({f"{r['metric']}/shuffled": r["shuffled"] for r in rows if "shuffled" in r})
    return out


def evaluate(run: Path, heldout: Path, clf: Path, metrics: list[str], n: int, seed: int = 0,
             checkpoint: str | None = None) -> dict:
    """Metric rows of ``run``'s latest (or named) checkpoint against the held-out images, as {name: value}."""
    import ganlab
    return scores(heldout, clf, metrics, n, seed, g=ganlab.load(run, checkpoint))


def evaluate_images(images, heldout: Path, clf: Path, metrics: list[str], n: int, seed: int = 0) -> dict:
    """The same for generated images in memory (uint8 [N, C, H, W]), e.g. another tool's samples."""
    return scores(heldout, clf, metrics, n, seed, fake=images)


def floor(train: Path, heldout: Path, clf: Path, metrics: list[str], n: int, size: int) -> dict:
    """The training images' own scores against the held-out ones: what a perfect generator would get."""
    return scores(heldout, clf, metrics, n, fake_dir=str(train), image_size=size)
