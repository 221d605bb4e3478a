"""The report's section on settings over seeds: each setting's mean, spread and interval per metric, the metric
over epochs as a band over its seeds, and the verdicts (``verdict.py``) in words."""
from __future__ import annotations

import base64
import io

from ganlab.report.collect import RunSummary, metric_direction
from ganlab.report.verdict import ALPHA, Setting, describe, fmt, group, scored_metrics, verdicts


def bands_png(settings: list[Setting], metric: str) -> str | None:
    """A data URI: ``metric`` over epochs, a line per setting (the mean over its seeds) in a band from the lowest
    to the highest seed; None where no setting has two evaluations."""
    curves = {}
    for s in settings:
        per_epoch: dict[float, list[float]] = {}
        for r in s.runs:
            for e, v in r.history.get(metric, []):
                per_epoch.setdefault(e, []).append(v)
        if len(per_epoch) >= 2:
            curves[s.label] = sorted(per_epoch.items())
    if not curves:
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5.2, 3.2), dpi=100)
    for label, pts in curves.items():
        xs = [e for e, _ in pts]
        mean = [sum(v) / len(v) for _, v in pts]
        line, = ax.plot(xs, mean, marker="o", ms=3, label=f"{label} ({max(len(v) for _, v in pts)} seeds)")
        ax.fill_between(xs, [min(v) for _, v in pts], [max(v) for _, v in pts], color=line.get_color(), alpha=0.2)
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric + {"lower": " (lower is better)", "higher": " (higher is better)"}.get(
        metric_direction(metric) or "", ""))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def section(runs: list[RunSummary], esc) -> str:
    """The HTML of the section, or "" where no setting was trained with more than one seed."""
    settings = group([r for r in runs if r.is_run])
    if not any(len(s.runs) > 1 for s in settings):
        return ""
    metrics = scored_metrics(settings)
    parts = ['<p class="muted">Runs whose settings differ only in <code>train.seed</code> are one setting. '
             "mean ± standard deviation over its seeds, and a 95% confidence interval for the mean (Student's t). "
             f"Verdicts: Welch's t-test between two settings' seeds, Holm-corrected over the comparisons of each "
             f"metric; a difference is called where the corrected p-value is under {ALPHA}. A setting with one "
             "seed is never called better.</p>"]
    rows = []
    for k in metrics:
        for s in settings:
            vals = list(s.values(k).values())
            if not vals:
                continue
            st = describe(vals)
            ci = f"{fmt(st.lo)} to {fmt(st.hi)}" if st.lo is not None else "-"
            spread = f" ± {fmt(st.std)}" if st.std is not None else ""
            rows.append(f"<tr><th>{esc(k)}</th><th>{esc(s.label)}</th><td class=num>{st.n}</td>"
                        f"<td class=num>{esc(fmt(st.mean) + spread)}</td><td class=num>{esc(ci)}</td></tr>")
    parts.append('<div class="scroll"><table id="seeds"><tr><th>metric</th><th>setting</th><th>seeds</th>'
                 "<th>mean ± std</th><th>95% interval</th></tr>" + "".join(rows) + "</table></div>")
    said = []
    for k in metrics:
        said += [f'<li class="{"called" if v.supported else "open"}">{esc(v.text)}</li>' for v in verdicts(settings, k)]
    if said:
        parts.append('<ul id="verdicts">' + "".join(said) + "</ul>")
    pics = []
    for k in metrics:
        uri = bands_png(settings, k)
        if uri:
            pics.append(f'<figure><img alt="{esc(k)} over epochs, a band over seeds" src="{uri}">'
                        f"<figcaption>{esc(k)}: mean over seeds, band from the lowest to the highest seed"
                        "</figcaption></figure>")
    if pics:
        parts.append('<div class="bands">' + "".join(pics) + "</div>")
    return "".join(parts)
