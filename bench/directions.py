"""Are label-free directions meaningful? SeFa's and GANSpace's directions of a trained run against random
directions (the control), read by an attribute classifier of the real images (``ganlab train-classifier``).

For each direction e, ``--n`` samples are moved to z - s e and z + s e (s = ``--strength``); the classifier's
probability of every attribute value is compared between the two sides, per unit of movement:

    effect(attribute) = mean over samples of [p(z + s e) - p(z - s e)] / (2 s)

A direction's *reach* is its largest |effect| over the attributes the classifier reads reliably (held-out
accuracy at least ``--margin`` above always guessing the majority, from the report ``train-classifier`` wrote
beside the .pt), and its *pixels* the mean absolute pixel change per unit. Random directions are drawn uniformly
on the sphere (``--random`` of them, seeded), so a label-free method is meaningful where its directions reach
further than random ones: the table gives each family's median reach and how many of its directions beat the
random directions' 95th percentile.

    python bench/directions.py --run RUN --classifier clf.pt [--k 8] [--random 32] [--n 256] [--strength 2]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from ganlab.eval.features.classifier import load_classifier, to_input
from ganlab.explore import unsupervised
from ganlab.explore.common import load_generator
from ganlab.explore.scorer import value_index


def reliable_columns(clf, report: dict, margin: float) -> list[tuple[str, int, str]]:
    """(head, column, name) of every attribute value the classifier reads at least ``margin`` better than the
    majority guess: binary heads by their 'on' column, others by each value."""
    acc, base = report.get("heldout_accuracy", {}), report.get("majority_baseline", {})
    cols = []
    for head, values in clf.attributes.items():
        if acc.get(head, 0) - base.get(head, 1) < margin:
            continue
        if len(values) == 2:
            i = value_index(values, head, None, 2)
            cols.append((head, i, head))
        else:
            cols += [(head, i, f"{head}={v}") for i, v in enumerate(values)]
    return cols


@torch.no_grad()
def probabilities(clf, images: torch.Tensor, cols, batch_size: int = 256) -> torch.Tensor:
    """[N, len(cols)]: the classifier's probability of each chosen attribute value."""
    cfg = clf.config
    out = []
    for i in range(0, images.shape[0], batch_size):
        logits = clf(to_input(images[i:i + batch_size], cfg["image_size"], cfg["channels"]))
        probs = {h: torch.softmax(v.float(), 1) for h, v in logits.items()}
        out.append(torch.stack([probs[h][:, c] for h, c, _ in cols], 1))
    return torch.cat(out)


def effects(g, clf, cols, inputs: dict, e: torch.Tensor, s: float) -> tuple[torch.Tensor, float]:
    z = inputs["z"]
    flat = z.float().flatten(1)

    def moved(sign):
        return g.generate({**inputs, "z": (flat + sign * s * e[None, :]).view_as(z).to(z.dtype)})
    plus, minus = moved(1), moved(-1)
    eff = (probabilities(clf, plus, cols) - probabilities(clf, minus, cols)).mean(0) / (2 * s)
    return eff, float((plus - minus).abs().mean()) / (2 * s)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True)
    ap.add_argument("--classifier", required=True)
    ap.add_argument("--k", type=int, default=8, help="directions per label-free method (default 8)")
    ap.add_argument("--random", type=int, default=32, help="random directions, the control (default 32)")
    ap.add_argument("--n", type=int, default=256, help="samples moved along each direction (default 256)")
    ap.add_argument("--strength", type=float, default=2.0, help="s: samples at z - s e and z + s e (default 2)")
    ap.add_argument("--margin", type=float, default=0.03,
                    help="attributes read at least this much above the majority guess (default 0.03)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write every number here")
    args = ap.parse_args()
    t0 = time.time()
    g = load_generator(args.run)
    clf = load_classifier(args.classifier)
    report = json.loads(Path(args.classifier).with_suffix(".json").read_text())
    cols = reliable_columns(clf, report, args.margin)
    if not cols:
        raise SystemExit("the classifier reads no attribute above --margin; train it longer")
    inputs = g.inputs(args.n, args.seed)
    d = inputs["z"][0].numel()
    gen = torch.Generator().manual_seed(args.seed + 1)
    families = {m: unsupervised.find(g, m, args.k, seed=args.seed).directions for m in unsupervised.METHODS}
    families["random"] = torch.nn.functional.normalize(torch.randn(args.random, d, generator=gen), dim=1)
    rows = []
    for fam, dirs in families.items():
        for i, e in enumerate(dirs):
            eff, pix = effects(g, clf, cols, inputs, e, args.strength)
            j = int(eff.abs().argmax())
            rows.append({"family": fam, "rank": i + 1, "attribute": cols[j][2], "effect": float(eff[j]),
                         "reach": float(eff.abs().max()), "pixels": pix})
    rand = sorted(r["reach"] for r in rows if r["family"] == "random")
    p95 = rand[min(len(rand) - 1, int(0.95 * len(rand)))]
    print(f"run {args.run} (epoch {g.epoch}); classifier {args.classifier}: {len(cols)} attribute values read "
          f"reliably; {args.n} samples, s = {args.strength}; {time.time() - t0:.0f} s")
    print("\n| direction | attribute it moves most | change in P per unit | pixels per unit |")
    print("|---|---|---|---|")
    for r in rows:
        if r["family"] != "random":
            print(f"| {r['family']}-{r['rank']} | {r['attribute']} | {r['effect']:+.3f} | {r['pixels']:.4f} |")
    print("\n| family | directions | median reach | beat random's 95th percentile | median pixels per unit |")
    print("|---|---|---|---|---|")
    for fam in families:
        mine = [r for r in rows if r["family"] == fam]
        beat = sum(r["reach"] > p95 for r in mine)
        print(f"| {fam} | {len(mine)} | {statistics.median(r['reach'] for r in mine):.3f} | "
              f"{beat} of {len(mine)} (p95 {p95:.3f}) | {statistics.median(r['pixels'] for r in mine):.4f} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "p95_random": p95, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
