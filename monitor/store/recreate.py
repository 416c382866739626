"""A new database file in place of one deleted or renamed under the running daemon.

The writer's connection still has the old file open (an unlinked inode, or the renamed file), so
what the daemon goes on from is still readable there and is copied into the new file: the checks
with their ids (every result row and saved state the daemon holds refers to them), the engine's
saved state, what the publishers owe the page and know of it, and the transitions written since
the writer last saw the file in place. History (results, rollups, older transitions, runs) starts
anew in the new file; a renamed file keeps its own, complete.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import stat
import tempfile
import time
from pathlib import Path

import sqlite_utils

from monitor.store.codes import OUTBOX_PENDING
from monitor.store.database import StoreError, identity, open_db
from monitor.store.schema import migrations

log = logging.getLogger("monitor.writer")

CARRIED = (
    ("components", ""),  # before checks: their foreign key
    ("checks", ""),
    ("check_state", ""),
    ("component_state", ""),
    ("outbox", f"WHERE state = {OUTBOX_PENDING}"),  # still owed to the page
    ("publish_state", ""),
    ("publisher_health", ""),
    ("published_incidents", ""),
    ("transitions", "WHERE id > :transitions"),
)


def last_transition(db: sqlite_utils.Database) -> int:
    """The id of the latest transition: those after it are carried into a recreated file."""
    return int(db.execute("SELECT coalesce(max(id), 0) FROM transitions").fetchone()[0])


def _remove(*paths: str) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def _build(old: sqlite_utils.Database, folder: Path, name: str, mode: int, after: int) -> str:
    """A complete new database in a private temporary file beside the old one."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{name}.", suffix=".new", dir=folder)
    except OSError as exc:
        raise StoreError(f"{folder / name}: cannot recreate the database: {exc}") from exc
    try:
        os.fchmod(fd, mode)
        os.close(fd)
        fresh = sqlite_utils.Database(sqlite3.connect(temp))  # rollback journal: no -wal to move
        migrations.apply(fresh)
        fresh.close()
        old.execute("ATTACH DATABASE ? AS fresh", [temp])
        try:
            with old.conn:
                for table, where in CARRIED:
                    old.execute(
                        f"INSERT INTO fresh.{table} SELECT * FROM main.{table} {where}",
                        {"transitions": after},
                    )
        finally:
            old.execute("DETACH DATABASE fresh")
    except (OSError, sqlite3.Error) as exc:
        _remove(temp, f"{temp}-journal")
        raise StoreError(f"{folder / name}: cannot recreate the database: {exc}") from exc
    return temp


def recreate(
    old: sqlite_utils.Database, path: Path, *, mode: int, transitions_after: int
) -> tuple[sqlite_utils.Database, Path]:
    """Build a new database at `path` from what `old` holds, close `old`, and open the new one:
    (its connection, the file it is in). Raises StoreError, with `old` still open and nothing
    at `path`, when the new file cannot be made (a full disk, a read-only folder).

    The old file's -wal and -shm, left at the path's names, are removed before the new file
    takes the name: SQLite would otherwise replay the old WAL into the new database.
    """
    with contextlib.suppress(sqlite3.Error):  # a renamed file gets all it had, without its WAL
        old.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    temp = _build(old, path.parent, path.name, mode, transitions_after)
    if os.path.lexists(path):  # something took the name meanwhile: leave it alone
        _remove(temp)
        raise StoreError(f"{path}: another file appeared at its place; not recreated")
    old.close()
    try:
        _remove(f"{path}-wal", f"{path}-shm")
        os.rename(temp, path)
    except OSError:  # the data stays in the temporary file; the writer tries again later
        return open_db(temp), Path(temp)
    return open_db(path), path


DELETED, REPLACED = "deleted", "replaced"


class DatabaseFile:
    """The file under the writer's connection: which one it has open, whether the path still
    holds it (a stat call at most every `watch_every` seconds), and a new file in its place once
    the path has been empty for `recreate_after` seconds. Used by the writer thread only."""

    def __init__(self, path: Path, *, watch_every: float, recreate_after: float) -> None:
        self.path = path
        self.file = path
        self.watch_every = watch_every
        self.recreate_after = recreate_after
        self.lost: str | None = None  # DELETED or REPLACED
        self.error: str | None = None  # why the last attempt to recreate failed
        self._identity: tuple[int, int] | None = None
        self._mode = 0o600
        self._lost_at = 0.0
        self._due = 0.0
        self._transitions = 0  # the last transition written while the file was in place

    def opened(self, db: sqlite_utils.Database, file: Path) -> None:
        st = os.stat(file)
        self.file, self._identity, self._mode = (
            file,
            (st.st_dev, st.st_ino),
            stat.S_IMODE(st.st_mode),
        )
        self._confirm(db)

    def _confirm(self, db: sqlite_utils.Database) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._transitions = last_transition(db)
        self._due = time.monotonic() + self.watch_every

    def look(self, db: sqlite_utils.Database) -> str | None:
        """None when it is not time to look; "in place" when the path holds the open file (all
        written so far is safe); "lost"; or "due": lost long enough to recreate it."""
        now = time.monotonic()
        if now < self._due:
            return None
        self._due = now + self.watch_every
        try:
            current = identity(self.path)
        except OSError:  # the folder cannot be searched: nothing to tell either way
            return None
        if current is not None and current == self._identity and self.file == self.path:
            if self.lost is not None:
                log.info("writer: database file %s is back in place", self.path)
                self.lost = None
            self._confirm(db)
            return "in place"
        if self.lost is None:
            self._lost_at = now
        self.lost = DELETED if current is None else REPLACED
        due = self.lost == DELETED and now - self._lost_at >= self.recreate_after
        return "due" if due else "lost"

    def replace(self, db: sqlite_utils.Database) -> sqlite_utils.Database | None:
        """A new database at the path, from what `db` holds (closed when this succeeds); None,
        with `error` saying why, when it cannot be made yet."""
        previous = self.file
        try:
            db, file = recreate(db, self.path, mode=self._mode, transitions_after=self._transitions)
        except StoreError as exc:
            self.error = f"{exc}; trying again every {self.watch_every:g} s"
            return None
        self.opened(db, file)
        if previous not in (self.path, file):  # an earlier attempt's file that never took the name
            with contextlib.suppress(OSError):
                os.remove(previous)
        if file != self.path:
            self.error = f"cannot move {file} to {self.path}; trying again"
            return db
        self.lost, self.error = None, None
        return db

    def problem(self) -> str | None:
        """What /healthz and the log say while the path does not hold the open file."""
        if self.lost == DELETED:
            text = (
                f"database file {self.path} was deleted or renamed while running: results are "
                "kept in memory until it is recreated"
            )
            return text if self.error is None else f"{text}; {self.error}"
        if self.lost == REPLACED:
            return (
                f"database file {self.path} was replaced by another file while running: it is "
                "left alone; restart monitor to use it (results are kept in memory meanwhile)"
            )
        return None
