"""Directions in a run's latent space, shared by ``ganlab edit`` (which finds and saves them) and the live
explorer (which shows them as sliders and finds more in the page). Label-free directions (SeFa, GANSpace) are
found by ``explore/unsupervised.py`` and saved here as ``<method>-<i>.json``; the rest of this page is about
attribute directions.

A direction is a unit vector ``e`` in the latent space of z:

    e = normalise( mean(z of the chosen samples) - mean(z of all samples drawn) )

It is removed from latents as z - <z, e> e and added as z + s e. Saved directions live in
``RUN/directions/<name>.json`` (the vector, its attribute and how its samples were chosen).
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from ganlab.errors import ConfigError
from ganlab.explore.common import write_json

DEFINITION = "normalise(mean z[chosen] - mean z[all n drawn])"


# --------------------------------------------------------------------------- on disk

def directions_dir(run: Path) -> Path:
    return Path(run) / "directions"


def read_directions(run: Path) -> dict[str, dict]:
    """The latent directions saved in a run folder (``ganlab edit`` writes them): {name: record}."""
    out = {}
    for p in sorted(directions_dir(run).glob("*.json")):
        try:
            rec = json.loads(p.read_text())
            out[p.stem] = {**rec, "direction": torch.tensor(rec["direction"], dtype=torch.float32)}
        except (OSError, ValueError, KeyError):
            continue  # a damaged file: the other directions still show
    return out


def save_direction(run: Path, name: str, attribute: str, e: torch.Tensor, how: str, record: dict) -> Path:
    """``RUN/directions/<name>.json``: the unit direction, its attribute and how it was chosen (``record``: the
    ``ganlab edit`` record it came from), for the live explorer's sliders."""
    path = directions_dir(run) / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, {"attribute": attribute, "direction": e.tolist(), "chosen_by": how,
                      "definition": record["direction_definition"], "checkpoint": record["checkpoint"],
                      "epoch": record["epoch"], "n": record["n"], "seed": record["seed"]})
    return path


def save_found(run: Path, found, record: dict) -> list[Path]:
    """``RUN/directions/<method>-<i>.json`` for each label-free direction in ``found`` (an
    ``unsupervised.Found``), replacing the ones an earlier call saved with the same method (a smaller ``--k``
    leaves none behind)."""
    folder = directions_dir(run)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob(f"{found.method}-*.json"):
        if old.stem[len(found.method) + 1:].isdigit():
            old.unlink()
    paths = []
    for i, e in enumerate(found.directions):
        name = f"{found.method}-{i + 1}"
        paths.append(write_json(folder / f"{name}.json", {
            "attribute": name, "direction": e.tolist(), "chosen_by": found.describe(i), "method": found.method,
            "rank": i + 1, "value": float(found.values[i]), "share": float(found.shares[i]),
            "definition": found.definition, "checkpoint": record["checkpoint"], "epoch": record["epoch"],
            "n": record.get("n"), "seed": record.get("seed")}))
    return paths


# --------------------------------------------------------------------------- finding and applying

def direction(z_all: torch.Tensor, chosen: torch.Tensor) -> torch.Tensor:
    """Unit vector: mean of the chosen latents minus the mean of all latents."""
    d = z_all[chosen].mean(0) - z_all.mean(0)
    norm = d.norm()
    if norm < 1e-8:
        raise ConfigError("the chosen samples' mean latent equals the mean of all samples: no direction "
                           "(choose fewer samples)")
    return d / norm


def chosen_by_classifier(scores: torch.Tensor, attribute: str, seed: int, k: int | None = None):
    """(indices, how): the ``k`` samples (default an eighth) that a classifier scores highest for ``attribute``,
    in index order, and that choice in words."""
    n = scores.shape[0]
    k = k or max(1, n // 8)
    if not 1 <= k < n:
        raise ConfigError(f"--top-k {k}: choose between 1 and {n - 1}")
    chosen = scores.argsort(descending=True)[:k].sort().values
    return chosen, f"the {k} of {n} samples (seed {seed}) the classifier scores highest for {attribute}"


def remove_component(z: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
    return z - (z @ e)[:, None] * e[None, :]


def fitting(e: torch.Tensor, z: torch.Tensor, name: str, latent: str) -> torch.Tensor:
    """Direction ``e`` as a flat vector, refused unless it has as many numbers as the latents ``z`` [n, d]
    (``name``: the direction as the message shows it; ``latent``: whose latent ``z`` is, in words)."""
    e = e.flatten()
    if e.numel() != z.shape[1]:
        raise ConfigError(f"direction {name} has {e.numel()} numbers; {latent} has {z.shape[1]}")
    return e


def along(z: torch.Tensor, e: torch.Tensor, strengths) -> list[tuple[str, torch.Tensor]]:
    """The edits of latents ``z`` [n, d] along unit direction ``e``: ("removed", z - <z, e> e), then
    ("+2e", z + 2 e) and so on for each strength."""
    return [("removed", remove_component(z, e))] + [(f"{s:+g}e", z + s * e[None, :]) for s in strengths]


def add_directions(z: torch.Tensor, strengths: dict | None, known: dict[str, dict],
                   latent: str = "this run's latent") -> torch.Tensor:
    """Latents ``z`` [n, d] plus each direction named in ``strengths`` ({name: strength}) times its strength;
    ``known`` holds the run's directions ({name: record with "direction"})."""
    for name, s in (strengths or {}).items():
        if name not in known:
            raise ConfigError(f"direction {name!r}: this run has {', '.join(known) or 'none'}")
        z = z + float(s) * fitting(known[name]["direction"], z, repr(name), latent)[None, :]
    return z
