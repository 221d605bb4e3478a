"""The ``ganlab`` command line: the roof over the library. Each subcommand parses its flags and calls library
functions; the modules here hold all the argparse wiring and nothing below imports them.

Errors a user can fix (``ganlab.errors.GanlabError``) are printed as one line with exit status 2; any other
exception is a bug and keeps its traceback.
"""
from __future__ import annotations

import argparse
import os
import sys

from ganlab.cli import evaluate, explore, report, train
from ganlab.errors import GanlabError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ganlab", description="Train, compare, evaluate and explore GANs on image datasets. "
                                   "'ganlab COMMAND --help' explains each command.")
    sub = parser.add_subparsers(dest="command", required=True)
    train.add_parsers(sub)          # train, recipes
    evaluate.add_parsers(sub)       # sample, eval, train-classifier
    explore.add_parsers(sub)        # interpolate, edit, conditional, vae-views, embed, probe
    report.add_parsers(sub)         # report, sweep
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except GanlabError as e:
        print(f"ganlab {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (ganlab recipes | head): nothing left to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit flush does not fail again
        return 0


__all__ = ["build_parser", "main"]
