"""The read side: the one interface through which the CLI, the reports and the tests read the
database. The daemon writes through `monitor.writer.Writer` only.

A `Store` opens its own connection; WAL lets it read while the daemon's writer commits. Every
method raises `StoreError` naming the file when SQLite cannot answer (a damaged file, a table
gone), never a bare sqlite3 error, so every command turns it into the same exit code.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import sqlite_utils

from monitor.announce import Announced
from monitor.history import StatusChange
from monitor.incidents import Remote
from monitor.state import CheckStatus, ComponentStatus
from monitor.store.announced import announced_query, announced_row
from monitor.store.codes import (
    ERROR_KIND_OF,
    N_LATENCY_BUCKETS,
    OUTBOX_PENDING,
    OUTCOME_OF,
    STATUS_OF,
)
from monitor.store.database import StoreError, open_readonly
from monitor.store.results import StoredResult, first_day_of_month, month_of_day
from monitor.store.saved import decode_remote
from monitor.store.schema import _ms
from monitor.store.status import StoredTransition, load_statuses

Rollup = tuple[int, int, int, int, list[int]]
"""(ok, slow, fail, latency sum in µs, counts per latency bucket) over a window."""


class Store:
    """Reads the database; changes nothing in it. Times are Unix seconds unless named `_ms`."""

    def __init__(self, db: sqlite_utils.Database, path: Path | str | None = None) -> None:
        self.db = db
        self.path = path if path is not None else "the database"

    @classmethod
    def open(cls, path: Path | str) -> Store:
        """Open read-only: changes nothing on disk; raises StoreError (with its subclasses
        NoDatabase, NotOurDatabase, OlderSchema, NewerSchema) naming the file and the fix."""
        return cls(open_readonly(path), path)

    def close(self) -> None:
        """Close the connection; the store cannot be used after."""
        self.db.close()

    def _rows(self, sql: str, params: Sequence[object] = ()) -> Iterator[tuple[Any, ...]]:
        """The rows of a query, streamed; a failure of SQLite becomes a StoreError."""
        try:
            # Not `yield from`: that would close the cursor when this generator is dropped
            # early, which fails once the connection is closed.
            for row in self.db.execute(sql, list(params)):  # noqa: UP028
                yield row
        except sqlite3.Error as exc:
            raise self._error(exc) from exc

    def _one(self, sql: str, params: Sequence[object] = ()) -> tuple[Any, ...] | None:
        """The first row of a query, or None; a failure of SQLite becomes a StoreError."""
        try:
            row: tuple[Any, ...] | None = self.db.execute(sql, list(params)).fetchone()
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        return row

    def _error(self, exc: sqlite3.Error) -> StoreError:
        return StoreError(
            f"{self.path}: cannot read the database ({exc}); it may be damaged: restore it from "
            "a backup, or move it away and let monitor run start a new one"
        )

    def check_ids(self) -> dict[str, int]:
        """Check key ("component/check") -> row id, for every check ever registered."""
        return {key: id_ for id_, key in self._rows("SELECT id, key FROM checks")}

    def count_results(self, key: str | None = None) -> int:
        """How many probe results are stored, for one check (by key) or for all."""
        if key is None:
            row = self._one("SELECT count(*) FROM results")
        else:
            row = self._one(
                "SELECT count(*) FROM results "
                "WHERE check_id = (SELECT id FROM checks WHERE key = ?)",
                [key],
            )
        assert row is not None  # count(*) always answers
        return int(row[0])

    def statuses(self) -> tuple[dict[str, CheckStatus], dict[str, ComponentStatus]]:
        """The statuses the daemon saved last: check key -> status, component id -> status."""
        try:
            by_id, components = load_statuses(self.db)
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        keys = {id_: key for key, id_ in self.check_ids().items()}
        return {keys[id_]: status for id_, status in by_id.items() if id_ in keys}, components

    def announced(self, publisher: str) -> list[Announced]:
        """For `monitor status`: the scheduled maintenance announced on the page."""
        return [announced_row(row) for row in self._rows(*announced_query(publisher))]

    def publishing(self, publisher: str) -> tuple[dict[str, Remote], dict[str, int], str | None]:
        """For `monitor status`: what the page shows per component, pending outbox entries
        per component, and the publisher's last error (None when it delivers)."""
        remotes = {
            component: decode_remote(data)
            for component, data in self._rows(
                "SELECT component, data FROM publish_state WHERE publisher = ?", [publisher]
            )
        }
        queued = {
            component: int(count)
            for component, count in self._rows(
                "SELECT component, count(*) FROM outbox "
                f"WHERE publisher = ? AND state = {OUTBOX_PENDING} GROUP BY component",
                [publisher],
            )
        }
        row = self._one("SELECT error FROM publisher_health WHERE publisher = ?", [publisher])
        return remotes, queued, row[0] if row is not None else None

    def transitions(
        self, component: str | None = None, since: float = 0.0
    ) -> list[StoredTransition]:
        """Every status change since `since` in time order, of checks and components (`check`
        is None for the component's own status), as the words stored."""
        sql = (
            "SELECT t.at, t.component, c.name, t.before, t.after, t.reason FROM transitions t "
            "LEFT JOIN checks c ON c.id = t.check_id WHERE t.at >= ?"
        )
        params: list[object] = [_ms(since)]
        if component is not None:
            sql += " AND t.component = ?"
            params.append(component)
        return [
            StoredTransition(at / 1000, comp, check, before, after, reason)
            for at, comp, check, before, after, reason in self._rows(
                sql + " ORDER BY t.at, t.id", params
            )
        ]

    def changes(self, component: str) -> list[StatusChange]:
        """A component's own status changes (not its checks'), in time order: the input of the
        uptime arithmetic in monitor.history."""
        return [
            StatusChange(at / 1000, STATUS_OF[before], STATUS_OF[after], reason)
            for at, before, after, reason in self._rows(
                "SELECT at, before, after, reason FROM transitions "
                "WHERE component = ? AND check_id IS NULL ORDER BY at, id",
                [component],
            )
        ]

    def last_run(self) -> tuple[float, float | None] | None:
        """(last heartbeat, clean end or None while it runs or after a crash) of the daemon's
        latest run; None when it never ran."""
        row = self._one("SELECT last_seen, ended FROM runs ORDER BY started DESC LIMIT 1")
        if row is None:
            return None
        return row[0] / 1000, row[1] / 1000 if row[1] is not None else None

    def runs(self) -> list[tuple[float, float]]:
        """(start, last heartbeat) of every run of the daemon, oldest first: monitored time."""
        return [
            (started / 1000, last_seen / 1000)
            for started, last_seen in self._rows(
                "SELECT started, last_seen FROM runs ORDER BY started"
            )
        ]

    def rollup(self, check_ids: Sequence[int], since: float, until: float, hourly: bool) -> Rollup:
        """Probe counts and latencies of some checks over [since, until), from rollups only:
        hourly ones, or whole months plus the days at either end. No raw row is read."""
        if not check_ids:
            return 0, 0, 0, 0, [0] * N_LATENCY_BUCKETS
        if hourly:
            parts = [("rollup_hour", "hour", int(since // 3600), int(-(-until // 3600)))]
        else:
            first, end = int(since // 86400), int(-(-until // 86400))
            month = month_of_day(first)
            if first_day_of_month(month) < first:
                month += 1
            last = month_of_day(end)  # the month holding `end`: not whole
            if month < last:
                parts = [
                    ("rollup_day", "day", first, first_day_of_month(month)),
                    ("rollup_month", "month", month, last),
                    ("rollup_day", "day", first_day_of_month(last), end),
                ]
            else:
                parts = [("rollup_day", "day", first, end)]
        totals = [0] * (4 + N_LATENCY_BUCKETS)
        sums = ", ".join(f"total(b{i})" for i in range(N_LATENCY_BUCKETS))
        marks = ", ".join("?" * len(check_ids))
        for table, key, lo, hi in parts:
            row = self._one(
                f"SELECT total(ok), total(slow), total(fail), total(latency_us), {sums} "
                f"FROM {table} WHERE check_id IN ({marks}) AND {key} >= ? AND {key} < ?",
                [*check_ids, lo, hi],
            )
            assert row is not None  # an aggregate always answers
            totals = [t + int(v or 0) for t, v in zip(totals, row, strict=True)]
        return totals[0], totals[1], totals[2], totals[3], totals[4:]

    def latency_series(
        self, check_ids: Sequence[int], since: float, until: float, hourly: bool
    ) -> list[tuple[float, list[int]]]:
        """The latency histogram of some checks per hour (or per UTC day) over the hours (days)
        that `rollup` reads, as (start of the hour or day, counts per bucket), oldest first:
        one grouped query, for the per-day percentiles of a report."""
        if not check_ids:
            return []
        table, key, size = ("rollup_hour", "hour", 3600) if hourly else ("rollup_day", "day", 86400)
        sums = ", ".join(f"sum(b{i})" for i in range(N_LATENCY_BUCKETS))  # integers, never NULL
        marks = ", ".join("?" * len(check_ids))
        rows = self._rows(
            f"SELECT {key}, {sums} FROM {table} WHERE check_id IN ({marks}) "
            f"AND {key} >= ? AND {key} < ? GROUP BY {key} ORDER BY {key}",
            [*check_ids, int(since // size), int(-(-until // size))],
        )
        return [(float(row[0] * size), list(row[1:])) for row in rows]

    def published(self, publisher: str) -> list[tuple[str, str, float]]:
        """(component, incident id, start) of every incident the publisher created on the page
        (or adopted), oldest first."""
        return [
            (component, incident_id, started / 1000)
            for component, incident_id, started in self._rows(
                "SELECT component, incident_id, started FROM published_incidents "
                "WHERE publisher = ? ORDER BY started",
                [publisher],
            )
        ]

    def results(self, since_ms: int = 0, until_ms: int | None = None) -> Iterator[StoredResult]:
        """Probe results in [since_ms, until_ms) in time order, streamed: a range scan over
        the primary key, nothing held in memory."""
        sql = (
            "SELECT c.component, c.name, r.at, r.outcome, r.latency_us, r.status_code, "
            "r.error_kind, r.error FROM results r JOIN checks c ON c.id = r.check_id "
            "WHERE r.at >= ? AND r.at < ? ORDER BY r.at, r.check_id"
        )
        until = until_ms if until_ms is not None else 2**62
        for component, name, at, outcome, latency_us, code, kind, error in self._rows(
            sql, [since_ms, until]
        ):
            yield StoredResult(
                component=component,
                check=name,
                at_ms=at,
                outcome=OUTCOME_OF[outcome],
                latency_ms=latency_us / 1000,
                status_code=code,
                error_kind=ERROR_KIND_OF[kind] if kind is not None else None,
                error=error,
            )

    def export(
        self, since: float, until: float, component: str | None = None
    ) -> Iterator[StoredResult]:
        """Probe results in [since, until) in time order, of one component or all: `results`
        in seconds, for `monitor export`."""
        for result in self.results(_ms(since), _ms(until)):
            if component is None or result.component == component:
                yield result
