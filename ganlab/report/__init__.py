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

from ganlab.errors import ConfigError
from ganlab.report.collect import RunSummary, collect_run, metric_direction
from ganlab.report.page import render

__all__ = ["write_report", "collect_run", "metric_direction", "RunSummary"]


def write_report(runs, out="report.html", title: str | None = None, max_grids: int = 12) -> Path:
    """Write the comparison page of ``runs`` (run folders) to ``out``; returns its path."""
    runs = [Path(r) for r in runs]
    if not runs:
        raise ConfigError("no runs to report")
    summaries = [collect_run(r, max_grids=max_grids) for r in runs]
    _unique_labels(summaries)
    out = Path(out)
    if out.is_dir():
        out = out / "report.html"
    page = render(summaries, title or (summaries[0].label if len(summaries) == 1 else f"{len(summaries)} runs"))
    tmp = out.with_name(out.name + ".tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(page, encoding="utf-8")
        tmp.replace(out)
    except OSError as e:
        if tmp.parent.is_dir():
            tmp.unlink(missing_ok=True)
        raise ConfigError(f"--out {out}: cannot write the report there: {e.strerror or e}") from None
    return out


def _unique_labels(summaries: list[RunSummary]) -> None:
    seen: dict[str, int] = {}
    for s in summaries:
        seen[s.label] = seen.get(s.label, 0) + 1
    for s in summaries:
        if seen[s.label] > 1:
            s.label = f"{s.path.parent.name}/{s.path.name}"
