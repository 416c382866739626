"""Stale checks: a check that stops producing results shows, whatever the cause."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import main
from monitor.model import TcpCheck
from monitor.staleness import is_stale, stale_after

from .conftest import DaemonProcess, Target, free_port, wait_for, write_config
from .test_operating import get, scrape


@pytest.mark.parametrize(
    ("last_result", "watched_since", "now", "stale"),
    [
        (None, 100.0, 100.0 + 3 * 10 + 2, False),  # never probed, not yet due
        (None, 100.0, 100.0 + 3 * 10 + 2.1, True),  # never probed, long past due
        (150.0, 100.0, 150.0 + 32, False),
        (150.0, 100.0, 150.0 + 32.1, True),
        (50.0, 100.0, 100.0 + 20, False),  # last result from an earlier run: counts from start
        (50.0, 100.0, 100.0 + 33, True),
    ],
)
def test_stale_after_three_intervals_and_the_timeout(
    last_result: float | None, watched_since: float, now: float, stale: bool
) -> None:
    check = TcpCheck(name="db", host="127.0.0.1", port=5432, interval=10, timeout=2)
    assert stale_after(check) == 32
    assert is_stale(check, last_result, watched_since, now) is stale


def workers(pid: int) -> list[int]:
    """The daemon's probe worker processes (not multiprocessing's resource tracker)."""
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    found = []
    for child in map(int, text.split()):
        cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        if b"spawn_main" in cmdline:
            found.append(child)
    return found


@pytest.mark.slow
def test_a_stuck_worker_makes_its_checks_stale_and_healthz_503(
    tmp_path: Path, target: Target, daemons: Callable[..., DaemonProcess]
) -> None:
    port = free_port()
    checks = "".join(
        f"""
  [[component.check]]
  type = "http"
  name = "c{i}"
  url = "{target.url}/c{i}"
"""
        for i in range(4)
    )
    path = write_config(
        tmp_path,
        f"""
[monitor]
database = "monitor.db"
listen = "127.0.0.1:{port}"
workers = 2
[defaults]
interval = "1s"
timeout = "1s"
[[component]]
name = "web"
{checks}
""",
    )
    daemon = daemons(path)
    wait_for(lambda: get(port, "/healthz")[0] == 200, 20, "a healthy daemon")
    wait_for(lambda: all(target.count(f"/c{i}") >= 1 for i in range(4)), 20, "every check")
    wait_for(lambda: len(workers(daemon.proc.pid)) >= 2, 10, "two workers")
    stuck = workers(daemon.proc.pid)[0]

    def status() -> dict[str, bool]:
        result = CliRunner().invoke(main, ["status", "-c", str(path), "--json"])
        assert result.exit_code == 0, result.output
        (component,) = json.loads(result.output)["components"]
        return {c["name"]: c["stale"] for c in component["checks"]}

    assert not any(status().values())
    assert scrape(port)["monitor_checks_stale"].samples[0].value == 0  # type: ignore[attr-defined]
    os.kill(stuck, signal.SIGSTOP)
    try:
        wait_for(lambda: get(port, "/healthz")[0] == 503, 20, "/healthz 503")
        code, body = get(port, "/healthz")
        assert "stale" in body and "web/c" in body, body
        samples = scrape(port)["monitor_checks_stale"].samples  # type: ignore[attr-defined]
        assert samples[0].value >= 1
        wait_for(lambda: any(status().values()), 10, "`monitor status` marking them stale")
        assert not all(status().values()), "the other worker's checks still run"
        table = CliRunner().invoke(main, ["status", "-c", str(path)])
        assert "stale" in table.output
    finally:
        os.kill(stuck, signal.SIGCONT)
    wait_for(lambda: get(port, "/healthz")[0] == 200, 20, "healthy again")
    wait_for(lambda: not any(status().values()), 20, "nothing stale")
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(20) == 0
