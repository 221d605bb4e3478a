"""The errors a user can cause and fix, one family for every layer.

Every ganlab layer raises these (and only these) for bad input: a recipe or flag that cannot be used, data
that cannot be read, a run folder that cannot be used, an evaluation that cannot be carried out. The
command line catches ``GanlabError`` alone and prints it as one line with exit status 2; anything else is a
programming error and keeps its traceback.

The subclasses also derive from the built-in exception a caller would expect (``ValueError`` for bad values,
``FileNotFoundError`` for missing weights), so code that catches those keeps working.
"""
from __future__ import annotations


def printable(text) -> str:
    """``text`` (a path, a message) with every byte of a file name that is not UTF-8 written as \\xNN: what the
    file system holds, in text any terminal, log or plot can take (Python keeps such bytes as lone surrogates,
    which cannot be printed, drawn or written as UTF-8)."""
    return str(text).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class GanlabError(Exception):
    """A condition the user can fix, with the reason; printed without a traceback."""


class ConfigError(GanlabError, ValueError):
    """A recipe, override, flag or request (a condition, a view) that cannot be used, with the reason."""


class DataError(GanlabError, ValueError):
    """A data set that cannot be read or used as configured."""


class RunError(GanlabError, RuntimeError):
    """A run folder that cannot be used (missing, not a run, no such checkpoint, not writable)."""


class EvalError(GanlabError, ValueError):
    """An evaluation that cannot be carried out as asked (metrics that do not apply, missing inputs)."""


class WeightsMissing(EvalError, FileNotFoundError):
    """Pretrained weights (Inception) that are not on this machine; the message says where to put them."""


class Interrupted(KeyboardInterrupt):
    """Stopped by a signal (SIGINT, SIGTERM) after saving what could be saved; ``signum`` says which. Not a
    GanlabError: it is caught where KeyboardInterrupt is, and the command line exits with 128 + signum."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


__all__ = ["printable", "GanlabError", "Interrupted", "ConfigError", "DataError", "RunError", "EvalError", "WeightsMissing"]
