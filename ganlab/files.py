"""Writing files so that a process killed at any moment leaves either the old file or the new one whole:
written to a temporary file in the same folder, flushed, then renamed over the old one."""
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


def save_atomic(obj, path: Path, what: str = "checkpoint") -> None:
    """``torch.save`` of ``obj`` (a checkpoint, or another ``what``) to ``path``, atomically."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as e:
        tmp.unlink(missing_ok=True)
        cause = _os_error(e)
        if cause is None:
            raise
        raise RunError(f"cannot write {what} {path}: {cause.strerror or cause}; the previous {what} is kept") from None
    except BaseException:  # interrupted while writing: the old file stays, the partial one goes
        tmp.unlink(missing_ok=True)
        raise


def copy_atomic(src: Path, dst: Path, what: str = "checkpoint") -> None:
    """``dst`` with the bytes of ``src``, atomically: a file copy (the kernel's, without serialising anything
    again). Not a hard link: the copy is a second, independent file, so damage to one leaves the other."""
    src, dst = Path(src), Path(dst)
    tmp = dst.with_name(f".{dst.name}.tmp-{os.getpid()}")
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise RunError(f"cannot write {what} {dst}: {e.strerror or e}; the previous {what} is kept") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise RunError(f"cannot write {path}: {e.strerror or e}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_jsonl(path: Path) -> list[dict]:
    """The records (mappings) of a JSON-lines file, skipping lines that are not one (cut by a kill, edited);
    [] when the file cannot be read."""
    out = []
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out
