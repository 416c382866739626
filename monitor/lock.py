"""One daemon per database: an exclusive lock held for the life of `monitor run`.

Two daemons on one database would both probe and both publish: two incidents for one outage.
The lock is `fcntl.flock` on a file beside the database (`monitor.db.lock`), so the kernel
releases it when the process ends in any way, `kill -9` included; a stale file left behind
locks nothing. The file says who holds it (PID, host, start time) so the second daemon can name
the first. Read-only commands never take it. Several daemons sharing state is cluster mode.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from pathlib import Path

from monitor.views import rfc3339


class LockHeld(Exception):
    """Another daemon holds the database; the message names it."""

    def __init__(self, path: Path, holder: dict[str, object]) -> None:
        self.path, self.holder = path, holder
        super().__init__(f"{path} is in use by {describe(holder)}")


class LockError(Exception):
    """The lock file cannot be created or locked (a read-only folder, say)."""


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".lock")


def describe(holder: dict[str, object]) -> str:
    pid, host, started = holder.get("pid"), holder.get("host"), holder.get("started")
    if pid is None:
        return "another monitor run (it has not said who it is yet)"
    where = f" on {host}" if host and host != socket.gethostname() else ""
    return f"another monitor run (pid {pid}{where}, started {started})"


class DaemonLock:
    """Held from `acquire` until `release` (or the end of the process)."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path, self._fd = path, fd

    @classmethod
    def acquire(cls, database: Path) -> DaemonLock:
        """Take the lock beside `database`; raises LockHeld naming the holder, or LockError."""
        path = lock_path(database)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise LockError(f"cannot create the lock file {path}: {exc.strerror}") from exc
        for attempt in range(10):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _read(fd)
                # An empty file: a daemon that has locked it but not written its name yet.
                # Look again before refusing.
                if holder or attempt == 9:
                    os.close(fd)
                    raise LockHeld(database, holder) from None
                time.sleep(0.05)
            except OSError as exc:
                os.close(fd)
                raise LockError(f"cannot lock {path}: {exc.strerror}") from exc
        started = rfc3339(time.time())
        me = {"pid": os.getpid(), "host": socket.gethostname(), "started": started}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(me) + "\n").encode(), 0)
        return cls(path, fd)

    def release(self) -> None:
        """Unlock and close; the file stays (removing it would race with a daemon starting)."""
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = -1


def _read(fd: int) -> dict[str, object]:
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
