"""`monitor run` as a real subprocess against a real loopback target and a real SQLite file."""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import DaemonProcess, Target, count_rows, free_port, wait_for, write_config

pytestmark = pytest.mark.slow


def config_for(folder: Path, target: Target, checks: int, *, listen: str = "") -> Path:
    lines = [
        "[monitor]",
        'database = "data/monitor.db"',
        f'listen = "{listen}"',
        "[defaults]",
        'interval = "1s"',
        'timeout = "1s"',
        "[[component]]",
        'name = "Web"',
    ]
    for i in range(checks):
        lines += [
            "[[component.check]]",
            'type = "http"',
            f'name = "c{i}"',
            f'url = "{target.url}/c{i}"',
        ]
    (folder / "data").mkdir(exist_ok=True)
    return write_config(folder, "\n".join(lines) + "\n")


def test_sigterm_stops_within_seconds_and_flushes_everything(
    tmp_path: Path, target: Target, daemons: Callable[..., DaemonProcess]
) -> None:
    config = config_for(tmp_path, target, 5)
    db = tmp_path / "data" / "monitor.db"
    daemon = daemons(config)
    wait_for(lambda: target.count() >= 15, 20, "15 probes to reach the target")
    daemon.signal(signal.SIGTERM)
    asked = time.monotonic()
    assert daemon.wait(10) == 0, daemon.log
    assert time.monotonic() - asked < 5
    # Every probe that reached the target before the stop was recorded: nothing taken is lost.
    assert count_rows(db) == target.count(), daemon.log
    assert "stopped:" in daemon.log


def test_sigint_stops_too(
    tmp_path: Path, target: Target, daemons: Callable[..., DaemonProcess]
) -> None:
    daemon = daemons(config_for(tmp_path, target, 1))
    wait_for(lambda: target.count() >= 1, 20, "a first probe")
    daemon.signal(signal.SIGINT)
    assert daemon.wait(10) == 0, daemon.log


def test_kill_9_loses_at_most_the_last_batch_and_restart_continues(
    tmp_path: Path, target: Target, daemons: Callable[..., DaemonProcess]
) -> None:
    checks = 10
    config = config_for(tmp_path, target, checks)
    db = tmp_path / "data" / "monitor.db"
    first = daemons(config)
    wait_for(lambda: count_rows(db) >= 30, 20, "30 results in the database")
    first.signal(signal.SIGKILL)
    first.wait(10)
    hits_at_kill = target.count()
    rows_after_kill = count_rows(db)
    # Unwritten at most: one flush interval's worth (10 checks at 1/s -> ~3) plus one probe in
    # flight per check.
    assert hits_at_kill - rows_after_kill <= checks + 5, (hits_at_kill, rows_after_kill)
    ids_before = sqlite3.connect(db).execute("SELECT key, id FROM checks").fetchall()

    second = daemons(config)
    wait_for(lambda: count_rows(db) >= rows_after_kill + 20, 20, "the restart to add results")
    second.signal(signal.SIGTERM)
    assert second.wait(10) == 0, second.log
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT key, id FROM checks").fetchall() == ids_before
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_serves_healthz_and_metrics(
    tmp_path: Path, target: Target, daemons: Callable[..., DaemonProcess]
) -> None:
    import urllib.request

    port = free_port()
    daemon = daemons(config_for(tmp_path, target, 2, listen=f"127.0.0.1:{port}"))
    wait_for(lambda: target.count() >= 4, 20, "4 probes")

    def get(path: str) -> tuple[int, str]:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()

    assert get("/healthz") == (200, "ok\n")
    status, metrics = get("/metrics")
    assert status == 200
    assert 'monitor_probes_total{check="c0",component="web",outcome="ok"}' in metrics
    assert "monitor_schedule_delay_seconds_bucket" in metrics
    status, body = get("/status.json")
    document = json.loads(body)
    (web,) = document["components"]
    assert (web["id"], web["status"], web["incident"]) == ("web", "operational", None)
    assert [c["name"] for c in web["checks"]] == ["c0", "c1"]
    assert {c["state"] for c in web["checks"]} == {"up"}
    assert all(c["last_outcome"] == "ok" and c["last_probe_at"] for c in web["checks"])
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(10) == 0


def test_listen_address_in_use_is_a_clear_error(
    tmp_path: Path, target: Target, daemons: Callable[..., DaemonProcess]
) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        daemon = daemons(config_for(tmp_path, target, 1, listen=f"127.0.0.1:{port}"))
        code = daemon.wait(20)
    assert code != 0
    assert "address already in use" in daemon.log.lower()
    assert "Traceback" not in daemon.log


def test_sigterm_lets_probes_in_flight_finish_and_records_them(
    tmp_path: Path, target: Target, daemons: Callable[..., DaemonProcess]
) -> None:
    target.delay = 0.6  # every probe is in flight for 0.6 s of its 1 s interval
    daemon = daemons(config_for(tmp_path, target, 20))
    db = tmp_path / "data" / "monitor.db"
    wait_for(lambda: count_rows(db) >= 20, 20, "a first round of results")
    daemon.signal(signal.SIGTERM)
    asked = time.monotonic()
    assert daemon.wait(10) == 0, daemon.log
    assert time.monotonic() - asked < 5
    assert "stopping: 0 probes in flight" not in daemon.log, "the stop came mid-probe"
    assert count_rows(db) == target.count(), "every probe that reached the target is recorded"
    assert "Traceback" not in daemon.log and "CancelledError" not in daemon.log
