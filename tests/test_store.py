"""The store and its writer thread, on a real SQLite file (and in memory where it makes sense)."""

from __future__ import annotations

import gc
import sqlite3
import sys
import threading
import time
from pathlib import Path

import pytest

from monitor.config.urls import redact_url
from monitor.model import Component, ErrorKind, HttpCheck, Outcome, TcpCheck
from monitor.state import CheckStatus
from monitor.store import (
    INSERT_RESULTS,
    Stmt,
    Store,
    load_statuses,
    open_db,
    register_checks,
    save_check_status,
)
from monitor.writer import Writer

from .conftest import wait_for

COMPONENTS = (
    Component(
        id="api",
        name="API",
        checks=(
            HttpCheck(name="healthz", url="https://user:secret@api.example.com/healthz"),
            TcpCheck(name="db", host="db.internal", port=5432),
        ),
    ),
)


@pytest.fixture(params=["memory", "file"])
def db(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    database = open_db(":memory:" if request.param == "memory" else tmp_path / "m.db")
    yield database
    database.close()


def test_migrations_create_the_schema_once(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    open_db(path).close()
    db = open_db(path)  # a second open applies nothing new and does not fail
    assert {"components", "checks", "results"} <= set(db.table_names())
    applied = db.execute("SELECT name FROM _sqlite_migrations").fetchall()
    assert [name for (name,) in applied] == [
        "m001_initial",
        "m002_status",
        "m003_outbox",
        "m004_history",
        "m005_monthly",
        "m006_run_end",
        "m007_announcements",
    ]
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_register_checks_keeps_ids_stable_and_stores_no_credentials(db) -> None:  # type: ignore[no-untyped-def]
    first = register_checks(db, COMPONENTS)
    assert set(first) == {"api/healthz", "api/db"}
    moved = (
        Component(
            id="api",
            name="API renamed",
            checks=(HttpCheck(name="healthz", url="https://api2.example.com/healthz"),),
        ),
    )
    second = register_checks(db, moved)
    assert second["api/healthz"] == first["api/healthz"]
    targets = [row[0] for row in db.execute("SELECT target FROM checks ORDER BY id")]
    assert targets == ["https://api2.example.com/healthz", "db.internal:5432"]
    assert "secret" not in str(db.execute("SELECT * FROM checks").fetchall())
    assert db.execute("SELECT name FROM components").fetchall() == [("API renamed",)]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://u:p@h.example/x?y=1", "https://u:***@h.example/x?y=***"),
        ("http://h:8080/", "http://h:8080/"),
        ("http://a@b@h/p@q", "http://***@h/p@q"),
        ("h:1", "h:1"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_writer_batches_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    writer = Writer(path, flush_interval=0.05)
    writer.start()
    ids = writer.call(lambda db: register_checks(db, COMPONENTS)).result(5)
    check_id = ids["api/healthz"]
    for i in range(3000):
        writer.submit((1_700_000_000_000 + i, check_id, 0, 1500, 200, None, None))
    writer.submit((1_700_000_003_000, ids["api/db"], 2, 5_000_000, None, 0, "timeout after 5.0 s"))
    writer.stop()
    assert writer.stats.rows_written == 3001
    assert writer.stats.batches < 100, "rows must be written in batches, not one by one"

    store = Store.open(path)
    assert store.count_results() == 3001
    assert store.count_results("api/db") == 1
    last = list(store.results(since_ms=1_700_000_003_000))
    assert len(last) == 1
    assert last[0].component == "api" and last[0].check == "db"
    assert last[0].outcome is Outcome.FAIL and last[0].error_kind is ErrorKind.TIMEOUT
    assert last[0].latency_ms == 5000.0 and last[0].error == "timeout after 5.0 s"
    store.close()


def test_writer_keeps_rows_while_the_database_is_locked(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    open_db(path).close()
    writer = Writer(path, flush_interval=0.02, busy_timeout=0.05)
    writer.start()
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    for i in range(10):
        writer.submit((i, 1, 0, 1, None, None, None))
    wait_for(lambda: writer.stats.last_error is not None, 5, "the writer to notice the lock")
    assert "locked" in writer.stats.last_error  # type: ignore[operator]
    assert writer.backlog == 10
    blocker.execute("ROLLBACK")
    blocker.close()
    wait_for(lambda: writer.stats.rows_written == 10, 5, "the writer to catch up")
    assert writer.stats.last_error is None
    writer.stop()
    assert Store.open(path).count_results() == 10


def test_writer_call_runs_after_rows_queued_before_it(tmp_path: Path) -> None:
    writer = Writer(tmp_path / "m.db", flush_interval=10)  # only the call forces the flush
    writer.start()
    for i in range(5):
        writer.submit((i, 1, 0, 1, None, None, None))
    seen = writer.call(lambda db: db.execute("SELECT count(*) FROM results").fetchone()[0])
    assert seen.result(5) == 5
    assert threading.current_thread().name != "monitor-writer"
    writer.stop()


def test_a_read_stopped_early_leaves_no_error_behind(tmp_path: Path) -> None:
    """`monitor export | head` stops reading results and closes the store: dropping the
    half-read stream afterwards is silent (no "Exception ignored" on stderr)."""
    path = tmp_path / "m.db"
    db = open_db(path)
    ids = register_checks(db, COMPONENTS)
    with db.conn:
        for i in range(3):
            db.execute(INSERT_RESULTS, (i, ids["api/db"], 0, 1000, None, None, None))
    db.close()
    unraisable: list[object] = []
    hook, sys.unraisablehook = sys.unraisablehook, unraisable.append
    try:
        store = Store.open(path)
        stream = store.results()
        assert next(stream).check == "db"
        store.close()
        del stream
        gc.collect()
    finally:
        sys.unraisablehook = hook
    assert unraisable == []


def _saved_probes(writer: Writer, check_id: int) -> int | None:
    """The `probes` counter of the check's saved status, read after what was queued before."""
    statuses = writer.call(load_statuses).result(5)[0]
    return statuses[check_id].probes if check_id in statuses else None


def test_a_status_with_a_lag_is_held_newest_kept_until_a_state_change_or_the_stop(
    tmp_path: Path,
) -> None:
    path = tmp_path / "m.db"
    writer = Writer(path, flush_interval=0.01)
    writer.start()
    check_id = writer.call(lambda db: register_checks(db, COMPONENTS)).result(5)["api/db"]

    def probed(n: int, lag: float = 60.0) -> None:
        writer.submit(save_check_status(check_id, CheckStatus(probes=n, last_at=n), lag=lag))

    probed(1)  # the key's first write of the run goes at once
    assert _saved_probes(writer, check_id) == 1
    probed(2)
    probed(3)
    assert _saved_probes(writer, check_id) == 1, "held: written less than a minute ago"
    assert writer.backlog == 0, "a held status is no backlog"
    probed(4, lag=0.0)  # a state change: at once, and the held one goes
    assert _saved_probes(writer, check_id) == 4
    probed(5)
    probed(6)
    writer.stop()  # a clean stop writes the newest held
    assert Store.open(path).statuses()[0]["api/db"].probes == 6


def test_a_held_status_is_written_once_its_lag_is_over(tmp_path: Path) -> None:
    writer = Writer(tmp_path / "m.db", flush_interval=0.01)
    writer.start()
    check_id = writer.call(lambda db: register_checks(db, COMPONENTS)).result(5)["api/db"]
    for n in (1, 2, 3):
        writer.submit(save_check_status(check_id, CheckStatus(probes=n, last_at=n), lag=0.3))
        if n == 1:
            assert _saved_probes(writer, check_id) == 1  # written, so 2 and 3 are held
    wait_for(lambda: _saved_probes(writer, check_id) == 3, 5, "the held status to be written")
    writer.stop()


def test_the_last_probe_is_read_back_from_the_results_newer_than_the_saved_status(
    db,  # type: ignore[no-untyped-def]
) -> None:
    """A status saved a while ago (only counters moved since) says the last probe was then;
    the results say what came after, and those are what `monitor status` shows."""
    ids = register_checks(db, COMPONENTS)
    http, tcp = ids["api/healthz"], ids["api/db"]
    saved = CheckStatus(last_outcome=Outcome.FAIL, last_latency=0.5, last_at=1000.6, last_error="x")
    with db.conn:
        for check_id in (http, tcp):
            db.execute(*_params(save_check_status(check_id, saved)))
        rows = [
            (1_000_100, http, 2, 500_000, None, 4, "x"),  # the saved probe's own row
            (1_000_100, tcp, 2, 500_000, None, 4, "x"),
            (1_010_000, tcp, 2, 2_000_000, None, 3, "timeout after 2.0 s"),
            (1_020_000, tcp, 0, 1500, 200, None, None),  # the newest: ok, after a failure
        ]
        db.conn.executemany(INSERT_RESULTS, rows)
    checks, _ = load_statuses(db)
    assert checks[http] == saved, "no result came after the saved probe"
    newest = checks[tcp]
    assert newest.last_outcome is Outcome.OK and newest.last_latency == 0.0015
    assert newest.last_at == 1020.0015
    assert newest.last_error == "timeout after 2.0 s", "the last failure's message stays"
    assert newest.probes == saved.probes and newest.state is saved.state


def _params(stmt: Stmt) -> tuple[str, object]:
    return stmt.sql, stmt.params() if callable(stmt.params) else stmt.params


def _switches(thread: threading.Thread) -> int:
    """How many times `thread` gave up its core (it slept or waited), from /proc."""
    status = Path(f"/proc/self/task/{thread.native_id}/status").read_text()
    return sum(int(line.split()[1]) for line in status.splitlines() if "ctxt_switches" in line)


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc")
def test_rows_do_not_wake_the_writer_between_its_batches(tmp_path: Path) -> None:
    """A row is a queue put and nothing more: the writer thread sleeps until its next batch
    (a wake-up per probe cost a thread switch and a GIL hand-over each); a call still runs at
    once (test_writer_call_runs_after_rows_queued_before_it)."""
    writer = Writer(tmp_path / "m.db", flush_interval=30)
    writer.start()
    writer.call(lambda db: None).result(5)  # asleep now, until a call or the stop
    thread = writer._thread
    assert thread is not None
    before = _switches(thread)
    for i in range(40):  # paced, as probes finish: each would have woken it
        writer.submit((i, 1, 0, 1, None, None, None))
        time.sleep(0.002)
    assert _switches(thread) - before <= 2
    assert (
        writer.call(lambda db: db.execute("SELECT count(*) FROM results").fetchone()[0]).result(5)
        == 40
    )
    writer.stop()
