"""``ganlab compare A B [...]``: groups of run folders side by side on the command line, with the verdicts of the
report's section on seeds. Each argument is one group: a run folder, or a folder whose subfolders are runs (e.g. one
setting's seeds); the groups are what the user says they are. With one argument, a folder of runs such as a sweep's,
its runs are grouped into settings as the report groups them (runs that differ only in ``train.seed``)."""
from __future__ import annotations

from pathlib import Path

from ganlab.errors import ConfigError
from ganlab.report.collect import collect_run, metric_direction
from ganlab.report.verdict import Setting, describe, fmt, group, scored_metrics, verdicts
from ganlab.runs.folder import RunDir


def runs_of(arg: str) -> list[Path]:
    p = Path(arg)
    if not p.is_dir():
        raise ConfigError(f"{arg}: no such folder (give run folders, or folders of run folders)")
    if RunDir(p).is_run():
        return [p]
    runs = sorted(q for q in p.iterdir() if q.is_dir() and RunDir(q).is_run())
    if not runs:
        raise ConfigError(f"{arg} is not a run folder and holds none (no config.yaml in it or in its subfolders)")
    return runs


def compare(groups: list[str], metrics: list[str] | None = None, log=print) -> dict:
    """Print each metric's table (group, runs, mean ± std, 95% interval) and the verdicts; return them."""
    if not groups:
        raise ConfigError("give two groups of runs to compare, or one folder of runs (a sweep) to group by setting")
    if len(groups) == 1:  # a sweep's folder: its runs grouped into settings as the report groups them
        settings = group([collect_run(p) for p in runs_of(groups[0])])
        if len(settings) < 2:
            raise ConfigError(f"the runs in {groups[0]} are all one setting (they differ in train.seed at most): "
                              "give a second group to compare them with")
    else:
        settings = [Setting(Path(arg).name or str(arg), [collect_run(p) for p in runs_of(arg)]) for arg in groups]
        if len({s.label for s in settings}) < len(settings):
            for s, arg in zip(settings, groups):
                s.label = str(arg)
    found = scored_metrics(settings)
    if metrics:
        unknown = [m for m in metrics if m not in found]
        if unknown:
            raise ConfigError(f"--metric {unknown[0]}: the runs have {', '.join(found) or 'no scores'} "
                              "(ganlab eval RUN writes them)")
        found = list(metrics)
    if not found:
        raise ConfigError("none of the runs has a score to compare (no eval.jsonl): run ganlab eval RUN first")
    out = {}
    width = max(len(s.label) for s in settings)
    for k in found:
        arrow = {"lower": "lower is better", "higher": "higher is better"}[metric_direction(k)]
        log(f"\n{k} ({arrow})")
        log(f"  {'group':<{width}}  runs  mean ± std           95% interval")
        for s in settings:
            vals = list(s.values(k).values())
            if not vals:
                log(f"  {s.label:<{width}}     0  -")
                continue
            st = describe(vals)
            spread = f"{fmt(st.mean)} ± {fmt(st.std)}" if st.std is not None else f"{fmt(st.mean)}"
            ci = f"{fmt(st.lo)} to {fmt(st.hi)}" if st.lo is not None else "-"
            log(f"  {s.label:<{width}}  {st.n:>4}  {spread:<20} {ci}")
        vs = verdicts(settings, k)
        for v in vs:
            log(f"  - {v.text}")
        out[k] = vs
    return out


def cmd(args) -> int:
    compare(args.groups, [m.strip() for m in args.metric.split(",")] if args.metric else None)
    return 0
