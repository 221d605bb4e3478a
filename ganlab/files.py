"""Writing files so that a process killed at any moment leaves either the old file or the new one whole:
written to a temporary file in the same folder, flushed, then renamed over the old one."""
from __future__ import annotations

import os
from pathlib import Path

import torch

from ganlab.errors import RunError


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
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise RunError(f"cannot write {what} {path}: {e.strerror or e}; the previous {what} is kept") from None


def write_text_atomic(path: Path, text: str) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise RunError(f"cannot write {path}: {e.strerror or e}") from None
