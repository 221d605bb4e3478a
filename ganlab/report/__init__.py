"""``ganlab report``: one self-contained HTML page that puts runs side by side.

For every run: its recipe and key settings (and every setting that differs from the defaults), the
sample grids over training (a slider and a strip of thumbnails), the loss curves, the latest metrics of
``ganlab eval`` and the figures of the exploration commands. Across runs: a table of the settings that
differ between them and a table of the latest metrics with the best value of each column marked.
Images are embedded as base64 data URIs; the page needs no server, no network and no external files.
A run with missing pieces shows what it has.

    from ganlab.report import write_report
    write_report(["runs/a", "runs/b"], "report.html")
"""
from __future__ import annotations

from pathlib import Path

from ganlab.report.collect import RunSummary, collect_run, metric_direction
from ganlab.report.page import render

__all__ = ["write_report", "collect_run", "metric_direction", "RunSummary", "add_parser"]


def write_report(runs, out="report.html", title: str | None = None, max_grids: int = 12) -> Path:
    """Write the comparison page of ``runs`` (run folders) to ``out``; returns its path."""
    runs = [Path(r) for r in runs]
    if not runs:
        raise ValueError("no runs to report")
    summaries = [collect_run(r, max_grids=max_grids) for r in runs]
    _unique_labels(summaries)
    out = Path(out)
    if out.is_dir():
        out = out / "report.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    page = render(summaries, title or (summaries[0].label if len(summaries) == 1 else f"{len(summaries)} runs"))
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)
    return out


def _unique_labels(summaries: list[RunSummary]) -> None:
    seen: dict[str, int] = {}
    for s in summaries:
        seen[s.label] = seen.get(s.label, 0) + 1
    for s in summaries:
        if seen[s.label] > 1:
            s.label = f"{s.path.parent.name}/{s.path.name}"


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="one self-contained HTML page comparing runs side by side")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folders")
    p.add_argument("--out", default="report.html", help="the HTML file to write (default report.html)")
    p.add_argument("--title", help="page title (default: the run name, or 'N runs')")
    p.add_argument("--max-grids", type=int, default=12,
                   help="sample grids per run on the slider, evenly spaced over training (default 12)")
    p.set_defaults(func=cmd)


def cmd(args) -> int:
    from ganlab.explore.common import ExploreError
    missing = [r for r in args.runs if not Path(r).exists()]
    if missing:
        raise ExploreError(f"{missing[0]} does not exist")
    if args.max_grids < 1:
        raise ExploreError("--max-grids must be at least 1")
    out = write_report(args.runs, args.out, args.title, args.max_grids)
    print(out)
    return 0
