"""``ganlab report`` and ``ganlab sweep``: comparing runs, and training a grid of them."""
from __future__ import annotations

import argparse
from pathlib import Path

from ganlab.cli.train import add_train_flags
from ganlab.config import TRAIN_FLAGS
from ganlab.errors import ConfigError


def cmd_report(args) -> int:
    from ganlab.report import write_report
    missing = [r for r in args.runs if not Path(r).exists()]
    if missing:
        raise ConfigError(f"{missing[0]} does not exist")
    if args.max_grids < 1:
        raise ConfigError("--max-grids must be at least 1")
    print(write_report(args.runs, args.out, args.title, args.max_grids))
    return 0


def _compare(args) -> int:
    from ganlab.report.compare import cmd
    return cmd(args)


def cmd_sweep(args) -> int:
    from ganlab.sweep import sweep
    if args.recipe:
        raise ConfigError("give the recipe as the first argument (ganlab sweep RECIPE ...), not with --recipe")
    flags = {f: getattr(args, f) for f in TRAIN_FLAGS if getattr(args, f, None) is not None}
    sweep(args.recipe_arg, args.grid, args.set, flags, args.out, args.jobs, not args.no_report, args.dry_run,
          backend=args.backend, address=args.address, cpus_per_run=args.cpus_per_run,
          gpus_per_run=args.gpus_per_run, seeds=args.seeds)
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("report", help="one self-contained HTML page comparing runs side by side")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folders")
    p.add_argument("--out", default="report.html", help="the HTML file to write (default report.html)")
    p.add_argument("--title", help="page title (default: the run name, or 'N runs')")
    p.add_argument("--max-grids", type=int, default=12,
                   help="sample grids per run on the slider, evenly spaced over training (default 12)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("compare", help="which of two (or more) groups of runs is better on each metric, and how sure")
    p.add_argument("groups", nargs="+", metavar="GROUP",
                   help="a run folder, or a folder of run folders (e.g. one setting's seeds); each is one group. One "
                        "folder of runs (a sweep's): its runs grouped by setting, as the report groups them")
    p.add_argument("--metric", help="the metrics to compare, e.g. fid,kid (default: every score the runs have)")
    p.set_defaults(func=_compare)

    p = sub.add_parser("sweep", help="train every combination of a grid of config values, then write a report")
    p.add_argument("recipe_arg", metavar="RECIPE", help="a recipe name or YAML path")
    p.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...",
                   help="a config key and the values to try (repeatable; the sweep runs every combination)")
    p.add_argument("--seeds", metavar="N|S1,S2,...",
                   help="train every grid point with each seed: a count (3: seeds 0,1,2) or a list; the report "
                        "groups the seeds of a setting and says which settings are better, and how sure")
    add_train_flags(p)
    for action in p._actions:  # the recipe is the positional argument here
        if action.dest == "recipe":
            action.help = argparse.SUPPRESS
    p.add_argument("--out", help="folder for the runs, the report and sweep.json (default runs/sweep-RECIPE-TIME)")
    p.add_argument("--jobs", type=int, default=1, help="runs trained at the same time (default 1)")
    p.add_argument("--backend", default="local", choices=("local", "ray"),
                   help="local (default): subprocesses here, --jobs at a time; ray: one Ray task per run, on a "
                        "local Ray instance or the cluster at --address (the cluster extra)")
    p.add_argument("--address", help="--backend ray: the Ray cluster to use (e.g. ray://HEAD:10001 or auto)")
    p.add_argument("--cpus-per-run", type=float, default=1, help="--backend ray: CPUs each run asks for")
    p.add_argument("--gpus-per-run", type=float, default=0, help="--backend ray: GPUs each run asks for")
    p.add_argument("--no-report", action="store_true", help="do not write OUT/report.html")
    p.add_argument("--dry-run", action="store_true", help="validate, show what would run, run nothing")
    p.set_defaults(func=cmd_sweep)
