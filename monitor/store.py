"""SQLite storage: the schema, its migrations, and the read side used by the CLI.

The probe results table is the big one (10,000 checks at 30 s is ~29 million rows a day), so a row
is six small integers and, only for failures, a short text: `results` is a WITHOUT ROWID table
keyed by (at, check_id). New rows land at the end of the b-tree, so inserts are appends; retention
deletes a prefix; an export over a time range is a range scan. Names and targets live once in
`checks`. Times are integer milliseconds since the Unix epoch, latencies integer microseconds.

Writes from the daemon go through `monitor.writer.Writer`, which owns the only writing connection.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import sqlite_utils
from sqlite_utils import Migrations

from monitor.history import N_BUCKETS, bucket_of
from monitor.history import Change as HistoryChange
from monitor.incidents import IncidentStatus, Pending, Remote
from monitor.model import ERROR_KINDS, OUTCOMES, Component, ErrorKind, Outcome, check_key
from monitor.state import (
    CheckState,
    CheckStatus,
    CheckTransition,
    ComponentStatus,
    ComponentTransition,
    Status,
)

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


@dataclass(frozen=True, slots=True)
class Stmt:
    """One statement for the writer thread to run in the next batch's transaction.

    Statements with the same `key` in one batch collapse into the last one (a state that
    changed five times in 250 ms is saved once); `params` may be a callable so that encoding
    happens on the writer thread, not the event loop.
    """

    sql: str
    params: Sequence[object] | Callable[[], Sequence[object]]
    key: Hashable | None = None


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))


def encode_check_status(status: CheckStatus) -> str:
    data = asdict(status)
    del data["state"], data["since"]
    return json.dumps(data, separators=(",", ":"))


def decode_check_status(state: str, since_ms: int, data: str) -> CheckStatus:
    fields = json.loads(data)
    fields["raw"] = CheckState(fields["raw"])
    fields["raw_changes"] = tuple(fields["raw_changes"])
    if fields["held"] is not None:
        fields["held"] = CheckState(fields["held"])
    if fields["last_outcome"] is not None:
        fields["last_outcome"] = Outcome(fields["last_outcome"])
    return CheckStatus(state=CheckState(state), since=since_ms / 1000, **fields)


def save_check_status(check_id: int, status: CheckStatus) -> Stmt:
    return Stmt(
        "INSERT OR REPLACE INTO check_state (check_id, state, since, data) VALUES (?, ?, ?, ?)",
        lambda: (check_id, status.state.value, _ms(status.since), encode_check_status(status)),
        key=("check_state", check_id),
    )


def save_component_status(component: str, status: ComponentStatus) -> Stmt:
    return Stmt(
        "INSERT OR REPLACE INTO component_state (component, status, since, reason) "
        "VALUES (?, ?, ?, ?)",
        (component, status.status.value, _ms(status.since), status.reason),
        key=("component_state", component),
    )


def save_transition(
    component: str, check_id: int | None, transition: CheckTransition | ComponentTransition
) -> Stmt:
    return Stmt(
        "INSERT INTO transitions (at, component, check_id, before, after, reason) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (
            _ms(transition.at),
            component,
            check_id,
            transition.before.value,
            transition.after.value,
            transition.reason,
        ),
    )


def load_statuses(
    db: sqlite_utils.Database,
) -> tuple[dict[int, CheckStatus], dict[str, ComponentStatus]]:
    """The engine's saved state: check row id -> status, component id -> status."""
    checks = {
        check_id: decode_check_status(state, since, data)
        for check_id, state, since, data in db.execute(
            "SELECT check_id, state, since, data FROM check_state"
        )
    }
    components = {
        component: ComponentStatus(Status(status), since / 1000, reason)
        for component, status, since, reason in db.execute(
            "SELECT component, status, since, reason FROM component_state"
        )
    }
    return checks, components


@dataclass(frozen=True, slots=True)
class StoredTransition:
    at: float
    component: str
    check: str | None  # None: the component's own status
    before: str
    after: str
    reason: str


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


OUTBOX_PENDING, OUTBOX_DELIVERED, OUTBOX_FAILED = 0, 1, 2


def save_outbox_entry(publisher: str, component: str, transition: ComponentTransition) -> Stmt:
    """A status change to publish: written in the same batch as the transition itself."""
    return Stmt(
        "INSERT INTO outbox (publisher, component, at, before, after, reason) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (
            publisher,
            component,
            _ms(transition.at),
            transition.before.value,
            transition.after.value,
            transition.reason,
        ),
    )


def encode_remote(remote: Remote) -> str:
    return json.dumps(asdict(remote), separators=(",", ":"))


def decode_remote(data: str) -> Remote:
    fields = json.loads(data)
    for name in ("worst", "page_status"):
        if fields[name] is not None:
            fields[name] = Status(fields[name])
    fields["target"] = Status(fields["target"])
    if fields["incident_status"] is not None:
        fields["incident_status"] = IncidentStatus(fields["incident_status"])
    return Remote(**fields)


def load_outbox(
    db: sqlite_utils.Database, publisher: str
) -> dict[str, tuple[Remote | None, list[Pending]]]:
    """Per component: what the page shows (None: never published) and the pending changes."""
    out: dict[str, tuple[Remote | None, list[Pending]]] = {}
    for component, data in db.execute(
        "SELECT component, data FROM publish_state WHERE publisher = ?", [publisher]
    ):
        out[component] = (decode_remote(data), [])
    for id_, component, at, before, after, reason in db.execute(
        "SELECT id, component, at, before, after, reason FROM outbox "
        "WHERE publisher = ? AND state = 0 ORDER BY id",
        [publisher],
    ):
        remote, pending = out.setdefault(component, (None, []))
        pending.append(Pending(id_, at / 1000, Status(before), Status(after), reason))
    return out


def record_delivery(
    db: sqlite_utils.Database,
    publisher: str,
    component: str,
    remote: Remote,
    through: int | None,
    at: float,
    error: str | None = None,
) -> None:
    """After a request: save what the page now shows and close the entries it covered
    (delivered, or failed with the page's message). One transaction, committed on return."""
    with db.conn:
        db.execute(
            "INSERT OR REPLACE INTO publish_state (publisher, component, data) VALUES (?, ?, ?)",
            [publisher, component, encode_remote(remote)],
        )
        if through is not None:
            db.execute(
                "UPDATE outbox SET state = ?, error = ?, done_at = ? "
                "WHERE publisher = ? AND component = ? AND state = 0 AND id <= ?",
                [
                    OUTBOX_FAILED if error else OUTBOX_DELIVERED,
                    error,
                    _ms(at),
                    publisher,
                    component,
                    through,
                ],
            )


def record_publisher_health(
    db: sqlite_utils.Database, publisher: str, error: str | None, at: float
) -> None:
    with db.conn:
        db.execute(
            "INSERT INTO publisher_health (publisher, error, since) VALUES (?, ?, ?) "
            "ON CONFLICT(publisher) DO UPDATE SET error = excluded.error, since = excluded.since "
            "WHERE publisher_health.error IS NOT excluded.error",
            [publisher, error, _ms(at)],
        )


_BUCKET_COLUMNS = ", ".join(f"b{i} INTEGER NOT NULL DEFAULT 0" for i in range(N_BUCKETS))


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
    columns = ["ok", "slow", "fail", "latency_us"] + [f"b{i}" for i in range(N_BUCKETS)]
    sums = ", ".join(f"sum({c})" for c in columns)
    month = (
        "CAST(strftime('%Y', day * 86400, 'unixepoch') AS INTEGER) * 12 "
        "+ CAST(strftime('%m', day * 86400, 'unixepoch') AS INTEGER) - 1"
    )
    db.execute(
        f"INSERT INTO rollup_month (check_id, month, {', '.join(columns)}) "
        f"SELECT check_id, {month} AS m, {sums} FROM rollup_day GROUP BY check_id, m"
    )


def month_of_day(day: int) -> int:
    """The month index (year * 12 + month - 1) of a day number (days since 1970-01-01, UTC)."""
    date = EPOCH + dt.timedelta(days=day)
    return date.year * 12 + date.month - 1


def first_day_of_month(month: int) -> int:
    return (dt.date(month // 12, month % 12 + 1, 1) - EPOCH).days


EPOCH = dt.date(1970, 1, 1)


def _rollup_upsert(table: str, key: str) -> str:
    columns = ["check_id", key, "ok", "slow", "fail", "latency_us"] + [
        f"b{i}" for i in range(N_BUCKETS)
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
                entry = table[(check_id, key)] = [check_id, key, 0, 0, 0, 0] + [0] * N_BUCKETS
            entry[2 + outcome] += 1
            if outcome != 2:  # failures have no meaningful latency
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


def record_published(
    db: sqlite_utils.Database, publisher: str, incident_id: str, component: str, started: float
) -> None:
    """Remember an incident we created, for `monitor incidents` (adoptions included)."""
    with db.conn:
        db.execute(
            "INSERT OR IGNORE INTO published_incidents "
            "(publisher, incident_id, component, started) VALUES (?, ?, ?, ?)",
            [publisher, incident_id, component, _ms(started)],
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
