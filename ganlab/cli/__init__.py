"""The ``ganlab`` command line: the roof over the library. Each subcommand parses its flags and calls library
functions; the modules here hold all the argparse wiring and nothing below imports them.

Errors a user can fix (``ganlab.errors.GanlabError``) are printed as one line with exit status 2; any other
exception is a bug and keeps its traceback.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from ganlab.cli import evaluate, explore, report, train
from ganlab.errors import GanlabError, Interrupted


class Parser(argparse.ArgumentParser):
    """argparse with its errors on one line (the usage is one ``--help`` away); subcommands inherit it."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="ganlab", description="Train, compare, evaluate and explore GANs on image datasets. "
                                   "'ganlab COMMAND --help' explains each command.")
    sub = parser.add_subparsers(dest="command", required=True)
    train.add_parsers(sub)          # train, recipes
    evaluate.add_parsers(sub)       # sample, eval, train-classifier
    explore.add_parsers(sub)        # interpolate, edit, conditional, vae-views, embed, probe, export
    report.add_parsers(sub)         # report, compare, sweep
    return parser


def _on_sigterm(signum, frame):
    raise Interrupted(signum)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    old = None
    if threading.current_thread() is threading.main_thread():  # SIGTERM stops any command as Ctrl-C does
        old = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return args.func(args)
    except GanlabError as e:  # one line, whatever a library's message quoted in it holds (torch's span lines)
        print(f"ganlab {args.command}: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    except OSError as e:  # a full or read-only disk, a file that vanished: the path and the cause
        if isinstance(e, BrokenPipeError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit flush does not fail again
            return 0  # the reader went away (ganlab recipes | head): nothing left to say
        where = f"{e.filename}: " if e.filename else ""
        print(f"ganlab {args.command}: error: {where}{e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        print(f"ganlab {args.command}: interrupted", file=sys.stderr)
        return 128 + getattr(e, "signum", signal.SIGINT)
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)


__all__ = ["build_parser", "main"]
