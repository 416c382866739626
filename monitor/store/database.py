"""The database file: created private, opened to write (the daemon) or only to read (every other
command), and refused, untouched, when it is not ours or is newer than this release.

A monitor database records the migrations it has applied in `_sqlite_migrations` under the set
"monitor"; its schema version is how many it has applied. The daemon upgrades an older one. The
read-only commands never write, not even to turn on WAL or to create a table, so they ask for the
daemon to upgrade it. A file is looked at read-only before anything writes to it, so a file that
is not ours is left exactly as it was.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import urllib.parse
from pathlib import Path

import sqlite_utils

from monitor.store.schema import migrations

_EMPTY = sqlite_utils.Database(memory=True, execute_plugins=False)
_KNOWN = [m.name for m in migrations.pending(_EMPTY)]
SCHEMA_VERSION = len(_KNOWN)
"""The schema version this release writes: the number of migrations it knows."""
_MAGIC = b"SQLite format 3\x00"
_FIX = "monitor leaves it alone: point [monitor] database at another file"


class StoreError(Exception):
    """The database cannot be opened or upgraded; the message says which file and why."""


class NotOurDatabase(StoreError):
    """The file is not a monitor database (another program's, or not SQLite at all)."""


class NewerSchema(StoreError):
    """The database was written by a newer release of monitor."""


class OlderSchema(StoreError):
    """A read-only command met a database the daemon has not upgraded yet."""


class NoDatabase(StoreError):
    """A read-only command found no database, or an empty one: nothing to read yet."""


def identity(path: Path | str) -> tuple[int, int] | None:
    """(device, inode) of the file at `path`, or None when there is none: tells whether the file
    a connection opened is still the one at the path."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return st.st_dev, st.st_ino


def create_private(path: Path, mode: int = 0o600) -> bool:
    """Create an empty database file readable by its owner only (probe results hold URLs with
    query tokens); SQLite gives its -wal and -shm the same mode. Returns False when it exists:
    an existing file keeps the mode its owner gave it."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    except FileExistsError:
        return False
    try:
        os.fchmod(fd, mode)  # whatever the umask
    finally:
        os.close(fd)
    return True


def schema_version(conn: sqlite3.Connection, path: Path | str) -> int:
    """The schema version of a database of ours, 0 for an empty one (no table at all).

    Raises NotOurDatabase or NewerSchema. Only reads.
    """
    tables = {
        name
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    }
    table = migrations.migrations_table
    applied: list[str] = []
    if table in tables:
        with contextlib.suppress(sqlite3.Error):  # another program's table of that name
            applied = [
                name
                for (name,) in conn.execute(
                    f"SELECT name FROM {table} WHERE migration_set = ?", [migrations.name]
                )
            ]
    theirs = sorted(tables - {table})
    if not applied:
        if not theirs:
            return 0
        shown = ", ".join(theirs[:5]) + (f" and {len(theirs) - 5} more" if len(theirs) > 5 else "")
        raise NotOurDatabase(
            f"{path}: not a monitor database (it has the tables {shown}, and no record of "
            f"monitor's schema); {_FIX}"
        )
    unknown = [name for name in applied if name not in _KNOWN]
    if unknown and len(applied) > SCHEMA_VERSION:
        raise NewerSchema(
            f"{path} has schema version {len(applied)}; this monitor knows up to "
            f"{SCHEMA_VERSION}: upgrade monitor or use another database"
        )
    if unknown:
        raise NewerSchema(
            f"{path} has schema changes this monitor does not know ({', '.join(unknown)}): "
            "upgrade monitor or use another database"
        )
    return len(applied)


def _connect_readonly(path: Path, busy_timeout: float) -> sqlite3.Connection:
    """A connection that cannot write and creates no file when nobody else has the database
    open. A WAL database with no -wal beside it is complete in its main file, so it is read
    as immutable (SQLite would otherwise create a -wal and -shm and leave them); with a -wal
    (a daemon is running, or was killed) readers share the -shm as SQLite documents."""
    if path.is_dir():
        raise StoreError(f"{path}: cannot open the database: it is a folder; {_FIX}")
    try:
        with path.open("rb") as file:
            header = file.read(100)
    except FileNotFoundError:
        raise NoDatabase(f"{path}: no database yet; start the daemon with: monitor run") from None
    except OSError as exc:
        raise StoreError(
            f"{path}: cannot open the database: {exc.strerror}; the user running monitor must "
            "be able to read it"
        ) from exc
    if header and not header.startswith(_MAGIC):
        raise NotOurDatabase(
            f"{path}: cannot open the database (file is not a database); it is not a monitor "
            f"database, and {_FIX}"
        )
    wal = len(header) > 18 and header[18] == 2
    options = "immutable=1" if wal and not os.path.exists(f"{path}-wal") else "mode=ro"
    uri = f"file:{urllib.parse.quote(str(path.absolute()))}?{options}"
    conn = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=busy_timeout)
    conn.execute("PRAGMA query_only = 1")
    return conn


def _translate(path: Path | str, exc: sqlite3.Error) -> StoreError:
    return StoreError(
        f"{path}: cannot open the database ({exc}); check that it is a monitor database and "
        "that the user running monitor can read and write it and its folder"
    )


def open_readonly(path: Path | str, *, busy_timeout: float = 10.0) -> sqlite_utils.Database:
    """Open for reading only, beside a running daemon or not, changing nothing on disk.

    Raises NoDatabase, NotOurDatabase, NewerSchema, OlderSchema or StoreError, each naming the
    file and what to do.
    """
    path = Path(path)
    conn = _connect_readonly(path, busy_timeout)
    try:
        version = schema_version(conn, path)
    except sqlite3.Error as exc:
        conn.close()
        raise _translate(path, exc) from exc
    except StoreError:
        conn.close()
        raise
    if version < SCHEMA_VERSION:
        conn.close()
        if version == 0:
            raise NoDatabase(
                f"{path}: no monitor data yet (the database is empty); start the daemon with: "
                "monitor run"
            )
        raise OlderSchema(
            f"{path} has schema version {version}; this monitor reads version {SCHEMA_VERSION}: "
            "start or restart the daemon (monitor run upgrades it), or use the monitor release "
            "that wrote it"
        )
    return sqlite_utils.Database(conn)


def open_db(
    path: Path | str, *, migrate: bool = True, busy_timeout: float = 10.0
) -> sqlite_utils.Database:
    """Open (and create or upgrade) the database for writing, with the pragmas every writing
    connection needs. A new file is created private; an existing one is first looked at
    read-only and refused, unchanged, when it is not ours or is newer than this release.

    WAL lets the CLI read while the daemon writes; synchronous=NORMAL keeps every committed batch
    across a crash of the process (only a power loss can take the last commits).
    """
    if str(path) != ":memory:":
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{path}: cannot create its folder: {exc.strerror}") from exc
        if path.is_dir():
            raise StoreError(f"{path}: cannot open the database: it is a folder; {_FIX}")
        if not create_private(path):
            if not os.access(path, os.R_OK | os.W_OK):
                raise StoreError(
                    f"{path}: cannot open the database: permission denied; the user running "
                    "monitor must be able to read and write it"
                )
            check = _connect_readonly(path, busy_timeout)
            try:
                schema_version(check, path)
            except sqlite3.Error as exc:
                raise _translate(path, exc) from exc
            finally:
                check.close()
    try:
        conn = sqlite3.connect(str(path), check_same_thread=False, timeout=busy_timeout)
        db = sqlite_utils.Database(conn)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        if migrate:
            migrations.apply(db)
    except sqlite3.Error as exc:
        raise _translate(path, exc) from exc
    return db
