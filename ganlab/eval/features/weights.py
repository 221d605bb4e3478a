"""The pretrained files the Inception feature extractors need: where ganlab looks for them, whether they are there
with the right content, and ``ganlab weights fetch`` to download one on request (never implicitly).

Each file is published under a name that ends in the first hex digits of its SHA-256 (torch hub's convention,
which torchvision, pytorch-fid and torch-fidelity check the same way); a download or a copy whose hash does not
start with them is refused and not kept. Downloads go to ``<file>.part`` first and resume from it with an HTTP
Range request when the server allows one (else they start again), then move into place in one rename.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ganlab.errors import EvalError
from ganlab.eval.features.extractors import FID_WEIGHTS, TV_WEIGHTS, _hub_file

CHUNK = 1 << 20


@dataclass(frozen=True)
class WeightsFile:
    name: str          # the feature extractor (--features NAME)
    file: str          # the file name ganlab looks for
    url: str           # the official release location
    sha256_prefix: str  # the hash digits the published name carries
    env: str           # the environment variable that can point at the file
    what: str


WEIGHTS = {
    "inception": WeightsFile(
        "inception", FID_WEIGHTS,
        "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + FID_WEIGHTS,
        FID_WEIGHTS.rsplit("-", 1)[1].split(".")[0], "GANLAB_INCEPTION_WEIGHTS",
        "the FID Inception-v3 of pytorch-fid / torch-fidelity (the field's standard FID, IS, KID)"),
    "torchvision-inception": WeightsFile(
        "torchvision-inception", TV_WEIGHTS, "https://download.pytorch.org/models/" + TV_WEIGHTS,
        TV_WEIGHTS.rsplit("-", 1)[1].split(".")[0], "GANLAB_TV_INCEPTION_WEIGHTS",
        "torchvision's ImageNet Inception-v3"),
}


def spec(name: str) -> WeightsFile:
    if name not in WEIGHTS:
        raise EvalError(f"no weights called {name!r}; there are: {', '.join(WEIGHTS)} (a classifier:PATH from "
                        "'ganlab train-classifier' needs none)")
    return WEIGHTS[name]


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def places(w: WeightsFile) -> list[Path]:
    """Where ganlab looks for the file, in order: $ENV, then the torch hub cache."""
    out = [Path(os.environ[w.env])] if os.environ.get(w.env) else []
    return out + [_hub_file(w.file)]


def status(name: str) -> dict:
    """{name, file, what, looked, found (a path or None), hash_ok (None when not found)}."""
    w = spec(name)
    looked = places(w)
    found = next((p for p in looked if p.is_file()), None)
    return {"name": w.name, "file": w.file, "what": w.what, "url": w.url, "looked": [str(p) for p in looked],
            "found": str(found) if found else None,
            "hash_ok": None if found is None else sha256(found).startswith(w.sha256_prefix)}


def _download(url: str, part: Path, progress: bool) -> None:
    """``url`` into ``part``, continuing a partial file with a Range request where the server honours it."""
    have = part.stat().st_size if part.is_file() else 0
    req = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        resp = urllib.request.urlopen(req, timeout=60)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # the partial file is already whole (or longer): check it as it is
            return
        raise EvalError(f"cannot download {url}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise EvalError(f"cannot download {url} ({reason}); with no network, copy the file from elsewhere and "
                        "give it with --from PATH") from None
    with resp:
        resumed = have and resp.status == 206
        total = resp.headers.get("Content-Length")
        total = int(total) + (have if resumed else 0) if total else None
        from tqdm import tqdm
        with open(part, "ab" if resumed else "wb") as f, tqdm(
                total=total, initial=have if resumed else 0, unit="B", unit_scale=True, disable=not progress,
                desc=part.name.removesuffix(".part")) as bar:
            while True:
                block = resp.read(CHUNK)
                if not block:
                    break
                f.write(block)
                bar.update(len(block))


def fetch(name: str, source: str | None = None, dest: Path | None = None, progress: bool = True, log=print) -> Path:
    """Download (or copy, with ``source`` a path) the weights of ``name`` into the torch hub cache (or ``dest``),
    checking the published hash; returns the path. A file already there with the right hash is kept."""
    w = spec(name)
    dest = Path(dest) if dest else _hub_file(w.file)
    if dest.is_file() and sha256(dest).startswith(w.sha256_prefix):
        log(f"{dest} is already there with the right hash")
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    src = source or w.url
    if "://" in src:
        log(f"downloading {src}")
        _download(src, part, progress)
    else:
        if not Path(src).is_file():
            raise EvalError(f"--from {src}: no such file")
        shutil.copyfile(src, part)
    got = sha256(part)
    if not got.startswith(w.sha256_prefix):
        part.unlink()
        raise EvalError(f"{src}: its SHA-256 starts {got[:len(w.sha256_prefix)]}, and {w.file} is published with "
                        f"{w.sha256_prefix}; the file was not kept (a different or damaged file)")
    os.replace(part, dest)
    log(f"{dest}: SHA-256 {got[:16]}... matches the published {w.sha256_prefix}")
    return dest


def cmd(args) -> int:
    if args.action == "list":
        for name in WEIGHTS:
            s = status(name)
            state = ("missing" if s["found"] is None else "present, hash ok" if s["hash_ok"]
                     else "present, HASH DIFFERS")
            print(f"{name}: {s['what']}\n  file   {s['file']}\n  looked " + "\n         ".join(s["looked"])
                  + f"\n  state  {state}{' at ' + s['found'] if s['found'] else ''}")
        print("classifier:PATH  a 'ganlab train-classifier' model: no download needed")
        return 0
    if not args.name:
        raise EvalError(f"ganlab weights fetch NAME: say which ({', '.join(WEIGHTS)})")
    fetch(args.name, args.source, progress=not args.quiet)
    return 0
