"""How well ``ganlab project`` brings held-out real images into a run's latent space, and how often an edit
along a saved direction moves a classifier's score the intended way.

    python bench/projection.py RUN --data HELD_OUT_FOLDER --classifier CLF.pt [--labels tags.csv]
        [--n 64] [--steps 200] [--starts 4] [--checkpoint latest] [--attribute hair=blonde --strength 2]
        [--figure out.png]

For ``--n`` images of the folder (never trained on): pixel MSE (images in [0, 1]) and the classifier-feature
distance (mean squared difference of ``ganlab train-classifier`` features, relative to the real image's) of
the reconstruction from a random z, from the encoder alone (runs with one), and from the optimised z. With
``--labels`` a conditional run is given each image's own tags; otherwise they are searched. With
``--attribute`` (a direction saved by ``ganlab edit`` in RUN/directions), the share of images whose score for
the attribute rises from the projection to projection + strength x e, and falls to projection - strength x e.
"""
from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run")
    ap.add_argument("--data", required=True)
    ap.add_argument("--classifier", required=True)
    ap.add_argument("--labels")
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--starts", type=int, default=4)
    ap.add_argument("--checkpoint", default="latest")
    ap.add_argument("--attribute")
    ap.add_argument("--strength", type=float, default=2.0)
    ap.add_argument("--figure")
    args = ap.parse_args()
    import torch

    import ganlab
    from ganlab.eval.features.classifier import load_classifier, to_input
    from ganlab.explore.live import decode_upload, read_directions
    from ganlab.explore.project import project
    from ganlab.explore.scorer import AttributeScorer, load_scorer, parse_attribute

    g = ganlab.load(args.run, args.checkpoint)
    c, h, w = g.data_info.shape
    files = sorted(p for p in Path(args.data).iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))[: args.n]
    x = torch.cat([decode_upload(p.read_bytes(), c, h) for p in files])
    cond = None
    if args.labels and g.method.capabilities.conditions == "attributes":
        rows = {r["file"]: r for r in csv.DictReader(open(args.labels))}
        cond = {a: [rows[p.name][a] for p in files] for a in g.data_info.attributes}
    clf = load_classifier(args.classifier)

    def feat_dist(a, b):
        with torch.no_grad():
            fa = clf.features(to_input(a, clf.config["image_size"], clf.config["channels"])).float()
            fb = clf.features(to_input(b, clf.config["image_size"], clf.config["channels"])).float()
        return (((fa - fb) ** 2).mean(1) / (fb ** 2).mean(1)).tolist()

    t = time.perf_counter()
    r = project(g, x, steps=args.steps, starts=args.starts, cond=cond, log=lambda *a: None)
    secs = time.perf_counter() - t
    rows = {}
    s, k = r["starts"], len(files)
    base = g.inputs(k * args.starts, seed=0)
    with torch.no_grad():
        rand_inputs = {n: v[-k:] for n, v in base.items()}  # the last random start's draw
        if cond is not None:
            rand_inputs.update({n: v for n, v in r["inputs"].items() if n != "z"})
        rand = g.generate(rand_inputs)
        rows["random z"] = (r["random"]["mse"].tolist(), feat_dist(rand, x))
        if "encoder" in r:
            from ganlab.data import to_float
            enc_z = g.method.encode(to_float((x * 255).round().to(torch.uint8), g.data_info.output))
            enc = g.generate({"z": enc_z})
            rows["encoder"] = (r["encoder"]["mse"].tolist(), feat_dist(enc, x))
        rows["optimised z"] = (r["mse"].tolist(), feat_dist(r["images"], x))
    print(f"{args.run} ({g.cfg.method}, epoch {g.epoch}), {k} held-out images of {args.data}; {args.steps} steps, "
          f"{s} starts, features {r['features']}; tags {'given' if cond else 'searched/none'}; {secs:.0f} s")
    print(f"{'':<14}{'pixel MSE median (IQR)':>28}{'feature distance median (IQR)':>34}")
    for name, (mse, fd) in rows.items():
        q, f = statistics.quantiles(mse, n=4), statistics.quantiles(fd, n=4)
        print(f"{name:<14}{statistics.median(mse):>12.4f} ({q[0]:.4f}-{q[2]:.4f}){statistics.median(fd):>18.3f} "
              f"({f[0]:.3f}-{f[2]:.3f})")
    if args.attribute:
        name, value = parse_attribute(args.attribute)
        key = args.attribute.replace("=", "-")
        saved = read_directions(g.run.path)
        if key not in saved:
            sys.exit(f"no direction {key} in {g.run.path}/directions: run ganlab edit first")
        e = saved[key]["direction"].flatten()
        scorer = AttributeScorer(load_scorer(args.classifier), name, value, g.data_info.attributes)
        z = r["inputs"]["z"].float().flatten(1)
        with torch.no_grad():
            def at(sv):
                return g.generate({**r["inputs"], "z": (z + sv * e).view_as(r["inputs"]["z"])})
            s0, up, down = scorer(r["images"]), scorer(at(args.strength)), scorer(at(-args.strength))
        print(f"edit along {args.attribute} (direction: {saved[key].get('chosen_by')}), strength "
              f"{args.strength:g}: score rose for {(up > s0).float().mean():.0%} of the projections "
              f"(mean {s0.mean():.3f} -> {up.mean():.3f}) and fell at -{args.strength:g} for "
              f"{(down < s0).float().mean():.0%} (-> {down.mean():.3f})")
        if args.figure:
            from ganlab.explore.common import labelled_grid
            shown = list(range(min(6, k)))
            cols = [x, r["images"], at(-args.strength), at(args.strength)]
            labelled_grid([torch.stack([col[i] for col in cols]) for i in shown], Path(args.figure), None,
                          ["photo", "projection", f"-{args.strength:g}e", f"+{args.strength:g}e"],
                          title=f"held-out faces projected, then along '{args.attribute}'")
            print(args.figure)


if __name__ == "__main__":
    main()
