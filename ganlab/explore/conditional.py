"""``ganlab conditional``: what a conditional model does with its conditions, at fixed noise.

- cgan / acgan: rows are noise vectors; the columns run through every value of one attribute
  (``--attribute``), the other attributes fixed by ``--cond`` or drawn once per row. For a two-valued
  attribute every row is an off/on pair. ACGAN also reports how often its auxiliary classifier reads the
  asked value back from the generated image.
- cgan / acgan with ``--rows ATTR``: one image per pair of values (rows = values of ATTR, columns =
  values of ``--attribute``), every cell at the same noise vector.
- infogan: traversals of a code (``--code c1``): a categorical code through its categories, a
  continuous one over ``--range`` in ``--steps`` steps, the noise and the other codes held per row; one
  figure per code when ``--code`` is not given. Reports how well Q recovers the code.

Every column is drawn with ``g.inputs(n, seed, cond)`` with the same seed, so the noise (and every
condition not varied) is the same along a row.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch

from ganlab.data import from_unit
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
from ganlab.methods.conditioning import parse_cond


def _columns(g, n, seed, fixed: dict, name: str, values: list, z=None) -> tuple[list[dict], list[torch.Tensor]]:
    """Inputs and images for every value of ``name``, all at the same noise: ``z`` when given, else the first
    column's (a method may draw its noise after the conditions, so the seed alone does not fix it)."""
    inputs, images = [], []
    for v in values:
        inp = g.inputs(n, seed, {**fixed, name: v})
        if "z" in inp:
            z = inp["z"] if z is None else z
            inp["z"] = z
        inputs.append(inp)
        images.append(g.generate(inp))
    return inputs, images


def _grid(g, images, n, col_labels, name, out, title, row_prefix="z"):
    rows = [torch.stack([col[i] for col in images]) for i in range(n)]
    png, js = figure_paths(g, name, out)
    geom = labelled_grid(rows, png, [f"{row_prefix}{i}" for i in range(n)], col_labels, title=title)
    return png, js, geom


@torch.no_grad()
def _read_back(g, inputs, images, attribute) -> float:
    """The share of generated images from which the method's own networks (ACGAN's auxiliary classifier)
    read back the asked value of ``attribute``."""
    hits = total = 0
    j = [c.name for c in g.method.condition_specs()].index(attribute)
    for inp, img in zip(inputs, images):
        pred = g.method.read_conditions(from_unit(img, g.data_info.output))[attribute]
        hits += int((pred == inp["codes"][:, j]).sum())
        total += pred.shape[0]
    return hits / max(1, total)


def _attributes(g) -> dict:
    """Attribute name -> its value names, for a method conditioned on attributes."""
    return {c.name: c.values for c in g.method.condition_specs()}


def attribute_view(g, attribute, n, seed, cond_text, out, log) -> dict:
    attrs = _attributes(g)
    if attribute is None:
        if len(attrs) == 1:
            attribute = next(iter(attrs))
        else:
            raise ConfigError(f"say which attribute to vary: --attribute NAME; this model is conditioned on "
                              f"{', '.join(attrs)}")
    if attribute not in attrs:
        raise ConfigError(f"--attribute {attribute!r}: this model is conditioned on {', '.join(attrs)}")
    fixed = parse_cond(cond_text)
    if attribute in fixed:
        raise ConfigError(f"--cond fixes {attribute!r}, the attribute the columns vary; drop it from --cond")
    values = list(attrs[attribute])
    inputs, images = _columns(g, n, seed, fixed, attribute, values)
    reads_back = g.method.capabilities.reads_conditions
    kind = "pairs" if reads_back and len(values) == 2 else "values"
    name = f"conditional-{safe_name(attribute)}"
    title = (f"{g.run.path.name}: {attribute} across columns at fixed noise"
             + (f", {cond_text}" if cond_text else "") + f" (seed {seed})")
    png, js, geom = _grid(g, images, n, [f"{attribute}={v}" for v in values], name, out, title)
    record = {"command": "conditional", "run": str(g.run.path), "method": g.cfg.method, "attribute": attribute,
              "values": values, "fixed": fixed, "n": n, "seed": seed, "layout": kind, "png": str(png),
              "grid": geom, "summary": f"{attribute}: {len(values)} values x {n} noise vectors"}
    if reads_back:
        acc = _read_back(g, inputs, images, attribute)
        record["aux_accuracy"] = acc
        record["summary"] += f"; auxiliary classifier reads back {acc:.1%}"
        log(f"{g.cfg.method} auxiliary classifier accuracy on the {attribute} of these samples: {fmt(acc)} "
            f"(chance {fmt(1 / len(values))})")
    write_json(js, record)
    log(png)
    return record


def pair_view(g, attribute, rows_attr, seed, cond_text, out, log) -> dict:
    """One image per (rows_attr value, attribute value) pair, every cell at the same noise."""
    attrs = _attributes(g)
    for flag, a in (("--attribute", attribute), ("--rows", rows_attr)):
        if a is None or a not in attrs:
            raise ConfigError(f"{flag} {a!r}: this model is conditioned on {', '.join(attrs)}")
    if attribute == rows_attr:
        raise ConfigError(f"--rows and --attribute both name {attribute!r}; give two different attributes")
    fixed = parse_cond(cond_text)
    clash = [a for a in (attribute, rows_attr) if a in fixed]
    if clash:
        raise ConfigError(f"--cond fixes {', '.join(clash)}, which the grid varies; drop it from --cond")
    row_values, col_values = list(attrs[rows_attr]), list(attrs[attribute])
    z0, rows = None, []
    for rv in row_values:  # each row: _columns over the column values, at the first row's noise
        inputs, images = _columns(g, 1, seed, {**fixed, rows_attr: rv}, attribute, col_values, z=z0)
        z0 = inputs[0].get("z")
        rows.append(torch.cat(images))
    name = f"conditional-{safe_name(rows_attr)}-x-{safe_name(attribute)}"
    png, js = figure_paths(g, name, out)
    title = (f"{g.run.path.name}: {rows_attr} (rows) x {attribute} (columns) at one noise vector"
             + (f", {cond_text}" if cond_text else "") + f" (seed {seed})")
    geom = labelled_grid(rows, png, [f"{rows_attr}={v}" for v in row_values], [str(v) for v in col_values],
                         title=title)
    record = {"command": "conditional", "run": str(g.run.path), "method": g.cfg.method, "attribute": attribute,
              "rows": rows_attr, "values": col_values, "row_values": row_values, "fixed": fixed, "seed": seed,
              "layout": "pairs-grid", "png": str(png), "grid": geom,
              "summary": f"{rows_attr} x {attribute}: {len(row_values)} x {len(col_values)} tag pairs at one noise"}
    write_json(js, record)
    log(png)
    return record


@torch.no_grad()
def code_view(g, code, n, seed, cond_text, steps, lo, hi, out, log) -> list[dict]:
    m = g.method
    specs = m.condition_specs()
    names = [c.name for c in specs]
    n_cat = sum(c.kind == "categorical" for c in specs)
    codes = [code] if code else names
    bad = [c for c in codes if c not in names]
    if bad:
        raise ConfigError(f"--code {bad[0]!r}: this model has codes {', '.join(names)} "
                           f"({n_cat} categorical, then {len(names) - n_cat} continuous)")
    fixed = parse_cond(cond_text)
    if out and len(codes) > 1 and not (str(out).endswith("/") or Path(out).is_dir()):
        raise ConfigError(f"--out {out}: one figure per code ({', '.join(codes)}) needs a folder (end it with /), "
                           "or pick one code with --code")
    records = []
    for c in codes:
        j = names.index(c)
        if specs[j].kind == "categorical":
            values = list(specs[j].values)
            labels = [f"{c}={v}" for v in values]
        else:
            values = torch.linspace(lo, hi, steps).tolist()
            labels = [f"{c}={v:+.2f}" for v in values]
        fx = {k: v for k, v in fixed.items() if k != c}
        inputs, images = _columns(g, n, seed, fx, c, values)
        title = f"{g.run.path.name}: traversal of {c}, noise and other codes fixed per row (seed {seed})"
        png, js, geom = _grid(g, images, n, labels, f"conditional-{safe_name(c)}", out, title)
        record = {"command": "conditional", "run": str(g.run.path), "method": g.cfg.method, "code": c,
                  "kind": "categorical" if j < n_cat else "continuous", "values": values, "fixed": fx, "n": n,
                  "seed": seed, "png": str(png), "grid": geom,
                  "summary": f"traversal of {c} ({len(values)} columns x {n} rows)"}
        if m.capabilities.reads_conditions:
            read = m.read_conditions(from_unit(torch.cat(images), g.data_info.output))[c]
            asked = torch.tensor([v for v in values for _ in range(n)], dtype=torch.float32)
            if specs[j].kind == "categorical":
                acc = float((read.float() == asked).float().mean())
                record["q_accuracy"] = acc
                record["summary"] += f"; Q recovers the category {acc:.1%}"
                log(f"{c}: Q reads back the asked category in {acc:.1%} of the samples (chance {1 / len(values):.1%})")
            else:
                pred = read.float()
                r = float(torch.corrcoef(torch.stack([pred, asked]))[0, 1]) if pred.std() > 0 else 0.0
                record["q_correlation"] = r
                record["summary"] += f"; corr(Q, code) {r:.2f}"
                log(f"{c}: correlation of Q's estimate with the code: {fmt(r)}")
        write_json(js, record)
        log(png)
        records.append(record)
    return records


def conditional(run, attribute=None, code=None, n=8, seed=0, cond=None, steps=7, lo=-1.0, hi=1.0,
                checkpoint=None, device="cpu", out=None, log=print, rows=None):
    if n < 1:
        raise ConfigError(f"--n {n}: need at least one row")
    if steps < 2:
        raise ConfigError(f"--steps {steps}: a traversal needs at least 2 columns")
    g = load_generator(run, checkpoint, device)
    require_images(g, "conditional")
    m = g.method
    names = ", ".join(c.name for c in m.condition_specs())
    if m.capabilities.conditions == "codes":
        if rows is not None:
            raise ConfigError(f"--rows applies to models conditioned on attributes; {g.cfg.method} has codes")
        if attribute is not None:
            raise ConfigError(f"--attribute {attribute}: method {g.cfg.method} has latent codes ({names}), "
                              "not attributes: use --code")
        return code_view(g, code, n, seed, cond, steps, lo, hi, out, log)
    if m.capabilities.conditions == "attributes":
        if code is not None:
            raise ConfigError(f"--code {code}: method {g.cfg.method} is conditioned on attributes ({names}), "
                              "not codes: use --attribute")
        if rows is not None:
            return [pair_view(g, attribute, rows, seed, cond, out, log)]
        return [attribute_view(g, attribute, n, seed, cond, out, log)]
    raise ConfigError(f"method {g.cfg.method} is unconditional: it has no attributes or codes to vary "
                       "(conditional views need a cgan, acgan or infogan run)")


def cmd(args) -> int:
    try:
        lo, hi = (float(s) for s in args.range.split(","))
    except ValueError:
        raise ConfigError(f"--range {args.range!r}: expected LO,HI, e.g. -2,2") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo == hi:
        raise ConfigError(f"--range {args.range!r}: expected two different finite numbers LO,HI, e.g. -2,2")
    conditional(args.run, args.attribute, args.code, args.n, args.seed, args.cond, args.steps, lo, hi,
                args.checkpoint, args.device, args.out, rows=args.rows_attribute)
    return 0
