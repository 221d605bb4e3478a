"""Which setting is better, and how sure: runs grouped into settings over their seeds, and verdicts in words.

A *setting* is a group of runs whose configs differ only in ``train.seed`` (and in what never changes what is
trained: ``collect.IGNORED``), whether a ``ganlab sweep --seeds`` made them or a user did by hand. For each
setting and metric: the seeds' mean, their standard deviation and a 95% confidence interval for the mean
(Student's t with n - 1 degrees of freedom; none for a single seed).

Two settings are compared on a metric with Welch's t-test over their seeds (unequal variances; both need 2 seeds
or more). The p-values of one metric's comparisons are corrected for their number with Holm's step-down method,
and a difference is *supported* when the corrected p-value is under ``ALPHA``. Each verdict says how many seeds
agree: where both settings were trained with the same seeds, in how many of those seeds the better setting's run
beat the other's. A setting with one seed is never called better than another: the verdict says more seeds are
needed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import combinations

from ganlab.report.collect import IGNORED, RunSummary, metric_direction

ALPHA = 0.05
NOT_A_SETTING = IGNORED | {"train.seed"}  # keys that may differ between the seeds of one setting


@dataclass
class Setting:
    label: str
    runs: list[RunSummary]
    key: tuple = ()

    def seed(self, r: RunSummary) -> int | None:
        return r.setting("train.seed")

    def values(self, metric: str) -> dict:
        """{seed: the metric's latest value} for the runs that have it (a run without a seed gets its index)."""
        out = {}
        for i, r in enumerate(self.runs):
            if metric in r.metrics:
                s = self.seed(r)
                out[s if s is not None and s not in out else f"run{i}"] = float(r.metrics[metric])
        return out


@dataclass
class Stat:
    n: int
    mean: float
    std: float | None
    lo: float | None
    hi: float | None


@dataclass
class Verdict:
    metric: str
    a: str                      # the better setting where supported, else the first of the pair
    b: str
    supported: bool
    p: float | None             # Welch's two-sided p-value
    p_adj: float | None         # Holm-corrected over this metric's comparisons
    m: int                      # comparisons corrected for
    wins: tuple | None          # (seeds where a's run beat b's, seeds both have)
    text: str
    stats: dict = field(default_factory=dict)


def group(runs: list[RunSummary]) -> list[Setting]:
    """Runs grouped into settings, in the order of their first run; labels from the settings that differ."""
    groups: dict[tuple, list[RunSummary]] = {}
    for r in runs:
        key = tuple(sorted((k, repr(v)) for k, v in r.config.items() if k not in NOT_A_SETTING)) if r.config \
            else (("path", str(r.path)),)
        groups.setdefault(key, []).append(r)
    keys = list(groups)
    dicts = [dict(k) for k in keys]
    differ = [k for k in sorted(set().union(*dicts)) if len({d.get(k) for d in dicts}) > 1] if len(keys) > 1 else []
    return [Setting(", ".join(f"{k.split('.')[-1]}={_plain(d.get(k, '-'))}" for k in differ) or groups[key][0].label,
                    groups[key], key) for key, d in zip(keys, dicts)]


def scored_metrics(settings: list[Setting]) -> list[str]:
    """The metrics with a direction (scores) that any run of ``settings`` has, in the order first met."""
    found: list[str] = []
    for s in settings:
        for r in s.runs:
            found += [k for k in r.metrics if metric_direction(k) and k not in found]
    return found


def _plain(v) -> str:
    return v[1:-1] if isinstance(v, str) and len(v) > 1 and v[0] == v[-1] == "'" else str(v)


def describe(values: list[float]) -> Stat:
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return Stat(n, mean, None, None, None)
    from scipy import stats
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(stats.t.ppf(1 - ALPHA / 2, n - 1)) * std / math.sqrt(n)
    return Stat(n, mean, std, mean - half, mean + half)


def welch(a: list[float], b: list[float]) -> float | None:
    """Welch's two-sided p-value; None where either side has fewer than 2 values. Equal constant samples: 1;
    different constant samples: 0."""
    if len(a) < 2 or len(b) < 2:
        return None
    from scipy import stats
    sa, sb = describe(a).std, describe(b).std
    if sa == 0 and sb == 0:
        return 1.0 if sum(a) / len(a) == sum(b) / len(b) else 0.0
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def holm(ps: list[float | None]) -> list[float | None]:
    """Holm's step-down correction of the p-values that are not None (their number is the m corrected for)."""
    idx = sorted((i for i, p in enumerate(ps) if p is not None), key=lambda i: ps[i])
    m, out, running = len(idx), list(ps), 0.0
    for rank, i in enumerate(idx):
        running = max(running, min(1.0, (m - rank) * ps[i]))
        out[i] = running
    return out


def fmt(v: float) -> str:
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:.4g}"


def _pm(st: Stat) -> str:
    return fmt(st.mean) + (f" ± {fmt(st.std)}" if st.std is not None else " (1 seed)")


def verdicts(settings: list[Setting], metric: str) -> list[Verdict]:
    """Every pair of settings that both have ``metric``, compared: supported differences first named by the better
    setting; the rest say they cannot be told apart, or that a setting needs more seeds."""
    d = metric_direction(metric)
    have = [s for s in settings if s.values(metric)]
    if d is None or len(have) < 2:
        return []
    pairs = list(combinations(have, 2))
    ps = [welch(list(a.values(metric).values()), list(b.values(metric).values())) for a, b in pairs]
    adj = holm(ps)
    m = sum(p is not None for p in ps)
    out = []
    for (a, b), p, pa in zip(pairs, ps, adj):
        va, vb = a.values(metric), b.values(metric)
        sa, sb = describe(list(va.values())), describe(list(vb.values()))
        a_better = sa.mean < sb.mean if d == "lower" else sa.mean > sb.mean
        if not a_better:
            a, b, va, vb, sa, sb = b, a, vb, va, sb, sa
        common = [s for s in va if s in vb and not str(s).startswith("run")]
        wins = None
        if common:
            wins = (sum((va[s] < vb[s]) if d == "lower" else (va[s] > vb[s]) for s in common), len(common))
        supported = pa is not None and pa < ALPHA
        n = f"{sa.n} vs {sb.n} seeds" if sa.n != sb.n else f"{sa.n} seeds"
        test = f"Welch p = {p:.2g}, Holm-corrected over {m} comparison{'s' if m != 1 else ''}: {pa:.2g}" \
            if p is not None else ""
        seeds_word = f" in {wins[0]} of {wins[1]} seeds" if wins else ""
        if supported:
            text = (f"{a.label} beats {b.label} on {metric}{seeds_word}, {_pm(sa)} vs {_pm(sb)} ({test})")
        elif p is None:
            fewer = a.label if sa.n < 2 else b.label
            text = (f"{a.label} and {b.label} cannot be compared on {metric}: {fewer} has one seed "
                    f"({_pm(sa)} vs {_pm(sb)}); train more seeds (ganlab sweep --seeds 3)")
        else:
            text = (f"{a.label} and {b.label} cannot be told apart on {metric} with {n}, {_pm(sa)} vs {_pm(sb)} "
                    f"({test})")
        out.append(Verdict(metric, a.label, b.label, supported, p, pa, m, wins, text, {a.label: sa, b.label: sb}))
    return sorted(out, key=lambda v: (not v.supported, v.p_adj if v.p_adj is not None else 2.0))


def supported_best(settings: list[Setting], metric: str) -> Setting | None:
    """The setting with the best mean on ``metric`` where it beats every other setting with support; else None."""
    vs = verdicts(settings, metric)
    if not vs:
        return None
    labels = {s.label for s in settings if s.values(metric)}
    for s in settings:
        beaten = {v.b for v in vs if v.supported and v.a == s.label}
        if beaten == labels - {s.label}:
            return s
    return None
