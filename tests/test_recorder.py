"""The recorder: the engine's decisions as the writes of one transaction, applied by the real
writer to a real SQLite file; and the one rule that puts a component's change in the outbox."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.engine import StatusEngine
from monitor.model import Component, ErrorKind, HttpCheck, Outcome, ProbeResult
from monitor.recorder import Probed, Route, Write, is_worse, record, snapshot
from monitor.state import ComponentTransition, Status
from monitor.store import STATE_EVERY, Stmt, register_checks, save_outbox_entry
from monitor.writer import Writer

API = Component(
    id="api",
    name="API",
    checks=(HttpCheck(name="eu", url="http://127.0.0.1:1/eu", fail_after=2),),
)
DB = Component(id="db", name="DB", checks=(HttpCheck(name="pg", url="http://127.0.0.1:1/pg"),))
FAIL = ProbeResult.failed(ErrorKind.REFUSED, "connection refused", 0.001)
OK = ProbeResult(Outcome.OK, 0.001)
TABLES = ("results", "check_state", "transitions", "component_state", "outbox")


class Database:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.writer = Writer(path, flush_interval=0.01)
        self.writer.start()
        self.ids = self.writer.call(lambda db: register_checks(db, [API, DB])).result(5)

    def apply(self, writes: list[Write]) -> dict[str, int]:
        """Write `writes` as the daemon does (one submit), then count every table's rows."""
        self.writer.submit(writes)
        self.writer.call(lambda db: None).result(5)  # runs after the batch before it
        conn = sqlite3.connect(self.path)
        try:
            return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
        finally:
            conn.close()

    def rows(self, sql: str) -> list[tuple[object, ...]]:
        conn = sqlite3.connect(self.path)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "m.db")
    yield database
    database.writer.stop()


def probe(engine: StatusEngine, database: Database, result: ProbeResult, at: float) -> Probed:
    engine.observe("api/eu", result, at)
    return (database.ids["api/eu"], at, result, engine.checks["api/eu"])


def test_a_probe_that_changes_nothing_is_its_row_and_its_check_state(database: Database) -> None:
    engine = StatusEngine([API, DB], at=0.0)
    changes = engine.observe("api/eu", OK, 1.0)
    probed: Probed = (database.ids["api/eu"], 1.0, OK, engine.checks["api/eu"])
    counts = database.apply(record(changes, Route("statuspage", {"api"}), probed))
    assert counts == dict.fromkeys(TABLES, 0) | {"results": 1, "check_state": 1}


def test_a_probe_that_changes_no_state_saves_its_check_status_at_leisure(
    database: Database,
) -> None:
    """Only its counters moved: the writer may hold the status (the newest) for STATE_EVERY
    seconds, so a steady check costs its result row, not a status write, per probe. The probe
    that changes the state saves it at once, with its transition."""
    engine = StatusEngine([API, DB], at=0.0)
    route = Route()
    first = record([], route, probe(engine, database, OK, 1.0))
    assert [w.lag for w in first if isinstance(w, Stmt)] == [STATE_EVERY]
    database.apply(first)  # the check's first status of the run is written at once
    database.apply(record([], route, probe(engine, database, OK, 2.0)))
    database.apply(record([], route, probe(engine, database, FAIL, 3.0)))
    saved = "SELECT json_extract(data, '$.probes'), state FROM check_state"
    assert database.rows(saved) == [(1, "up")]
    assert database.rows("SELECT count(*) FROM results") == [(3,)]
    changes = engine.observe("api/eu", FAIL, 4.0)  # fail_after = 2: down
    writes = record(changes, route, (database.ids["api/eu"], 4.0, FAIL, engine.checks["api/eu"]))
    assert [w.lag for w in writes if isinstance(w, Stmt) and w.key] == [0.0, 0.0]
    database.apply(writes)
    assert database.rows(saved) == [(4, "down")]


def test_a_probe_that_takes_its_component_down_writes_everything_it_caused_at_once(
    database: Database,
) -> None:
    engine = StatusEngine([API, DB], at=0.0)
    route = Route("statuspage", frozenset({"api"}))
    database.apply(record([], route, probe(engine, database, FAIL, 1.0)))
    changes = engine.observe("api/eu", FAIL, 2.0)
    assert [c.check for c in changes] == ["api/eu", None]
    probed: Probed = (database.ids["api/eu"], 2.0, FAIL, engine.checks["api/eu"])
    assert route.publishes(changes)
    counts = database.apply(record(changes, route, probed))
    assert counts == {
        "results": 2,
        "check_state": 1,
        "transitions": 2,  # the check's and the component's
        "component_state": 1,
        "outbox": 1,
    }
    assert database.rows("SELECT check_id FROM transitions ORDER BY id") == [
        (database.ids["api/eu"],),
        (None,),
    ]
    assert database.rows("SELECT publisher, component, reason FROM outbox") == [
        ("statuspage", "api", engine.statuses["api"].reason)
    ]
    assert database.rows("SELECT component, status FROM component_state") == [
        ("api", "major_outage")
    ]


@pytest.mark.parametrize(
    "route",
    [Route(), Route(None, frozenset({"api"})), Route("statuspage", frozenset({"db"}))],
    ids=["no publisher", "no publisher, targets", "another component shown"],
)
def test_a_change_no_publisher_shows_is_recorded_but_not_queued(
    database: Database, route: Route
) -> None:
    engine = StatusEngine([API, DB], at=0.0)
    probe(engine, database, FAIL, 1.0)
    changes = engine.observe("api/eu", FAIL, 2.0)
    probed: Probed = (database.ids["api/eu"], 2.0, FAIL, engine.checks["api/eu"])
    assert not route.publishes(changes)
    counts = database.apply(record(changes, route, probed))
    assert (counts["transitions"], counts["component_state"], counts["outbox"]) == (2, 1, 0)


def test_maintenance_and_reloads_write_statuses_and_outbox_entries_without_a_probe(
    database: Database,
) -> None:
    engine = StatusEngine([API, DB], at=0.0)
    route = Route("log", frozenset({"api", "db"}))
    changes = engine.set_maintenance("db", "until 04:00", 1.0)
    counts = database.apply(snapshot(engine.statuses) + record(changes, route))
    assert counts == dict.fromkeys(TABLES, 0) | {
        "transitions": 1,
        "component_state": 2,  # every component, as a start or a reload leaves them
        "outbox": 1,
    }
    assert database.rows("SELECT component, status FROM component_state ORDER BY component") == [
        ("api", "operational"),
        ("db", "under_maintenance"),
    ]


def test_the_outbox_entry_is_the_transition() -> None:
    transition = ComponentTransition(5.0, Status.OPERATIONAL, Status.MAJOR_OUTAGE, "down")
    assert Route("statuspage", {"api"}).outbox("db", transition) == []
    (entry,) = Route("statuspage", {"api"}).outbox("api", transition)
    assert entry == save_outbox_entry("statuspage", "api", transition)


OP, DEG, PART, MAJ, MAINT = (
    Status.OPERATIONAL,
    Status.DEGRADED_PERFORMANCE,
    Status.PARTIAL_OUTAGE,
    Status.MAJOR_OUTAGE,
    Status.UNDER_MAINTENANCE,
)


@pytest.mark.parametrize(
    ("before", "after", "worse"),
    [
        (OP, DEG, True),
        (DEG, MAJ, True),
        (MAJ, PART, False),
        (PART, OP, False),
        (OP, MAINT, False),  # entering maintenance is never a warning
        (MAJ, MAINT, False),
        (MAINT, OP, True),  # leaving it always is: what the checks found is news
        (MAINT, MAJ, True),
    ],
)
def test_what_is_logged_as_a_warning(before: Status, after: Status, worse: bool) -> None:
    assert is_worse(ComponentTransition(1.0, before, after, "")) is worse
