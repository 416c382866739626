"""The engine over restarts, the saved state's encoding, and the maintenance calendar."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.engine import StatusEngine
from monitor.maintenance import MaintenanceCalendar
from monitor.model import Component, ErrorKind, HttpCheck, Maintenance, Outcome, ProbeResult
from monitor.state import CheckState, CheckStatus, Status, Thresholds, step_check
from monitor.store import (
    Store,
    decode_check_status,
    encode_check_status,
    open_db,
    register_checks,
    save_check_status,
    save_component_status,
    save_transition,
)
from monitor.writer import Writer

API = Component(
    id="api",
    name="API",
    checks=(
        HttpCheck(name="eu", url="http://127.0.0.1:1/eu", fail_after=2),
        HttpCheck(name="us", url="http://127.0.0.1:1/us", fail_after=2),
    ),
)
FAIL = ProbeResult.failed(ErrorKind.REFUSED, "connection refused", 0.001)
OK = ProbeResult(Outcome.OK, 0.001)


def test_engine_opens_and_closes_an_outage() -> None:
    engine = StatusEngine([API], at=0.0)
    assert engine.observe("api/eu", FAIL, 1.0) == []
    changes = engine.observe("api/eu", FAIL, 2.0)
    assert [(c.check, c.transition.after) for c in changes] == [
        ("api/eu", CheckState.DOWN),
        (None, Status.PARTIAL_OUTAGE),
    ]
    engine.observe("api/us", FAIL, 3.0)
    changes = engine.observe("api/us", FAIL, 4.0)
    assert changes[-1].transition.after is Status.MAJOR_OUTAGE
    assert engine.statuses["api"].reason == (
        "all 2 checks down: eu connection refused; us connection refused"
    )


def test_maintenance_overrides_and_ends_with_what_the_checks_say() -> None:
    engine = StatusEngine([API], at=0.0)
    assert engine.set_maintenance("api", "until 04:00", 1.0)[0].transition.after is (
        Status.UNDER_MAINTENANCE
    )
    for at in (2.0, 3.0):
        for key in ("api/eu", "api/us"):
            assert all(c.check for c in engine.observe(key, FAIL, at)), "no component change"
    assert engine.set_maintenance("api", "until 04:00", 4.0) == []
    ended = engine.set_maintenance("api", None, 5.0)
    assert [(c.transition.before, c.transition.after) for c in ended] == [
        (Status.UNDER_MAINTENANCE, Status.MAJOR_OUTAGE)
    ]


def test_state_survives_the_database_and_a_new_engine(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    engine = StatusEngine([API], at=0.0)
    writer = Writer(path, flush_interval=0.01)
    writer.start()
    ids = writer.call(lambda db: register_checks(db, [API])).result(5)
    for at in (1.0, 2.0):
        for key in ("api/eu", "api/us"):
            for change in engine.observe(key, FAIL, at):
                check_id = ids[change.check] if change.check else None
                writer.submit(save_transition("api", check_id, change.transition))
            writer.submit(save_check_status(ids[key], engine.checks[key]))
    writer.submit(save_component_status("api", engine.statuses["api"]))
    writer.stop()

    store = Store.open(path)
    checks, components = store.statuses()
    transitions = store.transitions("api")
    store.close()
    assert checks == engine.checks
    assert components == engine.statuses
    assert [(t.check, t.before, t.after) for t in transitions] == [
        ("eu", "up", "down"),
        (None, "operational", "partial_outage"),
        ("us", "up", "down"),
        (None, "partial_outage", "major_outage"),
    ]
    restored = StatusEngine([API], 10.0, checks, components)
    assert restored.judge_all(10.0) == [], "a restart invents no transition"
    assert restored.statuses["api"].since == 2.0
    assert restored.observe("api/eu", FAIL, 11.0) == []


outcomes = st.lists(st.sampled_from(["O", "S", "F"]), max_size=60)


@settings(max_examples=100, deadline=None)
@given(codes=outcomes)
def test_encoding_round_trips_any_status(codes: list[str]) -> None:
    status = CheckStatus()
    th = Thresholds()
    for n, code in enumerate(codes):
        result = {"O": OK, "F": FAIL, "S": ProbeResult(Outcome.SLOW, 2.0)}[code]
        status, _ = step_check(status, result, 1000.0 + n * 1.5, th)
    back = decode_check_status(
        status.state.value, round(status.since * 1000), encode_check_status(status)
    )
    assert back == status


def ts(text: str) -> float:
    return dt.datetime.fromisoformat(text).timestamp()


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        ("2026-11-29T00:59:59+00:00", None),  # 01:59:59 in Berlin, a Sunday
        ("2026-11-29T01:00:00+00:00", "scheduled maintenance until 2026-11-29 03:00 UTC"),
        ("2026-11-29T02:59:59+00:00", "scheduled maintenance until 2026-11-29 03:00 UTC"),
        ("2026-11-29T03:00:00+00:00", None),
        ("2026-11-30T01:30:00+00:00", None),  # Monday
        ("2026-12-01T02:30:00+00:00", "scheduled maintenance until 2026-12-01 04:00 UTC"),
        ("2026-12-01T04:00:00+00:00", None),
    ],
)
def test_maintenance_calendar(at: str, expected: str | None) -> None:
    calendar = MaintenanceCalendar(
        [
            Maintenance(
                components=("api",), cron="0 2 * * sun", duration=7200, timezone="Europe/Berlin"
            ),
            Maintenance(
                components=("api", "web"),
                start=dt.datetime(2026, 12, 1, 2, tzinfo=dt.UTC),
                end=dt.datetime(2026, 12, 1, 4, tzinfo=dt.UTC),
            ),
        ]
    )
    assert calendar.active("api", ts(at)) == expected
    assert calendar.active("other", ts(at)) is None


def test_open_db_twice_keeps_state_tables(tmp_path: Path) -> None:
    open_db(tmp_path / "m.db").close()
    db = open_db(tmp_path / "m.db")
    assert {"check_state", "component_state", "transitions"} <= set(db.table_names())
    db.close()


def test_reconfigure_keeps_what_stays_and_rejudges_what_changed() -> None:
    engine = StatusEngine([API], at=0.0)
    for at in (1.0, 2.0):
        engine.observe("api/eu", FAIL, at)
    engine.set_maintenance("api", None, 2.5)
    down = engine.checks["api/eu"]
    smaller = Component(id="api", name="API", checks=(API.checks[0],))  # "us" removed
    changes = engine.reconfigure([smaller], at=3.0)
    assert engine.checks["api/eu"] == down, "the unchanged check keeps its state"
    assert "api/us" not in engine.checks and set(engine.members["api"]) == {"eu"}
    assert [(c.transition.before, c.transition.after) for c in changes] == [
        (Status.PARTIAL_OUTAGE, Status.MAJOR_OUTAGE)
    ], "one check of one is down now: re-judged"
    other = Component(id="web", name="Web", checks=(HttpCheck(name="home", url="http://x/"),))
    assert engine.reconfigure([smaller, other], at=4.0) == []
    assert engine.statuses["web"].status is Status.OPERATIONAL
    assert engine.maintenance == {"api": None, "web": None}
