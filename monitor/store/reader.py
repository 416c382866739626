"""The read side: what the CLI, the reports and the tests ask of the database.

Readers open their own connection; WAL lets them read while the daemon's writer commits.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import sqlite_utils

from monitor.history import N_BUCKETS
from monitor.history import Change as HistoryChange
from monitor.incidents import Remote
from monitor.model import ERROR_KINDS, OUTCOMES
from monitor.state import CheckStatus, ComponentStatus, Status
from monitor.store.database import open_readonly
from monitor.store.outbox import decode_remote
from monitor.store.results import StoredResult, first_day_of_month, month_of_day
from monitor.store.schema import _ms
from monitor.store.status import StoredTransition, load_statuses


class Store:
    """The read side: what the CLI and the tests ask of the database."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    @classmethod
    def open(cls, path: Path | str) -> Store:
        """Open read-only: changes nothing on disk; raises StoreError (with its subclasses
        NoDatabase, NotOurDatabase, OlderSchema, NewerSchema) naming the file and the fix."""
        return cls(open_readonly(path))

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

    def statuses(self) -> tuple[dict[str, CheckStatus], dict[str, ComponentStatus]]:
        """Saved statuses: check key -> status, component id -> status."""
        by_id, components = load_statuses(self.db)
        keys = {id_: key for key, id_ in self.check_ids().items()}
        return {keys[id_]: status for id_, status in by_id.items() if id_ in keys}, components

    def publishing(self, publisher: str) -> tuple[dict[str, Remote], dict[str, int], str | None]:
        """For `monitor status`: what the page shows per component, pending entries per
        component, and the publisher's last error (None when it delivers)."""
        remotes = {
            component: decode_remote(data)
            for component, data in self.db.execute(
                "SELECT component, data FROM publish_state WHERE publisher = ?", [publisher]
            )
        }
        queued = dict(
            self.db.execute(
                "SELECT component, count(*) FROM outbox WHERE publisher = ? AND state = 0 "
                "GROUP BY component",
                [publisher],
            ).fetchall()
        )
        row = self.db.execute(
            "SELECT error FROM publisher_health WHERE publisher = ?", [publisher]
        ).fetchone()
        return remotes, queued, row[0] if row else None

    def transitions(
        self, component: str | None = None, since: float = 0.0
    ) -> list[StoredTransition]:
        """Status changes in time order; `check` is None for the component's own status."""
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
            for at, comp, check, before, after, reason in self.db.execute(
                sql + " ORDER BY t.at, t.id", params
            )
        ]

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


class HistoryReader:
    """The read side of `monitor history`, `incidents` and `export`."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    def changes(self, component: str) -> list[HistoryChange]:
        return [
            HistoryChange(at / 1000, Status(before), Status(after), reason)
            for at, before, after, reason in self.db.execute(
                "SELECT at, before, after, reason FROM transitions "
                "WHERE component = ? AND check_id IS NULL ORDER BY at, id",
                [component],
            )
        ]

    def last_run(self) -> tuple[float, float | None] | None:
        """(last heartbeat, clean end or None) of the latest run of the daemon."""
        row = self.db.execute(
            "SELECT last_seen, ended FROM runs ORDER BY started DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        return row[0] / 1000, row[1] / 1000 if row[1] is not None else None

    def runs(self) -> list[tuple[float, float]]:
        return [
            (started / 1000, last_seen / 1000)
            for started, last_seen in self.db.execute(
                "SELECT started, last_seen FROM runs ORDER BY started"
            )
        ]

    def rollup(
        self, check_ids: Sequence[int], since: float, until: float, hourly: bool
    ) -> tuple[int, int, int, int, list[int]]:
        """(ok, slow, fail, latency sum in us, latency buckets) over the window, from rollups
        only: hourly ones, or whole months plus the days at either end. No raw row is read."""
        if not check_ids:
            return 0, 0, 0, 0, [0] * N_BUCKETS
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
        totals = [0] * (4 + N_BUCKETS)
        sums = ", ".join(f"total(b{i})" for i in range(N_BUCKETS))
        marks = ", ".join("?" * len(check_ids))
        for table, key, lo, hi in parts:
            row = self.db.execute(
                f"SELECT total(ok), total(slow), total(fail), total(latency_us), {sums} "
                f"FROM {table} WHERE check_id IN ({marks}) AND {key} >= ? AND {key} < ?",
                [*check_ids, lo, hi],
            ).fetchone()
            totals = [t + int(v or 0) for t, v in zip(totals, row, strict=True)]
        return totals[0], totals[1], totals[2], totals[3], totals[4:]

    def published(self, publisher: str) -> list[tuple[str, str, float]]:
        """(component, incident id, start) of the incidents we created."""
        return [
            (component, incident_id, started / 1000)
            for component, incident_id, started in self.db.execute(
                "SELECT component, incident_id, started FROM published_incidents "
                "WHERE publisher = ? ORDER BY started",
                [publisher],
            )
        ]

    def export(
        self, since: float, until: float, component: str | None = None
    ) -> Iterator[StoredResult]:
        """Raw results in time order, streamed from the primary key."""
        store = Store(self.db)
        for result in store.results(_ms(since), _ms(until)):
            if component is None or result.component == component:
                yield result
