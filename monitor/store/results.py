"""Probe results: the checks they belong to, the rows the writer appends, and their rollups.

A row of `results` is six small integers and, only for failures, a short text, keyed by
(at, check_id): inserts are appends, retention deletes a prefix. The hourly, daily and monthly
rollups are additive, so the writer adds a batch's increments without reading what is stored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import sqlite_utils

from monitor.config.urls import shown_target
from monitor.model import Component, ErrorKind, Outcome, check_key
from monitor.store.codes import N_LATENCY_BUCKETS, OUTCOME_FAIL, bucket_of
from monitor.store.schema import _ms


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
                    [key, component.id, check.name, check.type, shown_target(check)],
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
"""Rows whose outcome and error kind are their codes in monitor.store.codes."""


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


def month_of_day(day: int) -> int:
    """The month index (year * 12 + month - 1) of a day number (days since 1970-01-01, UTC)."""
    date = EPOCH + dt.timedelta(days=day)
    return date.year * 12 + date.month - 1


def first_day_of_month(month: int) -> int:
    return (dt.date(month // 12, month % 12 + 1, 1) - EPOCH).days


EPOCH = dt.date(1970, 1, 1)


def _rollup_upsert(table: str, key: str) -> str:
    columns = ["check_id", key, "ok", "slow", "fail", "latency_us"] + [
        f"b{i}" for i in range(N_LATENCY_BUCKETS)
    ]
    added = ", ".join(f"{c} = {c} + excluded.{c}" for c in columns[2:])
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
        f"ON CONFLICT (check_id, {key}) DO UPDATE SET {added}"
    )


UPSERT_HOUR = _rollup_upsert("rollup_hour", "hour")
UPSERT_DAY = _rollup_upsert("rollup_day", "day")
UPSERT_MONTH = _rollup_upsert("rollup_month", "month")


def rollup_rows(
    rows: Iterable[ResultRow],
) -> tuple[list[list[int]], list[list[int]], list[list[int]]]:
    """Hourly, daily and monthly rollup increments for a batch of result rows: counts by
    outcome, the latency sum and the latency histogram, per check and hour (day, month).
    Additive, so the writer adds them to what is stored without reading it."""
    hours: dict[tuple[int, int], list[int]] = {}
    days: dict[tuple[int, int], list[int]] = {}
    months: dict[tuple[int, int], list[int]] = {}
    month_of: dict[int, int] = {}
    for at_ms, check_id, outcome, latency_us, _, _, _ in rows:
        hour = at_ms // 3_600_000
        day = hour // 24
        month = month_of.get(day)
        if month is None:
            month = month_of[day] = month_of_day(day)
        for table, key in ((hours, hour), (days, day), (months, month)):
            entry = table.get((check_id, key))
            if entry is None:
                entry = [check_id, key, 0, 0, 0, 0] + [0] * N_LATENCY_BUCKETS
                table[(check_id, key)] = entry
            entry[2 + outcome] += 1  # the columns ok, slow, fail: outcome codes 0, 1, 2
            if outcome != OUTCOME_FAIL:  # failures have no meaningful latency
                entry[5] += latency_us
                entry[6 + bucket_of(latency_us)] += 1
    return list(hours.values()), list(days.values()), list(months.values())


def heartbeat(db: sqlite_utils.Database, started: float, now: float) -> None:
    """Mark the daemon as running from `started` until `now`: monitored time."""
    db.execute(
        "INSERT INTO runs (started, last_seen) VALUES (?, ?) "
        "ON CONFLICT(started) DO UPDATE SET last_seen = excluded.last_seen",
        [_ms(started), _ms(now)],
    )


def end_run(db: sqlite_utils.Database, started: float, now: float) -> None:
    """The daemon stops cleanly: its run ends now."""
    heartbeat(db, started, now)
    db.execute("UPDATE runs SET ended = last_seen WHERE started = ?", [_ms(started)])


def prune(db: sqlite_utils.Database, cutoff: float, chunk: int = 5000) -> int:
    """Delete at most `chunk` raw results (and hourly rollups) older than `cutoff`; return how
    many results went. Rows are keyed by time, so this removes a prefix of the b-tree."""
    cutoff_ms = _ms(cutoff)
    row = db.execute(
        "SELECT at FROM results WHERE at < ? ORDER BY at LIMIT 1 OFFSET ?", [cutoff_ms, chunk - 1]
    ).fetchone()
    limit = row[0] if row is not None else cutoff_ms - 1
    with db.conn:
        deleted = db.execute("DELETE FROM results WHERE at <= ?", [limit]).rowcount
        db.execute(
            "DELETE FROM rollup_hour WHERE hour < ? AND check_id IN "
            "(SELECT check_id FROM rollup_hour WHERE hour < ? LIMIT ?)",
            [cutoff_ms // 3_600_000, cutoff_ms // 3_600_000, chunk],
        )
    return int(deleted)
