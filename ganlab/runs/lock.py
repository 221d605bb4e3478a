"""One writer per run folder: ``RUN/.lock`` holds the training process's PID, host and start time.

The lock file is written whole under a temporary name and hard-linked into place, which fails when a lock is
already there, so two processes starting together cannot both win and a reader never sees a half-written
lock. A lock whose process has exited (or whose PID now belongs to a process started later) is stale and is
taken over, saying so; a lock from another host cannot be checked and is refused with the way out.
"""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from ganlab.errors import RunError

LOCK_NAME = ".lock"


def _process_start(pid: int) -> int | None:
    """The start time of process ``pid`` in clock ticks since boot (Linux), to tell a reused PID apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def _alive(pid: int, started: int | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        pass
    if started is not None:
        now = _process_start(pid)
        if now is not None and now != started:
            return False  # the PID was reused by a newer process
    return True


class RunLock:
    """``with RunLock(folder): ...`` or ``acquire()`` / ``release()``. Raises RunError when the folder has a
    live writer or cannot be written."""

    def __init__(self, folder, log=print):
        self.folder, self.log = Path(folder), log
        self.path = self.folder / LOCK_NAME
        self.held = False

    def owner(self) -> dict | None:
        """The lock's record, {} for an unreadable one, None when there is no lock."""
        try:
            d = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}
        return d if isinstance(d, dict) else {}

    def acquire(self) -> "RunLock":
        me = {"pid": os.getpid(), "host": socket.gethostname(), "started": _process_start(os.getpid()),
              "since": time.strftime("%Y-%m-%dT%H:%M:%S")}
        tmp = self.folder / f".lock.tmp-{os.getpid()}"
        try:
            tmp.write_text(json.dumps(me))
            for _ in range(3):
                try:
                    os.link(tmp, self.path)
                    self.held = True
                    return self
                except FileExistsError:
                    self._handle_existing()
            raise RunError(f"cannot take the lock {self.path}: another process keeps taking it")
        except OSError as e:
            raise RunError(f"cannot write the run folder {self.folder}: {e.strerror or e}") from None
        finally:
            tmp.unlink(missing_ok=True)

    def _handle_existing(self) -> None:
        owner = self.owner()
        if owner is None:
            return  # released in the meantime: try again
        pid, host = owner.get("pid"), owner.get("host")
        if not isinstance(pid, int):
            self.log(f"removing the unreadable lock file {self.path}")
        elif host != socket.gethostname():
            raise RunError(f"{self.folder} is locked by process {pid} on {host} ({self.path}); if that process "
                           "is no longer running, delete the lock file and try again")
        elif _alive(pid, owner.get("started")):
            raise RunError(f"{self.folder} is being trained by process {pid} (since {owner.get('since', '?')}, "
                           f"lock {self.path}); wait for it to finish or stop it, then try again")
        else:
            self.log(f"removing a stale lock {self.path}: process {pid}, which held it, is no longer running")
        self.path.unlink(missing_ok=True)

    def release(self) -> None:
        if self.held:
            owner = self.owner()
            if owner and owner.get("pid") == os.getpid():
                self.path.unlink(missing_ok=True)
            self.held = False

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
