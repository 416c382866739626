"""SQLite storage: the schema, its migrations, and the read side used by the CLI.

The probe results table is the big one (10,000 checks at 30 s is ~29 million rows a day), so a row
is six small integers and, only for failures, a short text: `results` is a WITHOUT ROWID table
keyed by (at, check_id). New rows land at the end of the b-tree, so inserts are appends; retention
deletes a prefix; an export over a time range is a range scan. Names and targets live once in
`checks`. Times are integer milliseconds since the Unix epoch, latencies integer microseconds.

Writes from the daemon go through `monitor.writer.Writer`, which owns the only writing connection.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils
from sqlite_utils import Migrations

from monitor.model import ERROR_KINDS, OUTCOMES, Component, ErrorKind, Outcome, check_key

migrations = Migrations("monitor")


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE components (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL
        );
        CREATE TABLE checks (
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL UNIQUE,
            component TEXT NOT NULL REFERENCES components(id),
            name TEXT NOT NULL,
            type TEXT NOT NULL,
            target TEXT NOT NULL
        );
        CREATE TABLE results (
            at INTEGER NOT NULL,
            check_id INTEGER NOT NULL,
            outcome INTEGER NOT NULL,
            latency_us INTEGER NOT NULL,
            status_code INTEGER,
            error_kind INTEGER,
            error TEXT,
            PRIMARY KEY (at, check_id)
        ) WITHOUT ROWID;
        """
    )


def open_db(
    path: Path | str, *, migrate: bool = True, busy_timeout: float = 10.0
) -> sqlite_utils.Database:
    """Open (and create or upgrade) the database with the pragmas every connection needs.

    WAL lets the CLI read while the daemon writes; synchronous=NORMAL keeps every committed batch
    across a crash of the process (only a power loss can take the last commits).
    """
    conn = sqlite3.connect(str(path), check_same_thread=False, timeout=busy_timeout)
    db = sqlite_utils.Database(conn)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    if migrate:
        migrations.apply(db)
    return db


def redact_url(url: str) -> str:
    """Drop user:password@ from a URL so it can be stored and shown."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = authority.rsplit("@", 1)[1]
    return f"{scheme}://{authority}{slash}{path}"


def register_checks(db: sqlite_utils.Database, components: Iterable[Component]) -> dict[str, int]:
    """Insert or refresh every component and check; return check key -> row id.

    Ids are stable: a check keeps its id (and its history) as long as its key
    (component id / check name) stays the same, whatever else changes.
    """
    ids: dict[str, int] = {}
    with db.conn:
        for component in components:
            db.execute(
                "INSERT INTO components (id, name) VALUES (?, ?) "
                "ON CONFLICT(id) DO UPDATE SET name = excluded.name",
                [component.id, component.name],
            )
            for check in component.checks:
                key = check_key(component, check)
                db.execute(
                    "INSERT INTO checks (key, component, name, type, target) "
                    "VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET type = excluded.type, target = excluded.target",
                    [key, component.id, check.name, check.type, redact_url(check.target)],
                )
                row = db.execute("SELECT id FROM checks WHERE key = ?", [key]).fetchone()
                ids[key] = int(row[0])
    return ids


ResultRow = tuple[int, int, int, int, int | None, int | None, str | None]
"""(at_ms, check_id, outcome, latency_us, status_code, error_kind, error): a row of `results`."""

INSERT_RESULTS = (
    "INSERT OR REPLACE INTO results "
    "(at, check_id, outcome, latency_us, status_code, error_kind, error) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)

OUTCOME_CODE = {outcome: index for index, outcome in enumerate(OUTCOMES)}
ERROR_KIND_CODE = {kind: index for index, kind in enumerate(ERROR_KINDS)}


@dataclass(frozen=True, slots=True)
class StoredResult:
    """A probe result as read back, with its check's names."""

    component: str
    check: str
    at_ms: int
    outcome: Outcome
    latency_ms: float
    status_code: int | None
    error_kind: ErrorKind | None
    error: str | None


class Store:
    """The read side: what the CLI and the tests ask of the database."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    @classmethod
    def open(cls, path: Path | str) -> Store:
        return cls(open_db(path))

    def close(self) -> None:
        self.db.close()

    def check_ids(self) -> dict[str, int]:
        """Check key -> row id for every check ever registered."""
        return {key: id_ for id_, key in self.db.execute("SELECT id, key FROM checks")}

    def count_results(self, key: str | None = None) -> int:
        """How many probe results are stored, for one check or for all."""
        if key is None:
            return int(self.db.execute("SELECT count(*) FROM results").fetchone()[0])
        sql = "SELECT count(*) FROM results WHERE check_id = (SELECT id FROM checks WHERE key = ?)"
        return int(self.db.execute(sql, [key]).fetchone()[0])

    def results(self, since_ms: int = 0, until_ms: int | None = None) -> Iterator[StoredResult]:
        """Probe results in time order, a range scan over the primary key."""
        sql = (
            "SELECT c.component, c.name, r.at, r.outcome, r.latency_us, r.status_code, "
            "r.error_kind, r.error FROM results r JOIN checks c ON c.id = r.check_id "
            "WHERE r.at >= ? AND r.at < ? ORDER BY r.at, r.check_id"
        )
        until = until_ms if until_ms is not None else 2**62
        for component, name, at, outcome, latency_us, code, kind, error in self.db.execute(
            sql, [since_ms, until]
        ):
            yield StoredResult(
                component=component,
                check=name,
                at_ms=at,
                outcome=OUTCOMES[outcome],
                latency_ms=latency_us / 1000,
                status_code=code,
                error_kind=ERROR_KINDS[kind] if kind is not None else None,
                error=error,
            )
