"""``ganlab edit``: an attribute direction in the latent space, removed from and added to samples (and, with
``--unsupervised sefa|ganspace``, the run's label-free directions: ``edit_unsupervised``).

Samples are drawn with ``g.inputs(n, seed)``: the same latents as ``ganlab sample RUN --numbered --n N
--seed S`` (so ``--select`` can name tiles of that sheet). Some of them are chosen: by index
(``--select 3,7,12``) or, with ``--classifier``, the ``--top-k`` that the classifier scores highest for the
attribute. The direction is

    e = normalise( mean(z of the chosen samples) - mean(z of all n samples drawn) )

(subtracting the mean of all drawn latents cancels what every sample shares, including the sampling
noise of the mean; with a standard normal prior that mean is close to 0). The figure shows the chosen
samples before the edit, with the component along e removed (z - <z, e> e), and with multiples of e
added (z + s e for each ``--strength`` s). With a classifier, its mean score for the attribute is
reported for each column.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch

from ganlab.errors import ConfigError
from ganlab.explore.common import (
    figure_paths,
    fmt,
    labelled_grid,
    load_generator,
    require_images,
    safe_name,
    write_json,
)
from ganlab.explore.directions import (  # noqa: F401  (remove_component: tests import it from here)
    DEFINITION,
    along,
    chosen_by_classifier,
    direction,
    fitting,
    read_directions,
    remove_component,
    save_direction,
    save_found,
)
from ganlab.explore.photos import read_photo
from ganlab.explore.project import project


def parse_numbers(text: str, what: str, kind=float) -> list:
    """'3,7,12' -> [3, 7, 12] (``kind`` int or float), with an error naming the flag."""
    example = "3,7,12" if kind is int else "1,2,3"
    noun = "whole numbers" if kind is int else "numbers"
    try:
        vals = [kind(s) for s in text.replace(" ", "").split(",") if s != ""]
    except ValueError:
        raise ConfigError(f"{what} {text!r}: expected {noun} separated by commas, e.g. {example}") from None
    if not vals:
        raise ConfigError(f"{what}: no numbers given")
    if not all(math.isfinite(v) for v in vals):
        raise ConfigError(f"{what} {text!r}: expected finite {noun}, e.g. {example}")
    return vals


def edit(run, attribute: str, classifier=None, select=None, strength=(1.0, 2.0, 3.0), n=None, seed=0,
         top_k=None, rows=8, checkpoint=None, device="cpu", out=None, log=print) -> dict:
    from ganlab.explore.scorer import (
        AttributeScorer,
        load_scorer,
        parse_attribute,
    )

    if classifier is None and select is None:
        raise ConfigError("say which samples show the attribute: --select i,j,k (tile numbers of "
                           "'ganlab sample RUN --numbered --n N --seed S') or --classifier PATH")
    if rows < 1:
        raise ConfigError(f"--rows {rows}: show at least one sample")
    g = load_generator(run, checkpoint, device)
    require_images(g, "edit")
    name, value = parse_attribute(attribute)
    scorer = None
    if classifier is not None:
        scorer = AttributeScorer(load_scorer(classifier, device), name, value, g.data_info.attributes)
    if n is None:
        n = 16 if select is not None else 512
    if n < 2:
        raise ConfigError(f"--n {n}: need at least 2 samples")
    inputs = g.inputs(n, seed)
    if "z" not in inputs or not torch.is_tensor(inputs["z"]):
        raise ConfigError(f"method {g.cfg.method} has no latent vector z to edit")
    z_all = inputs["z"].float().flatten(1)
    images = None
    scores_all = None
    if scorer is not None:
        images = g.generate(inputs)
        scores_all = scorer(images)
    if select is not None:
        idx = parse_numbers(select, "--select", int) if isinstance(select, str) else list(select)
        bad = [i for i in idx if not 0 <= i < n]
        if bad:
            raise ConfigError(f"--select {bad[0]} is not a tile of the sheet of --n {n} samples (0..{n - 1}); give "
                               "the same --n and --seed as 'ganlab sample --numbered'")
        chosen = torch.tensor(sorted(set(idx)))
        how = f"selected tiles {','.join(map(str, chosen.tolist()))} of {n} (seed {seed})"
    else:
        chosen, how = chosen_by_classifier(scores_all, attribute, seed, top_k)
    e = direction(z_all, chosen)
    strengths = parse_numbers(strength, "--strength", float) if isinstance(strength, str) else list(strength)

    def with_z(z):
        d = dict(inputs)
        d["z"] = z.view_as(inputs["z"]).to(inputs["z"].dtype)
        return d

    variants = [("before", z_all)] + along(z_all, e, strengths)
    shown = chosen[:rows]
    columns, score_table = [], {}
    for label, z in variants:
        imgs = images if (label == "before" and images is not None) else g.generate(with_z(z))
        columns.append(imgs[shown])
        if scorer is not None:
            sc = scores_all if label == "before" else scorer(imgs)
            score_table[label] = {"chosen": float(sc[chosen].mean()), "all": float(sc.mean())}
    grid_rows = [torch.stack([col[i] for col in columns]) for i in range(len(shown))]
    fig = f"edit-{safe_name(name if value is None else f'{name}-{value}')}"
    png, js = figure_paths(g, fig, out)
    col_labels = [lab if scorer is None else f"{lab} {score_table[lab]['chosen']:.2f}" for lab, _ in variants]
    title = f"{g.run.path.name}: direction '{attribute}' from {len(chosen)} samples"
    geom = labelled_grid(grid_rows, png, [f"#{i}" for i in shown.tolist()], col_labels, title=title)
    proj = z_all @ e
    record = {"command": "edit", "run": str(g.run.path), "checkpoint": str(g.checkpoint_path), "epoch": g.epoch,
              "attribute": attribute, "n": n, "seed": seed, "chosen": chosen.tolist(), "chosen_by": how,
              "direction_definition": DEFINITION,
              "direction": e.tolist(), "strengths": strengths, "columns": [lab for lab, _ in variants],
              "shown": shown.tolist(), "projection": {"chosen_mean": float(proj[chosen].mean()),
                                                     "all_mean": float(proj.mean()), "all_std": float(proj.std())},
              "png": str(png), "grid": geom}
    if scorer is not None:
        record["classifier"] = str(classifier)
        record["scores"] = score_table
        b, r = score_table["before"]["chosen"], score_table["removed"]["chosen"]
        record["summary"] = f"classifier score of the chosen samples: {b:.3f} before, {r:.3f} with e removed"
        log(f"mean classifier score for {attribute} (chosen {len(chosen)} / all {n}):")
        for lab, s in score_table.items():
            log(f"  {lab:>8}: {fmt(s['chosen'])} / {fmt(s['all'])}")
    else:
        record["summary"] = f"direction from {how}"
    log(f"direction: {how}; <z,e> chosen {fmt(record['projection']['chosen_mean'])}, "
        f"all {fmt(record['projection']['all_mean'])} +- {fmt(record['projection']['all_std'])}")
    write_json(js, record)
    saved = save_direction(g.run.path, fig[len("edit-"):], attribute, e, how, record)
    log(png)
    log(f"direction saved to {saved} (ganlab explore shows it as a slider)")
    return record


def edit_unsupervised(run, method: str, k: int = 10, n=None, seed=0, rows=3, strength=(-3, -2, -1, 0, 1, 2, 3),
                      checkpoint=None, device="cpu", out=None, log=print) -> dict:
    """``ganlab edit RUN --unsupervised sefa|ganspace``: the run's top ``k`` label-free directions
    (``explore/unsupervised.py``), saved in ``RUN/directions/<method>-<i>.json``, and a figure with a row per
    direction and sample (``rows`` samples drawn from ``seed``) and a column per strength."""
    from ganlab.explore import unsupervised
    g = load_generator(run, checkpoint, device)
    require_images(g, "edit --unsupervised")
    if rows < 1:
        raise ConfigError(f"--rows {rows}: show at least one sample")
    strengths = parse_numbers(strength, "--strength", float) if isinstance(strength, str) else list(strength)
    found = unsupervised.find(g, method, k, n, seed)
    inputs = g.inputs(rows, seed)
    z = inputs["z"].float().flatten(1)
    grid_rows, labels = [], []
    for i, e in enumerate(found.directions):
        moved = torch.cat([z + s * e[None, :] for s in strengths])  # strength-major: [len(strengths) * rows, d]
        same = {key: (v.repeat(len(strengths), *[1] * (v.dim() - 1)) if torch.is_tensor(v) else v)
                for key, v in inputs.items()}
        same["z"] = moved.reshape(moved.shape[0], *inputs["z"].shape[1:]).to(inputs["z"].dtype)
        imgs = g.generate(same).view(len(strengths), rows, *g.data_info.shape)
        for r in range(rows):
            grid_rows.append(imgs[:, r])
            labels.append(f"{method}-{i + 1} #{r}")
    png, js = figure_paths(g, f"edit-{method}", out)
    title = f"{g.run.path.name}: {len(found.directions)} {method} directions, {rows} samples each"
    geom = labelled_grid(grid_rows, png, labels, [f"{s:+g}" if s else "0" for s in strengths], title=title)
    record = {"command": "edit", "run": str(g.run.path), "checkpoint": str(g.checkpoint_path), "epoch": g.epoch,
              "unsupervised": method, "k": len(found.directions), "definition": found.definition,
              "n": n if method == "ganspace" else None, "seed": seed, "strengths": strengths, "rows": rows,
              "directions": [{"name": f"{method}-{i + 1}", "value": float(found.values[i]),
                              "share": float(found.shares[i]), "about": found.describe(i)}
                             for i in range(len(found.directions))],
              "png": str(png), "grid": geom}
    write_json(js, record)
    saved = save_found(g.run.path, found, record)
    for d in record["directions"]:
        log(f"  {d['name']}: {d['about']}")
    log(png)
    log(f"{len(saved)} directions saved to {saved[0].parent} (ganlab explore shows them as sliders)")
    return record


def edit_photo(run, image, attribute: str, classifier=None, select=None, strength=(-2.0, -1.0, 1.0, 2.0), n=None,
               seed=0, top_k=None, checkpoint=None, device="cpu", out=None, steps=300, log=print) -> dict:
    """A real photo edited along an attribute's direction: the photo, its projection (``ganlab project``), the
    projection with the direction's component removed, and with multiples of the direction added. The direction
    is found as ``edit`` finds it (``--select`` / ``--classifier``), or read from ``RUN/directions`` where
    ``edit`` saved it."""
    from ganlab.explore.scorer import AttributeScorer, load_scorer, parse_attribute
    g = load_generator(run, checkpoint, device)
    require_images(g, "edit --image")
    name, value = parse_attribute(attribute)
    key = safe_name(name if value is None else f"{name}-{value}")
    if classifier is None and select is None:
        saved = read_directions(g.run.path)
        if key not in saved:
            raise ConfigError(f"no direction '{attribute}' saved in {g.run.path / 'directions'} (saved: "
                              f"{', '.join(saved) or 'none'}); find it first with --select or --classifier")
        e = saved[key]["direction"].flatten()
        how = saved[key].get("chosen_by", "saved")
    else:
        rec = edit(run, attribute, classifier, select, (1.0,), n, seed, top_k, 1, checkpoint, device,
                   out=None, log=lambda *a: None)
        e, how = torch.tensor(rec["direction"]), rec["chosen_by"]
    photo = read_photo(image, g)
    result = project(g, photo, steps=steps, log=log)
    inputs = result["inputs"]
    z = inputs["z"].float().flatten(1)
    e = fitting(e, z, f"'{attribute}'", f"the latent of {g.run.path}")
    strengths = parse_numbers(strength, "--strength", float) if isinstance(strength, str) else list(strength)
    variants = along(z, e, strengths)
    images = [photo, result["images"]]
    for _, zz in variants:
        images.append(g.generate({**inputs, "z": zz.view_as(inputs["z"]).to(inputs["z"].dtype)}))
    labels = ["photo", "projection"] + [lab for lab, _ in variants]
    scores = None
    if classifier is not None:
        scorer = AttributeScorer(load_scorer(classifier, device), name, value, g.data_info.attributes)
        scores = {lab: float(scorer(img)[0]) for lab, img in zip(labels, images)}
        labels = [f"{lab} {scores[lab]:.2f}" for lab in labels]
    fig = f"edit-{key}-{safe_name(Path(image).stem)}"
    png, js = figure_paths(g, fig, out)
    geom = labelled_grid([torch.cat(images)], png, None, labels,
                         title=f"{Path(image).name} along '{attribute}' ({g.run.path.name})")
    record = {"command": "edit", "run": str(g.run.path), "checkpoint": str(g.checkpoint_path), "epoch": g.epoch,
              "image": str(image), "attribute": attribute, "direction_chosen_by": how, "strengths": strengths,
              "projection_mse": float(result["mse"][0]), "columns": labels, "png": str(png), "grid": geom}
    if scores is not None:
        record["scores"] = scores
    write_json(js, record)
    log(f"projection MSE {record['projection_mse']:.4f}; direction: {how}")
    log(png)
    return record


def cmd(args) -> int:
    if args.unsupervised:
        if args.attribute or args.select or args.classifier or args.image:
            raise ConfigError("--unsupervised finds directions without labels: drop --attribute, --select, "
                              "--classifier and --image (a photo moves along a saved direction with "
                              "--image PHOTO --attribute sefa-1)")
        strength = args.strength if args.strength != "1,2,3" else "-3,-2,-1,0,1,2,3"
        rows = 3 if args.rows is None else args.rows
        edit_unsupervised(args.run, args.unsupervised, args.k, args.n, args.seed, rows, strength, args.checkpoint,
                          args.device, args.out)
        return 0
    if not args.attribute:
        raise ConfigError("say which direction: --attribute NAME (with --select or --classifier), or "
                          "--unsupervised sefa|ganspace to find directions without labels")
    if args.image:
        strength = args.strength if args.strength != "1,2,3" else "-2,-1,1,2"
        edit_photo(args.run, args.image, args.attribute, args.classifier, args.select, strength, args.n, args.seed,
                   args.top_k, args.checkpoint, args.device, args.out)
        return 0
    edit(args.run, args.attribute, args.classifier, args.select, args.strength, args.n, args.seed, args.top_k,
         8 if args.rows is None else args.rows, args.checkpoint, args.device, args.out)
    return 0
