"""History: uptime arithmetic against ground truth, rollup percentiles, retention, export."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import main
from monitor.history import BUCKETS_MS, StatusChange, bucket_of, percentile, summarise
from monitor.model import Component, HttpCheck
from monitor.state import CheckState, ComponentTransition, Status
from monitor.store import Store, heartbeat, open_db, register_checks, save_transition
from monitor.writer import Writer

from .conftest import wait_for, write_config

D0 = dt.datetime(2026, 3, 2, tzinfo=dt.UTC).timestamp()
H = 3600.0
OP, DEG, PART, MAJ, MAINT = (
    Status.OPERATIONAL,
    Status.DEGRADED_PERFORMANCE,
    Status.PARTIAL_OUTAGE,
    Status.MAJOR_OUTAGE,
    Status.UNDER_MAINTENANCE,
)
NO_LATENCY = {"p50": None, "p95": None, "p99": None}
API = Component(id="api", name="API", checks=(HttpCheck(name="home", url="http://127.0.0.1:1/"),))


def config(tmp_path: Path) -> Path:
    return write_config(
        tmp_path,
        """
        [monitor]
        database = "m.db"
        listen = ""
        retention = "3650d"
        [[component]]
        name = "API"
          [[component.check]]
          type = "http"
          name = "home"
          url = "http://127.0.0.1:1/"
        """,
    )


def ground_truth(tmp_path: Path) -> Path:
    """Two days: an hour of major outage; a partial outage of 4 h with the daemon down for 2 h
    in the middle of it; 2 h of maintenance; half an hour degraded."""
    path = tmp_path / "m.db"
    writer = Writer(path, flush_interval=0.01)
    writer.start()
    writer.call(lambda db: register_checks(db, [API])).result(5)
    changes = [
        (D0 + 6 * H, OP, MAJ),
        (D0 + 7 * H, MAJ, OP),
        (D0 + 19 * H, OP, PART),
        (D0 + 23 * H, PART, OP),
        (D0 + 26 * H, OP, MAINT),
        (D0 + 28 * H, MAINT, OP),
        (D0 + 36 * H, OP, DEG),
        (D0 + 36.5 * H, DEG, OP),
    ]
    for at, before, after in changes:
        writer.submit(
            save_transition("api", None, ComponentTransition(at, before, after, f"{after}"))
        )

    def runs(db):  # type: ignore[no-untyped-def]
        with db.conn:
            heartbeat(db, D0, D0 + 20 * H)
            heartbeat(db, D0 + 22 * H, D0 + 48 * H)

    writer.call(runs).result(5)
    writer.stop()
    return path


def test_uptime_downtime_mttr_and_days_match_ground_truth(tmp_path: Path) -> None:
    ground_truth(tmp_path)
    result = CliRunner().invoke(
        main,
        [
            "history",
            "-c",
            str(config(tmp_path)),
            "--since",
            "2026-03-02",
            "--until",
            "2026-03-04",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert (document["since"], document["until"]) == (
        "2026-03-02T00:00:00Z",
        "2026-03-04T00:00:00Z",
    )
    (api,) = document["components"]
    monitored = 48 * H - 2 * H  # the daemon was down 20:00-22:00 on the first day
    counted = monitored - 2 * H  # maintenance left out
    down = 1 * H + (1 * H + 1 * H) + 0.5 * H  # the gap inside the partial outage is not counted
    assert api["monitored_seconds"] == monitored
    assert api["maintenance_seconds"] == 2 * H
    assert api["downtime_seconds"] == down
    assert api["uptime"] == round((counted - down) / counted, 6)
    assert api["incidents"] == 3
    assert api["mttr_seconds"] == (1 * H + 4 * H + 0.5 * H) / 3, "wall-clock, gap included"
    assert api["days"] == [
        {
            "date": "2026-03-02",
            "uptime": round((22 * H - 3 * H) / (22 * H), 6),
            "worst_status": "major_outage",
            "latency_ms": NO_LATENCY,
        },
        {
            "date": "2026-03-03",
            "uptime": round((22 * H - 0.5 * H) / (22 * H), 6),
            "worst_status": "degraded_performance",
            "latency_ms": NO_LATENCY,
        },
    ]
    assert api["success_ratio"] is None and api["latency_ms"] == NO_LATENCY


def test_days_follow_the_time_zone(tmp_path: Path) -> None:
    ground_truth(tmp_path)
    result = CliRunner().invoke(
        main,
        [
            "history", "-c", str(config(tmp_path)), "--since", "2026-03-02",
            "--until", "2026-03-04", "--tz", "Asia/Tokyo", "--json",
        ],
    )  # fmt: skip
    days = json.loads(result.output)["components"][0]["days"]
    # Tokyo days (UTC+9): the first is watched from 09:00, with the 1 h major outage; the second
    # holds the partial outage (2 h watched), the maintenance and the degraded half hour.
    assert [day.pop("latency_ms") for day in days] == [NO_LATENCY, NO_LATENCY]
    assert days == [
        {"date": "2026-03-02", "uptime": round(14 / 15, 6), "worst_status": "major_outage"},
        {"date": "2026-03-03", "uptime": round(17.5 / 20, 6), "worst_status": "partial_outage"},
    ]


def test_incidents_lists_every_period_with_its_published_incident(tmp_path: Path) -> None:
    path = ground_truth(tmp_path)
    db = open_db(path)
    with db.conn:
        db.execute(
            "INSERT INTO published_incidents VALUES ('none', 'inc-7', 'api', ?)",
            [int((D0 + 19 * H) * 1000)],
        )
    db.close()
    result = CliRunner().invoke(
        main,
        [
            "incidents",
            "-c",
            str(config(tmp_path)),
            "--since",
            "2026-03-02",
            "--until",
            "2026-03-04",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["incidents"]
    assert [(r["start"], r["duration_seconds"], r["worst_status"]) for r in rows] == [
        ("2026-03-02T06:00:00Z", 1 * H, "major_outage"),
        ("2026-03-02T19:00:00Z", 4 * H, "partial_outage"),
        ("2026-03-03T12:00:00Z", 0.5 * H, "degraded_performance"),
    ]
    assert [r["status_page_incident"] for r in rows] == [None, "inc-7", None]
    table = CliRunner().invoke(
        main, ["incidents", "-c", str(config(tmp_path)), "--since", "2026-03-02"]
    )
    assert table.exit_code == 0 and "inc-7" in table.output


def test_percentiles_from_rollups_are_within_one_bucket_of_raw(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    writer = Writer(path, flush_interval=0.01)
    writer.start()
    ids = writer.call(lambda db: register_checks(db, [API])).result(5)
    rng = random.Random(7)
    latencies = [int(rng.lognormvariate(3.5, 1.0) * 1000) for _ in range(20000)]  # ~33 ms median
    start_ms = int(D0 * 1000)
    for n, latency in enumerate(latencies):
        writer.submit((start_ms + n * 500, ids["api/home"], 0, latency, 200, None, None))
    writer.stop()
    store = Store.open(path)
    for hourly in (True, False):
        ok, slow, fail, total_us, buckets = store.rollup([ids["api/home"]], D0, D0 + 86400, hourly)
        assert (ok, slow, fail) == (20000, 0, 0) and total_us == sum(latencies)
        ordered = sorted(latencies)
        for q in (0.5, 0.95, 0.99):
            raw = ordered[int(q * len(ordered)) - 1]
            estimate = percentile(buckets, q)
            assert estimate is not None
            assert abs(BUCKETS_MS.index(estimate) - bucket_of(raw)) <= 1, (q, raw, estimate)
    store.close()


def test_retention_deletes_old_raw_rows_in_chunks_and_keeps_rollups(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    now_ms = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
    old_ms = now_ms - 10 * 86400 * 1000
    writer = Writer(path, flush_interval=0.01, retention=86400, prune_chunk=100, prune_every=0.05)
    writer.start()
    ids = writer.call(lambda db: register_checks(db, [API])).result(5)
    for n in range(1000):
        writer.submit((old_ms + n * 1000, ids["api/home"], 0, 1000, 200, None, None))
    for n in range(10):
        writer.submit((now_ms - n * 1000, ids["api/home"], 0, 1000, 200, None, None))
    wait_for(lambda: writer.stats.pruned >= 1000, 10, "retention to delete the old rows")
    writer.stop()
    store = Store.open(path)
    assert store.count_results() == 10
    days = store.db.execute("SELECT sum(ok) FROM rollup_day").fetchone()[0]
    assert days == 1010, "daily rollups are kept"
    store.close()


def test_export_streams_json_and_csv(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    writer = Writer(path, flush_interval=0.01)
    writer.start()
    ids = writer.call(lambda db: register_checks(db, [API])).result(5)
    now_ms = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
    writer.submit((now_ms - 5000, ids["api/home"], 0, 1500, 200, None, None))
    writer.submit((now_ms - 4000, ids["api/home"], 2, 5_000_000, None, 0, "timeout after 5.0 s"))
    writer.stop()
    cfg = config(tmp_path)
    out = CliRunner().invoke(main, ["export", "-c", str(cfg), "--since", "1h"])
    assert out.exit_code == 0, out.output
    lines = [json.loads(line) for line in out.output.splitlines()]
    assert lines[1] == {
        "component": "api",
        "check": "home",
        "at": lines[1]["at"],
        "outcome": "fail",
        "latency_ms": 5000.0,
        "status_code": None,
        "error": "timeout: timeout after 5.0 s",
    }
    assert lines[0]["at"].endswith("Z") and lines[0]["status_code"] == 200
    csv = CliRunner().invoke(main, ["export", "-c", str(cfg), "--since", "1h", "--format", "csv"])
    rows = csv.output.splitlines()
    assert rows[0] == "component,check,at,outcome,latency_ms,status_code,error"
    assert len(rows) == 3 and rows[2].endswith(",fail,5000.0,,timeout: timeout after 5.0 s")
    other = CliRunner().invoke(main, ["export", "-c", str(cfg), "--component", "nope"])
    assert other.exit_code == 2


@pytest.mark.parametrize("since", ["yesterday", "30x"])
def test_bad_since_is_a_usage_error(tmp_path: Path, since: str) -> None:
    ground_truth(tmp_path)
    result = CliRunner().invoke(main, ["history", "-c", str(config(tmp_path)), "--since", since])
    assert result.exit_code == 2 and "duration" in result.output


@pytest.mark.parametrize(
    ("first", "last"),
    [("2026-01-01", "2026-03-15"), ("2026-01-17", "2026-03-02"), ("2026-02-03", "2026-02-20")],
)
def test_long_windows_add_months_and_days_exactly(tmp_path: Path, first: str, last: str) -> None:
    """Whole months come from monthly rollups, the ends from daily ones: the same counts as the
    raw rows, whatever the window's edges."""
    path = tmp_path / "m.db"
    writer = Writer(path, flush_interval=0.01)
    writer.start()
    ids = writer.call(lambda db: register_checks(db, [API])).result(5)
    rng = random.Random(3)
    start = int(dt.datetime(2025, 12, 20, tzinfo=dt.UTC).timestamp() * 1000)
    rows = [
        (start + n * 3_600_000, ids["api/home"], rng.choice([0, 0, 1, 2]), 2000, None, None, None)
        for n in range(24 * 110)
    ]
    for row in rows:
        writer.submit(row)
    writer.stop()
    since = dt.datetime.fromisoformat(first).replace(tzinfo=dt.UTC).timestamp()
    until = dt.datetime.fromisoformat(last).replace(tzinfo=dt.UTC).timestamp()
    expected = [0, 0, 0]
    for at_ms, _, outcome, *_ in rows:
        if since * 1000 <= at_ms < until * 1000:
            expected[outcome] += 1
    store = Store.open(path)
    ok, slow, fail, _, buckets = store.rollup([ids["api/home"]], since, until, False)
    store.close()
    assert [ok, slow, fail] == expected
    assert sum(buckets) == ok + slow


def test_worse_than_is_one_order_of_the_statuses() -> None:
    """Status.severity and CheckState.severity: the only definition of "worse than"."""
    assert sorted(Status, key=lambda s: s.severity) == [
        Status.OPERATIONAL,
        Status.UNDER_MAINTENANCE,
        Status.DEGRADED_PERFORMANCE,
        Status.PARTIAL_OUTAGE,
        Status.MAJOR_OUTAGE,
    ]
    assert sorted(CheckState, key=lambda s: s.severity) == [
        CheckState.UP,
        CheckState.SLOW,
        CheckState.FLAKY,
        CheckState.DOWN,
    ]
    # A day's worst status and an incident's worst follow it.
    changes = [
        StatusChange(D0 + 3600, Status.OPERATIONAL, Status.UNDER_MAINTENANCE),
        StatusChange(D0 + 7200, Status.UNDER_MAINTENANCE, Status.OPERATIONAL),
        StatusChange(D0 + 90000, Status.OPERATIONAL, Status.MAJOR_OUTAGE, "down"),
        StatusChange(D0 + 90060, Status.MAJOR_OUTAGE, Status.DEGRADED_PERFORMANCE, "slow"),
        StatusChange(D0 + 90120, Status.DEGRADED_PERFORMANCE, Status.OPERATIONAL),
    ]
    summary = summarise(changes, [(D0, D0 + 2 * 86400)], D0, D0 + 2 * 86400)
    assert [day.worst_status for day in summary.days] == [
        Status.UNDER_MAINTENANCE,
        Status.MAJOR_OUTAGE,
    ]
    assert [p.worst for p in summary.incidents] == [Status.MAJOR_OUTAGE]
