"""Databases written by released versions still open, migrate and read the same.

tests/data/monitor-v<N>.db is what release N wrote (tests/data/make_release_db.py, through the
store's own functions): twelve minutes of probes of three checks in two components, the
transitions they made, an incident delivered to the page and changes still owed to it. Every
release must upgrade each of these files and read back exactly what they hold, through the
commands a user types and through what the daemon restores on start. The expected values below
are literals: they are what those databases mean, whatever the code of the day.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from monitor.cli import main
from monitor.incidents import IncidentStatus, Pending, Remote
from monitor.model import Outcome
from monitor.state import CheckState, Status
from monitor.store import SCHEMA_VERSION, Store, load_outbox, load_statuses, open_db

from .conftest import write_config

DATA = Path(__file__).parent / "data"
RELEASES = sorted(DATA.glob("monitor-v*.db"))
T0 = 1_767_571_200.0  # 2026-01-05T00:00:00Z
WINDOW = ["--since", "2026-01-05", "--until", "2026-01-06"]
CONFIG = """
    [monitor]
    database = "monitor.db"
    listen = ""

    [publisher]
    type = "statuspage"
    url = "http://127.0.0.1:9/v1"
    page_id = "p"
    api_key_env = "MONITOR_TEST_API_KEY"

    [[component]]
    name = "API"
    remote_id = "rc-api"
      [[component.check]]
      type = "http"
      name = "healthz"
      url = "https://api.example.com/healthz"
      degraded_over = "800ms"
      [[component.check]]
      type = "tcp"
      name = "db"
      host = "db.internal"
      port = 5432

    [[component]]
    name = "Web"
    remote_id = "rc-web"
      [[component.check]]
      type = "http"
      name = "home"
      url = "https://www.example.com/"
    """
API_DOWN = "1 of 2 checks down: healthz cannot resolve api.example.com"
API_DB_DOWN = "1 of 2 checks down: db cannot build the request"
WEB_FLAKY = "home flaky: failing intermittently, last: certificate has expired"


def test_this_release_has_its_database() -> None:
    assert (DATA / f"monitor-v{SCHEMA_VERSION}.db").exists(), (
        "a new schema version: run python tests/data/make_release_db.py and commit the file"
    )


@pytest.fixture(params=RELEASES, ids=lambda path: path.name)
def upgraded(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A copy of a release's database, upgraded as `monitor run` upgrades it; its config."""
    release: Path = request.param
    assert release.stat().st_size < 64 * 1024, "keep the release databases small"
    shutil.copyfile(release, tmp_path / "monitor.db")
    open_db(tmp_path / "monitor.db").close()
    return write_config(tmp_path, CONFIG)


def _schema(path: Path) -> list[tuple[str, str, str]]:
    conn = sqlite3.connect(path)
    try:
        return sorted(conn.execute("SELECT type, name, coalesce(sql, '') FROM sqlite_master"))
    finally:
        conn.close()


def _command(*args: str) -> Any:
    result = CliRunner().invoke(main, list(args), env={"MONITOR_TEST_API_KEY": "k"})
    assert result.exit_code == 0, result.output + result.stderr
    return result.stdout


def test_upgraded_it_has_the_schema_of_a_new_database(upgraded: Path, tmp_path: Path) -> None:
    open_db(tmp_path / "new.db").close()
    assert _schema(upgraded.parent / "monitor.db") == _schema(tmp_path / "new.db")


def test_history_reads_the_same(upgraded: Path) -> None:
    document = json.loads(_command("history", "-c", str(upgraded), "--json", *WINDOW))
    assert document["since"] == "2026-01-05T00:00:00Z"
    got = {
        c["id"]: {k: c[k] for k in ("uptime", "success_ratio", "downtime_seconds", "probes")}
        | {"incidents": c["incidents"], "latency_ms": c["latency_ms"], "days": c["days"]}
        for c in document["components"]
    }
    day = {"date": "2026-01-05", "worst_status": "partial_outage"}
    assert got == {
        "api": {
            "uptime": 0.771429,
            "success_ratio": 0.75,
            "downtime_seconds": 160.0,
            "probes": 24,
            "incidents": 2,
            "latency_ms": {"p50": 5.0, "p95": 1500.0, "p99": 1500.0},
            "days": [
                day | {"uptime": 0.771429, "latency_ms": {"p50": 5.0, "p95": 1500.0, "p99": 1500.0}}
            ],
        },
        "web": {
            "uptime": 0.514286,
            "success_ratio": 0.75,
            "downtime_seconds": 340.0,
            "probes": 12,
            "incidents": 1,
            "latency_ms": {"p50": 50.0, "p95": 50.0, "p99": 50.0},
            "days": [
                day | {"uptime": 0.514286, "latency_ms": {"p50": 50.0, "p95": 50.0, "p99": 50.0}}
            ],
        },
    }


def test_incidents_read_the_same(upgraded: Path) -> None:
    document = json.loads(_command("incidents", "-c", str(upgraded), "--json", *WINDOW))
    got = [
        (i["component"], i["start"], i["end"], i["worst_status"], i["reason"])
        + (i["status_page_incident"],)
        for i in document["incidents"]
    ]
    assert got == [
        ("api", "2026-01-05T00:05:00Z", "2026-01-05T00:07:00Z", "partial_outage", API_DOWN)
        + ("inc-api-1",),
        ("web", "2026-01-05T00:06:00Z", None, "partial_outage", WEB_FLAKY, None),
        ("api", "2026-01-05T00:11:00Z", None, "partial_outage", API_DB_DOWN, None),
    ]


def test_every_probe_result_reads_the_same(upgraded: Path) -> None:
    lines = _command("export", "-c", str(upgraded), *WINDOW).splitlines()
    rows = [json.loads(line) for line in lines]
    assert len(rows) == 36
    assert rows[0] == {
        "component": "api",
        "check": "healthz",
        "at": "2026-01-05T00:00:00.000Z",
        "outcome": "ok",
        "latency_ms": 42.0,
        "status_code": 200,
        "error": None,
    }
    assert [r["outcome"] for r in rows].count("slow") == 1
    failures = [(r["check"], r["at"][11:16], r["status_code"], r["error"]) for r in rows]
    assert [f for f in failures if f[3] is not None] == [
        ("home", "00:02", 500, "status: status 500, expected 2xx or 3xx"),
        ("healthz", "00:03", None, "timeout: timeout after 10.0 s"),
        ("healthz", "00:04", None, "refused: connection refused"),
        ("home", "00:04", 200, "body: body does not contain 'ok'"),
        ("healthz", "00:05", None, "dns: cannot resolve api.example.com"),
        ("home", "00:06", None, "tls: certificate has expired"),
        ("db", "00:09", None, "reset: connection reset by peer"),
        ("db", "00:10", None, "protocol: expected 'PONG', got 'ERR'"),
        ("db", "00:11", None, "config: cannot build the request"),
    ]


def test_status_reads_the_same(upgraded: Path) -> None:
    document = json.loads(_command("status", "-c", str(upgraded), "--json"))
    fields = ("name", "state", "since", "last_outcome", "last_error")
    got = {
        c["id"]: (
            c["status"],
            c["since"],
            c["reason"],
            c["incident"],
            [tuple(check[f] for f in fields) for check in c["checks"]],
        )
        for c in document["components"]
    }
    assert got == {
        "api": (
            "partial_outage",
            "2026-01-05T00:11:00Z",
            API_DB_DOWN,
            {"id": "inc-api-1", "status": "monitoring"},
            [
                ("healthz", "up", "2026-01-05T00:07:00Z", "ok", "cannot resolve api.example.com"),
                ("db", "down", "2026-01-05T00:11:00Z", "fail", "cannot build the request"),
            ],
        ),
        "web": (
            "partial_outage",
            "2026-01-05T00:06:00Z",
            WEB_FLAKY,
            None,
            [("home", "flaky", "2026-01-05T00:06:00Z", "ok", "certificate has expired")],
        ),
    }
    assert document["publisher"] == {
        "type": "statuspage",
        "queued": 2,
        "error": "HTTP 503 from the page: try again later",
    }
    assert document["daemon"] == {"running": False, "last_seen": "2026-01-05T00:11:40Z"}


def test_transitions_read_the_same(upgraded: Path) -> None:
    store = Store.open(upgraded.parent / "monitor.db")
    try:
        got = [(t.at - T0, t.component, t.check, t.before, t.after) for t in store.transitions()]
    finally:
        store.close()
    assert got == [
        (300.0, "api", "healthz", "up", "down"),
        (300.0, "api", None, "operational", "partial_outage"),
        (360.0, "web", "home", "up", "flaky"),
        (360.0, "web", None, "operational", "partial_outage"),
        (420.0, "api", "healthz", "down", "up"),
        (420.0, "api", None, "partial_outage", "operational"),
        (660.0, "api", "db", "up", "down"),
        (660.0, "api", None, "operational", "partial_outage"),
    ]


def test_the_daemon_restores_states_and_outbox(upgraded: Path) -> None:
    """What `monitor run` reads on start: the engine's saved state and what the page is owed."""
    db = open_db(upgraded.parent / "monitor.db")
    try:
        keys = {id_: key for id_, key in db.execute("SELECT id, key FROM checks")}
        checks, components = load_statuses(db)
        outbox = load_outbox(db, "statuspage")
    finally:
        db.close()
    restored = {
        keys[id_]: (s.state, s.since - T0, s.probes, s.fails_in_row, s.raw, s.last_outcome)
        for id_, s in checks.items()
    }
    assert restored == {
        "api/healthz": (CheckState.UP, 420.0, 12, 0, CheckState.UP, Outcome.OK),
        "api/db": (CheckState.DOWN, 660.0, 12, 3, CheckState.DOWN, Outcome.FAIL),
        "web/home": (CheckState.FLAKY, 360.0, 12, 0, CheckState.FLAKY, Outcome.OK),
    }
    assert checks[2].is_down and checks[3].is_flaky and checks[1].raw_changes == (6, 8)
    assert {cid: (c.status, c.since - T0) for cid, c in components.items()} == {
        "api": (Status.PARTIAL_OUTAGE, 660.0),
        "web": (Status.PARTIAL_OUTAGE, 360.0),
    }
    partial, operational = Status.PARTIAL_OUTAGE, Status.OPERATIONAL
    assert outbox == {
        "api": (
            Remote(
                incident_id="inc-api-1",
                key="api:1767571500000",
                incident_status=IncidentStatus.MONITORING,
                started_at=T0 + 300,
                recovered_at=T0 + 420,
                worst=partial,
                last_reason=API_DOWN,
                page_status=operational,
                target=operational,
            ),
            [Pending(4, T0 + 660, operational, partial, API_DB_DOWN)],
        ),
        "web": (None, [Pending(2, T0 + 360, operational, partial, WEB_FLAKY)]),
    }
