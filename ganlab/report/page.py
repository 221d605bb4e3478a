"""The HTML of the report: plain string building with every text escaped, CSS and a little JS inline, every
image a base64 data URI."""
from __future__ import annotations

import base64
import html
import time
from pathlib import Path

from ganlab.methods import METHODS
from ganlab.report.collect import KEY_SETTINGS, RunSummary, metric_direction
from ganlab.report.seeds import section as seeds_section
from ganlab.report.verdict import group, supported_best

MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
        ".svg": "image/svg+xml", ".webp": "image/webp"}

CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', 'DejaVu Sans', sans-serif; margin: 18px; color: #222;
       background: #fafafa; }
h1 { font-size: 22px; margin: 0 0 4px 0; } h2 { font-size: 18px; margin: 26px 0 8px 0; }
h3 { font-size: 16px; margin: 0 0 4px 0; word-break: break-all; }
.muted { color: #777; font-size: 12px; }
table { border-collapse: collapse; font-size: 13px; background: #fff; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.differs td { background: #fff8e1; }
td.nondefault { font-weight: 600; }
td.best { background: #d9f2d9; font-weight: 700; }
#verdicts li.called { font-weight: 600; } #verdicts li.open { color: #555; }
.bands { display: flex; flex-wrap: wrap; gap: 8px; } .bands figure { margin: 0; }
.scroll { overflow-x: auto; max-width: 100%; }
.runs { display: grid; grid-template-columns: repeat(auto-fill, minmax(380px, 1fr)); gap: 14px; }
.card { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 10px; min-width: 0; }
.card img { max-width: 100%; display: block; }
img.big { width: 100%; image-rendering: pixelated; border: 1px solid #eee; }
.strip { display: flex; gap: 3px; overflow-x: auto; margin-top: 4px; }
.strip img.thumb { width: 44px; height: 44px; object-fit: cover; cursor: pointer; border: 2px solid transparent;
                   image-rendering: pixelated; flex: none; }
.strip img.thumb.sel { border-color: #1f77b4; }
.slider { display: flex; align-items: center; gap: 8px; font-size: 12px; }
.slider input { flex: 1; }
.health { display: inline-block; border-radius: 3px; padding: 1px 6px; margin: 2px 4px 2px 0; font-size: 12px; }
.health.hard { background: #f4d3d3; color: #800; } .health.soft { background: #f6ecc8; color: #740; }
.health.ok { background: #dcefdc; color: #262; }
.problems { color: #a55; font-size: 12px; font-style: italic; margin: 4px 0; padding-left: 18px; }
.tags span { display: inline-block; background: #eef; border-radius: 3px; padding: 0 5px; margin: 1px;
             font-size: 12px; }
figure { margin: 8px 0; } figcaption { font-size: 12px; color: #555; }
details summary { cursor: pointer; font-size: 13px; margin: 6px 0; }
"""

HEAD_JS = """
window.__errors = [];
window.addEventListener('error', function (e) {
  var t = e.target;
  var msg = (t && t.tagName === 'IMG') ? ('image failed to load: ' + (t.alt || '?')) : String(e.message || e);
  window.__errors.push(msg);
  document.documentElement.dataset.errors = window.__errors.join(' | ');
}, true);
"""

BODY_JS = """
document.querySelectorAll('.samples').forEach(function (box) {
  var big = box.querySelector('img.big');
  var range = box.querySelector('input[type=range]');
  var label = box.querySelector('.epoch-label');
  var thumbs = box.querySelectorAll('img.thumb');
  function show(i) {
    big.src = thumbs[i].src;
    label.textContent = thumbs[i].dataset.label;
    thumbs.forEach(function (t) { t.classList.remove('sel'); });
    thumbs[i].classList.add('sel');
    if (range) { range.value = i; }
  }
  if (range) { range.addEventListener('input', function () { show(+range.value); }); }
  thumbs.forEach(function (t, i) { t.addEventListener('click', function () { show(i); }); });
});
function checkImages() {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.dataset.imagesTotal = String(imgs.length);
  document.body.dataset.imagesOk = String(ok);
  document.body.dataset.imagesLoaded = (ok === imgs.length) ? 'true' : 'false';
  document.body.dataset.errors = window.__errors.join(' | ');
}
if (document.readyState === 'complete') { checkImages(); } else { window.addEventListener('load', checkImages); }
"""


def esc(x) -> str:
    return html.escape(str(x), quote=True)


def data_uri(path: Path) -> str:
    mime = MIME.get(Path(path).suffix.lower(), "application/octet-stream")
    return f"data:{mime};base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def img(path: Path, alt: str, cls: str = "", extra: str = "") -> str:
    try:
        src = data_uri(path)
    except OSError:
        return f'<div class="problems">cannot read {esc(Path(path).name)}</div>'
    c = f' class="{cls}"' if cls else ""
    return f'<img{c} alt="{esc(alt)}" src="{src}"{extra}>'


def fmt_value(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list):
        return "[" + ", ".join(fmt_value(x) for x in v) + "]"
    return str(v)


# --------------------------------------------------------------------------- sections

def applies(key: str, method) -> bool:
    """Whether config key ``key`` means anything for ``method``: a section that some methods declare as theirs
    (``capabilities.sections``) applies to those alone; elsewhere its values are noise, shown as "-"."""
    section = key.split(".", 1)[0]
    owners = [name for name, cls in METHODS.items() if section in cls.capabilities.sections]
    return not owners or method in owners


def settings_table(runs: list[RunSummary]) -> str:
    keyset = [k for _, k in KEY_SETTINGS]
    labels = dict((k, lab) for lab, k in KEY_SETTINGS)
    extra = sorted({k for r in runs for k in r.non_default} - set(keyset))
    rows = []
    for key in keyset + extra:
        vals = [r.setting(key) if r.is_run and applies(key, r.setting("method")) else None for r in runs]
        if key not in extra and all(v is None for v in vals):
            continue  # e.g. train.steps when no run caps the steps
        used = [v for v, r in zip(vals, runs) if r.is_run and applies(key, r.setting("method"))]
        if not used:
            continue
        differs = len(runs) > 1 and len({repr(v) for v in used}) > 1
        cells = []
        for v, r in zip(vals, runs):
            nd = key in r.non_default and applies(key, r.setting("method"))
            cls = ' class="nondefault"' if nd else ""
            cells.append(f"<td{cls}>{esc(fmt_value(v))}</td>")
        name = labels.get(key, key)
        title = f' title="{esc(key)}"'
        rows.append(f'<tr{" class=differs" if differs else ""}><th{title}>{esc(name)}</th>{"".join(cells)}</tr>')
    head = "".join(f"<th>{esc(r.label)}</th>" for r in runs)
    return (f'<div class="scroll"><table id="settings"><tr><th>setting</th>{head}</tr>{"".join(rows)}</table></div>'
            '<p class="muted">bold: differs from the default; shaded rows: differ between runs.</p>')


def metrics_table(runs: list[RunSummary]) -> str:
    keys: list[str] = []
    for r in runs:
        for k in r.metrics:
            if k not in keys:
                keys.append(k)
    if not keys:
        return '<p class="muted">No run has been evaluated yet (no eval.jsonl): run <code>ganlab eval RUN</code>.</p>'
    known = [k for k in keys if metric_direction(k)]
    keys = known + [k for k in keys if k not in known]
    def context(r, k):  # values are comparable only on the same data, image size and feature space
        return (r.metrics_features.get(k), r.setting("data.source"), r.setting("data.image_size"))

    starred = set()  # (metric, run index): the best where the difference is supported (see supported_runs)
    for k in keys:
        if not metric_direction(k):
            continue
        groups: dict = {}
        for i, r in enumerate(runs):
            if k in r.metrics:
                groups.setdefault(context(r, k), []).append(i)
        for idx in groups.values():
            starred |= {(k, i) for i in supported_runs([runs[i] for i in idx], idx, k)}
    head = "".join(f'<th title="{esc(_dir_text(k))}">{esc(k)}{_arrow(k)}</th>' for k in keys)
    rows = []
    for i, r in enumerate(runs):
        cells = []
        for k in keys:
            if k not in r.metrics:
                cells.append('<td class="num">-</td>')
                continue
            v = r.metrics[k]
            is_best = (k, i) in starred
            cls = "num best" if is_best else "num"
            std = f" &plusmn; {esc(fmt_value(r.metrics_std[k]))}" if k in r.metrics_std else ""
            cells.append(f'<td class="{cls}">{esc(fmt_value(v))}{std}{" &#9733;" if is_best else ""}</td>')
        rows.append(f"<tr><th>{esc(r.label)}</th><td>{esc(_when(r.metrics_meta))}</td>{''.join(cells)}</tr>")
    return (f'<div class="scroll"><table id="metrics"><tr><th>run</th><th>evaluated</th>{head}</tr>'
            f'{"".join(rows)}</table></div>'
            '<p class="muted">Latest value of each metric in eval.jsonl, &plusmn; its sampling spread where the evaluation '
            'gives one (FID: over bootstrap resamples of both feature sets; KID: over subsets). &#8595; lower is '
            'better, &#8593; higher is '
            'better; &#9733; the best value in the column among runs on the same data and image size, evaluated with '
            'the same features (a FID in one feature space says nothing about a FID in another), and only where the '
            'difference is supported: over seeds, its setting beats every other in a Welch test (Holm-corrected; '
            'see Settings over seeds); for one run per setting, its lead over the runner-up is more than twice their '
            'combined sampling spread (&plusmn;), where the evaluation gives one. Without seeds or a spread there is '
            'no star: train more seeds (<code>ganlab sweep --seeds 3</code>).</p>')


def supported_runs(runs: list[RunSummary], idx: list[int], k: str) -> list[int]:
    """Of the comparable ``runs`` (indices ``idx``), those that get the star for metric ``k``: the runs of the
    supported best setting over seeds, or the best single run whose lead is over twice the combined sampling
    spread."""
    settings = group(runs)
    if len(settings) < 2:
        return []
    if any(len(s.values(k)) > 1 for s in settings):
        best = supported_best(settings, k)
        return [i for i, r in zip(idx, runs) if best is not None and any(r is x for x in best.runs)]
    lower = metric_direction(k) == "lower"
    order = sorted(zip(idx, runs), key=lambda t: t[1].metrics[k] if lower else -t[1].metrics[k])
    (i1, r1), (_, r2) = order[0], order[1]
    s1, s2 = r1.metrics_std.get(k), r2.metrics_std.get(k)
    if s1 is None or s2 is None or abs(r1.metrics[k] - r2.metrics[k]) <= 2 * (s1 ** 2 + s2 ** 2) ** 0.5:
        return []
    return [i1]


def _when(meta: dict) -> str:
    parts = []
    if meta.get("epoch") is not None:
        parts.append(f"epoch {meta['epoch']}")
    if meta.get("checkpoint"):
        parts.append(Path(str(meta["checkpoint"])).name)
    if meta.get("time"):
        parts.append(str(meta["time"]).replace("T", " "))
    return ", ".join(parts) or "-"


def _arrow(k: str) -> str:
    d = metric_direction(k)
    return " &#8595;" if d == "lower" else " &#8593;" if d == "higher" else ""


def _dir_text(k: str) -> str:
    d = metric_direction(k)
    return f"{d} is better" if d else "not ranked"


def run_card(r: RunSummary, i: int) -> str:
    parts = [f'<div class="card" id="run-{i}"><h3>{esc(r.label)}</h3><div class="muted">{esc(r.path)}</div>']
    if r.is_run:
        planned = r.setting("train.epochs")
        steps = r.setting("train.steps")
        prog = r.progress
        line = []
        if "epochs_done" in prog:
            line.append(f"epoch {prog['epochs_done']}/{planned}")
        if "g_step" in prog:
            line.append(f"{prog['g_step']} G steps" + (f" of {steps}" if steps else ""))
        line.append(f"{r.setting('method')}, {r.setting('objective.loss')}")
        parts.append(f'<div class="muted">{esc("; ".join(line))}</div>')
        tricks = {k: v for k, (v, _) in r.non_default.items() if k.startswith("tricks.")}
        if tricks:
            tags = "".join(f"<span>{esc(k[7:])}={esc(fmt_value(v))}</span>" for k, v in tricks.items())
            parts.append(f'<div class="tags">tricks: {tags}</div>')
        other = {k: v for k, (v, _) in r.non_default.items() if not k.startswith("tricks.")}
        if other:
            items = "".join(f"<tr><th>{esc(k)}</th><td>{esc(fmt_value(v))}</td></tr>" for k, v in sorted(other.items()))
            parts.append(f"<details><summary>{len(other)} settings differ from the defaults</summary>"
                         f"<table>{items}</table></details>")
    if r.health:  # one badge per finding of RUN/health.jsonl: what, and the iteration where it began
        parts.append("<div>" + "".join(
            f'<span class="health {"hard" if f.get("severity") == "hard" else "soft"}" title="{esc(f.get("message", ""))}">'
            f'{esc(f["kind"].replace("_", " "))} from iteration {esc(f.get("began", "?"))}</span>' for f in r.health) + "</div>")
    elif r.is_run and r.progress and r.setting("train.health") is True:
        parts.append('<div><span class="health ok">health: no findings</span></div>')
    if r.problems:
        parts.append('<ul class="problems">' + "".join(f"<li>{esc(p)}</li>" for p in r.problems) + "</ul>")
    if r.grids:
        last_epoch, last_path = r.grids[-1]
        thumbs = "".join(img(p, f"{r.label} epoch {e}", "thumb" + (" sel" if j == len(r.grids) - 1 else ""),
                             f' data-label="epoch {e}"') for j, (e, p) in enumerate(r.grids))
        shown = (f"{len(r.grids)} of {r.n_grids_total} grids" if r.n_grids_total > len(r.grids)
                 else f"{len(r.grids)} grids")
        slider = (f'<input type="range" min="0" max="{len(r.grids) - 1}" value="{len(r.grids) - 1}" '
                  f'aria-label="epoch">' if len(r.grids) > 1 else "")
        parts.append(f'<h4>samples over training <span class="muted">({shown}, fixed noise)</span></h4>'
                     f'<div class="samples">{img(last_path, f"{r.label} samples", "big")}'
                     f'<div class="slider">{slider}<span class="epoch-label">epoch {last_epoch}</span></div>'
                     f'<div class="strip">{thumbs}</div></div>')
    if r.losses is not None:
        parts.append(f"<h4>losses</h4>{img(r.losses, f'{r.label} losses')}")
    if r.metrics:
        rows = "".join(f'<tr><th>{esc(k)}{_arrow(k)}</th><td class="num">{esc(fmt_value(v))}'
                       + (f" &plusmn; {esc(fmt_value(r.metrics_std[k]))}" if k in r.metrics_std else "")
                       + "</td></tr>" for k, v in r.metrics.items())
        parts.append(f"<h4>metrics</h4><table>{rows}</table>")
    if r.figures:
        figs = "".join(f"<figure>{img(p, cap)}<figcaption>{esc(cap)}</figcaption></figure>" for p, cap in r.figures)
        parts.append(f"<details open><summary>{len(r.figures)} figures</summary>{figs}</details>")
    parts.append("</div>")
    return "".join(parts)


def render(runs: list[RunSummary], title: str) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M")
    index = " &middot; ".join(f'<a href="#run-{i}">{esc(r.label)}</a>' for i, r in enumerate(runs))
    body = [f"<h1>{esc(title)}</h1>",
            f'<div class="muted">ganlab report, {esc(stamp)}, {len(runs)} run{"s" if len(runs) != 1 else ""}: '
            f"{index}</div>",
            "<h2>Settings</h2>", settings_table(runs),
            "<h2>Metrics</h2>", metrics_table(runs),
            *(["<h2>Settings over seeds</h2>", over_seeds] if (over_seeds := seeds_section(runs, esc)) else []),
            "<h2>Runs</h2>", '<div class="runs">', *(run_card(r, i) for i, r in enumerate(runs)), "</div>"]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{esc(title)}</title>"
            f"<style>{CSS}</style><script>{HEAD_JS}</script></head>\n<body>\n" + "\n".join(body)
            + f"\n<script>{BODY_JS}</script>\n</body></html>\n")
