"""The schema: every migration, in the order users' databases recorded them.

Migrations are named after their functions and applied in the order they are defined here, so a
migration is never renamed, reordered or edited once released: add a new one at the end. A
migration reads no constant of the live code (an enum, a bucket count): what it writes is
spelled out here, so the file a migration makes never changes with the code around it.
Times are integer milliseconds since the Unix epoch, latencies integer microseconds.
"""

from __future__ import annotations

import sqlite_utils
from sqlite_utils import Migrations

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


@migrations()
def m002_status(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE check_state (
            check_id INTEGER PRIMARY KEY,
            state TEXT NOT NULL,
            since INTEGER NOT NULL,
            data TEXT NOT NULL
        );
        CREATE TABLE component_state (
            component TEXT PRIMARY KEY,
            status TEXT NOT NULL,
            since INTEGER NOT NULL,
            reason TEXT NOT NULL
        );
        CREATE TABLE transitions (
            id INTEGER PRIMARY KEY,
            at INTEGER NOT NULL,
            component TEXT NOT NULL,
            check_id INTEGER,
            before TEXT NOT NULL,
            after TEXT NOT NULL,
            reason TEXT NOT NULL
        );
        CREATE INDEX transitions_component_at ON transitions (component, at);
        """
    )


@migrations()
def m003_outbox(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            publisher TEXT NOT NULL,
            component TEXT NOT NULL,
            at INTEGER NOT NULL,
            before TEXT NOT NULL,
            after TEXT NOT NULL,
            reason TEXT NOT NULL,
            state INTEGER NOT NULL DEFAULT 0,
            error TEXT,
            done_at INTEGER
        );
        CREATE INDEX outbox_pending ON outbox (publisher, component, id) WHERE state = 0;
        CREATE TABLE publish_state (
            publisher TEXT NOT NULL,
            component TEXT NOT NULL,
            data TEXT NOT NULL,
            PRIMARY KEY (publisher, component)
        );
        CREATE TABLE publisher_health (
            publisher TEXT PRIMARY KEY,
            error TEXT,
            since INTEGER NOT NULL
        );
        """
    )


# The 28 latency bucket columns of m004 and m005, b0..b27, as released.
_BUCKET_COLUMNS = ", ".join(f"b{i} INTEGER NOT NULL DEFAULT 0" for i in range(28))


@migrations()
def m004_history(db: sqlite_utils.Database) -> None:
    for table, key in (("rollup_hour", "hour"), ("rollup_day", "day")):
        db.execute(
            f"CREATE TABLE {table} (check_id INTEGER NOT NULL, {key} INTEGER NOT NULL, "
            "ok INTEGER NOT NULL, slow INTEGER NOT NULL, fail INTEGER NOT NULL, "
            f"latency_us INTEGER NOT NULL, {_BUCKET_COLUMNS}, "
            f"PRIMARY KEY (check_id, {key})) WITHOUT ROWID"
        )
    db.executescript(
        """
        CREATE TABLE runs (started INTEGER PRIMARY KEY, last_seen INTEGER NOT NULL);
        CREATE TABLE published_incidents (
            publisher TEXT NOT NULL,
            incident_id TEXT NOT NULL,
            component TEXT NOT NULL,
            started INTEGER NOT NULL,
            PRIMARY KEY (publisher, incident_id)
        );
        """
    )


@migrations()
def m005_monthly(db: sqlite_utils.Database) -> None:
    """Monthly rollups, so a year is 12 rows a check; filled from the daily ones once."""
    db.execute(
        "CREATE TABLE rollup_month (check_id INTEGER NOT NULL, month INTEGER NOT NULL, "
        "ok INTEGER NOT NULL, slow INTEGER NOT NULL, fail INTEGER NOT NULL, "
        f"latency_us INTEGER NOT NULL, {_BUCKET_COLUMNS}, "
        "PRIMARY KEY (check_id, month)) WITHOUT ROWID"
    )
    columns = ["ok", "slow", "fail", "latency_us"] + [f"b{i}" for i in range(28)]
    sums = ", ".join(f"sum({c})" for c in columns)
    month = (
        "CAST(strftime('%Y', day * 86400, 'unixepoch') AS INTEGER) * 12 "
        "+ CAST(strftime('%m', day * 86400, 'unixepoch') AS INTEGER) - 1"
    )
    db.execute(
        f"INSERT INTO rollup_month (check_id, month, {', '.join(columns)}) "
        f"SELECT check_id, {month} AS m, {sums} FROM rollup_day GROUP BY check_id, m"
    )


@migrations()
def m006_run_end(db: sqlite_utils.Database) -> None:
    """When a run ended cleanly: `monitor status` tells a stopped daemon from a running one."""
    db.execute("ALTER TABLE runs ADD COLUMN ended INTEGER")


@migrations()
def m007_announcements(db: sqlite_utils.Database) -> None:
    """The scheduled maintenance each publisher has announced on its page (monitor.announce):
    `key` is our marker, `components` the component ids joined by spaces."""
    db.execute(
        """
        CREATE TABLE announcements (
            publisher TEXT NOT NULL,
            key TEXT NOT NULL,
            page_id TEXT NOT NULL,
            components TEXT NOT NULL,
            start INTEGER NOT NULL,
            "end" INTEGER NOT NULL,
            title TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            PRIMARY KEY (publisher, key)
        )
        """
    )


def _ms(seconds: float) -> int:
    """Seconds (as the engine counts time) to the integer milliseconds stored in every table."""
    return int(round(seconds * 1000))
