"""The status rules end to end: `monitor run` as a subprocess against a target the test switches."""

from __future__ import annotations

import datetime as dt
import json
import signal
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import main

from .conftest import DaemonProcess, Target, count_rows, wait_for, write_config

pytestmark = pytest.mark.slow


def component_status(db: Path, component: str) -> tuple[str, int] | None:
    if not db.exists():
        return None
    conn = sqlite3.connect(db, timeout=5)
    try:
        row = conn.execute(
            "SELECT status, since FROM component_state WHERE component = ?", [component]
        ).fetchone()
    except sqlite3.OperationalError:
        return None
    finally:
        conn.close()
    return (row[0], row[1]) if row else None


def component_transitions(db: Path, component: str) -> list[tuple[str, str, str]]:
    conn = sqlite3.connect(db, timeout=5)
    try:
        return conn.execute(
            "SELECT before, after, reason FROM transitions WHERE component = ? "
            "AND check_id IS NULL ORDER BY id",
            [component],
        ).fetchall()
    finally:
        conn.close()


def fails_before(db: Path, check: str, at_ms: int) -> list[str]:
    """Outcomes of `check`'s probes started before `at_ms`, newest first."""
    conn = sqlite3.connect(db, timeout=5)
    try:
        rows = conn.execute(
            "SELECT r.outcome FROM results r JOIN checks c ON c.id = r.check_id "
            "WHERE c.key = ? AND r.at < ? ORDER BY r.at DESC",
            [check, at_ms],
        ).fetchall()
    finally:
        conn.close()
    return [("ok", "slow", "fail")[o] for (o,) in rows]


def wait_status(db: Path, component: str, status: str, timeout: float = 20) -> None:
    wait_for(
        lambda: (component_status(db, component) or ("",))[0] == status,
        timeout,
        f"{component} to be {status} (now {component_status(db, component)})",
    )


def http_check(url: str, name: str, extra: str = "") -> str:
    return f"""
  [[component.check]]
  type = "http"
  name = "{name}"
  url = "{url}"
  {extra}
"""


def test_statuses_end_to_end(
    tmp_path: Path, target: Target, daemons: Callable[..., DaemonProcess]
) -> None:
    now = dt.datetime.now(dt.UTC)
    ends = (now + dt.timedelta(seconds=6)).strftime("%Y-%m-%dT%H:%M:%SZ")
    begun = (now - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    later = (now + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    target.set("/maint", status=503)
    target.set("/maint-ends", status=503)
    target.set("/slow", delay=0.4)
    target.set("/flaky", fail_every=3)
    u = target.url
    config = write_config(
        tmp_path,
        f"""
[monitor]
database = "monitor.db"
listen = ""
[defaults]
interval = "1s"
timeout = "1s"
fail_after = 2
recover_after = 2
[[component]]
name = "single"
{http_check(u + "/single", "only")}
[[component]]
name = "pair"
{http_check(u + "/p1", "p1")}
{http_check(u + "/p2", "p2")}
[[component]]
name = "slow"
{http_check(u + "/slow", "s", 'degraded_over = "200ms"')}
[[component]]
name = "flaky"
flaky_window = 6
{http_check(u + "/flaky", "f")}
[[component]]
name = "maint"
{http_check(u + "/maint", "m")}
[[component]]
name = "maint-ends"
{http_check(u + "/maint-ends", "m")}
[[maintenance]]
components = ["maint"]
start = "{begun}"
end = "{later}"
[[maintenance]]
components = ["maint-ends"]
start = "{begun}"
end = "{ends}"
""",
    )
    db = tmp_path / "monitor.db"
    daemon = daemons(config)

    wait_status(db, "slow", "degraded_performance")
    wait_status(db, "flaky", "partial_outage")
    assert component_transitions(db, "flaky")[-1] == (
        "operational",
        "partial_outage",
        "f flaky: failing intermittently, last: status 500, expected 200-399",
    )

    # single: up -> down after exactly fail_after failed probes -> up after recover_after.
    wait_for(lambda: target.count("/single") >= 2, 10, "probes of /single")
    target.set("/single", status=500)
    wait_status(db, "single", "major_outage")
    (_, since) = component_status(db, "single")  # type: ignore[misc]
    assert fails_before(db, "single/only", since + 1)[:3] == ["fail", "fail", "ok"]
    target.set("/single", status=200)
    wait_status(db, "single", "operational")
    assert [t[:2] for t in component_transitions(db, "single")] == [
        ("operational", "major_outage"),
        ("major_outage", "operational"),
    ]

    # pair: one check down -> partial_outage, both down -> major_outage.
    target.set("/p1", status=500)
    wait_status(db, "pair", "partial_outage")
    target.set("/p2", status=500)
    wait_status(db, "pair", "major_outage")
    assert component_transitions(db, "pair")[-1][2] == (
        "all 2 checks down: p1 status 500, expected 200-399; p2 status 500, expected 200-399"
    )

    # The window that ended: the failing check was down all along, so the component goes
    # straight to major_outage when the window closes, without waiting for new probes.
    wait_status(db, "maint-ends", "major_outage")
    assert [t[:2] for t in component_transitions(db, "maint-ends")] == [
        ("operational", "under_maintenance"),
        ("under_maintenance", "major_outage"),
    ]
    # The window still open suppressed the outage, while its probes kept being recorded.
    assert component_status(db, "maint")[0] == "under_maintenance"  # type: ignore[index]
    assert [t[:2] for t in component_transitions(db, "maint")] == [
        ("operational", "under_maintenance")
    ]
    assert count_rows(db) > 0 and target.count("/maint") >= 3

    result = CliRunner().invoke(main, ["status", "-c", str(config), "--json"])
    assert result.exit_code == 0, result.output
    document = {c["id"]: c for c in json.loads(result.output)["components"]}
    assert document["pair"]["status"] == "major_outage"
    assert [c["state"] for c in document["pair"]["checks"]] == ["down", "down"]
    assert document["pair"]["checks"][0]["last_outcome"] == "fail"
    assert document["slow"]["checks"][0]["state"] == "slow"
    assert document["maint"]["status"] == "under_maintenance"
    assert document["single"]["incident"] is None

    table = CliRunner().invoke(main, ["status", "-c", str(config)])
    assert table.exit_code == 0 and "major_outage" in table.output

    assert json.loads(result.output)["daemon"]["running"] is True

    daemon.signal(signal.SIGTERM)
    assert daemon.wait(10) == 0, daemon.log
    assert "component pair: partial_outage -> major_outage" in daemon.log
    after = CliRunner().invoke(main, ["status", "-c", str(config)])
    assert "the daemon is not running since" in after.output
    stopped = json.loads(CliRunner().invoke(main, ["status", "-c", str(config), "--json"]).output)
    assert stopped["daemon"]["running"] is False and stopped["daemon"]["last_seen"]


def test_kill_9_during_an_outage_keeps_it_and_invents_nothing(
    tmp_path: Path, target: Target, daemons: Callable[..., DaemonProcess]
) -> None:
    target.set("/down", status=503)
    config = write_config(
        tmp_path,
        f"""
[monitor]
database = "monitor.db"
listen = ""
[defaults]
interval = "1s"
timeout = "1s"
fail_after = 2
[[component]]
name = "api"
{http_check(target.url + "/down", "down")}
""",
    )
    db = tmp_path / "monitor.db"
    first = daemons(config)
    wait_status(db, "api", "major_outage")
    before = component_status(db, "api")
    transitions = component_transitions(db, "api")
    wait_for(lambda: target.count("/down") >= 4, 10, "a few more probes")
    first.signal(signal.SIGKILL)
    first.wait(10)
    rows = count_rows(db)

    second = daemons(config)
    wait_for(lambda: count_rows(db) >= rows + 3, 20, "the restarted daemon to probe")
    second.signal(signal.SIGTERM)
    assert second.wait(10) == 0, second.log
    assert component_status(db, "api") == before, "same status, same since"
    assert component_transitions(db, "api") == transitions, "no transition invented"
    assert "restored the state of 1 checks; not operational: {'api': 'major_outage'}" in second.log
