"""Writing files so that a process killed at any moment leaves either the old file or the new one whole:
written to a temporary file in the same folder, flushed to the disk, then renamed over the old one. And reading
the run's JSON-lines logs, with one rule for a line that does not parse."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch

from ganlab.errors import RunError


def _os_error(e: BaseException) -> OSError | None:
    """The OSError behind ``e``: torch.save's zip writer reports a failed write (a full disk) as a RuntimeError
    raised while it closes the archive, with the OSError as its context."""
    seen = 0
    while e is not None and seen < 10:
        if isinstance(e, OSError):
            return e
        e, seen = e.__cause__ or e.__context__, seen + 1
    return None


def _replace(path: Path, write, what: str | None, kept: bool) -> None:
    """The one atomic write: ``write(tmp)`` fills a temporary file beside ``path``, which is flushed to the disk
    (fsync) and renamed over ``path``, so a crash or a power cut leaves the old file or the new one whole, never
    a renamed file whose bytes never reached the disk. A failed write (a full disk) is a RunError naming ``path``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as e:
        tmp.unlink(missing_ok=True)
        cause = _os_error(e)
        if cause is None:
            raise
        name = f"{what} {path}" if what else str(path)
        raise RunError(f"cannot write {name}: {cause.strerror or cause}"
                       + (f"; the previous {what} is kept" if kept else "")) from None
    except BaseException:  # interrupted while writing: the old file stays, the partial one goes
        tmp.unlink(missing_ok=True)
        raise


def save_atomic(obj, path: Path, what: str = "checkpoint") -> None:
    """``torch.save`` of ``obj`` (a checkpoint, or another ``what``) to ``path``, atomically."""
    def write(tmp):
        with open(tmp, "wb") as f:
            torch.save(obj, f)
    _replace(path, write, what, kept=True)


def copy_atomic(src: Path, dst: Path, what: str = "checkpoint") -> None:
    """``dst`` with the bytes of ``src``, atomically: a file copy (the kernel's, without serialising anything
    again). Not a hard link: the copy is a second, independent file, so damage to one leaves the other."""
    _replace(dst, lambda tmp: shutil.copyfile(src, tmp), what, kept=True)


def write_text_atomic(path: Path, text: str) -> None:
    """``text`` as the content of ``path``, atomically."""
    _replace(path, lambda tmp: Path(tmp).write_text(text), None, kept=False)


def _record(line: str) -> dict | None:
    try:
        rec = json.loads(line)
    except json.JSONDecodeError:
        return None
    return rec if isinstance(rec, dict) else None


def _lines(path: Path) -> list[str]:
    try:
        return [line for line in Path(path).read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return []


def read_jsonl(path: Path) -> list[dict]:
    """The records of a JSON-lines file (metrics.jsonl, eval.jsonl), in order; [] when it cannot be read.

    The one rule for every reader: a line that is not one JSON mapping (cut by a kill or a full disk, edited by
    hand) is skipped, and the lines after it are read. Each line is a record of its own (a loss at one iteration,
    one metric of one evaluation), so a cut line loses that record only; stopping there would hide every later
    record, such as the rows ``ganlab eval`` appends to a run whose training was killed while writing."""
    return [r for r in map(_record, _lines(path)) if r is not None]


def keep_jsonl(path: Path, keep) -> list[dict]:
    """Keep only the records of a JSON-lines file for which ``keep(record)`` is true, and drop the lines that do
    not parse (by ``read_jsonl``'s rule); the file is rewritten (atomically) only when a line goes. Returns the
    records kept. A resumed run cuts its logs back to its checkpoint with this, so the lines it appends next never
    follow a cut line."""
    lines = _lines(path)
    kept = [r for r in map(_record, lines) if r is not None and keep(r)]
    if len(kept) != len(lines):
        write_text_atomic(path, "".join(json.dumps(r) + "\n" for r in kept))
    return kept
