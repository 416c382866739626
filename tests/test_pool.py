"""`[monitor] workers = 2`: probes in worker processes, everything else unchanged."""

from __future__ import annotations

import signal
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import DaemonProcess, Target, count_rows, wait_for, write_config

pytestmark = pytest.mark.slow


def config(folder: Path, target: Target, names: list[str]) -> Path:
    lines = [
        "[monitor]",
        'database = "monitor.db"',
        'listen = ""',
        "workers = 2",
        "[defaults]",
        'interval = "1s"',
        'timeout = "1s"',
        "fail_after = 2",
        "[[component]]",
        'name = "Web"',
    ]
    for name in names:
        lines += [
            "[[component.check]]",
            'type = "http"',
            f'name = "{name}"',
            f'url = "{target.url}/{name}"',
        ]
    return write_config(folder, "\n".join(lines) + "\n")


def component_status(db: Path) -> str | None:
    try:
        conn = sqlite3.connect(db, timeout=5)
        row = conn.execute("SELECT status FROM component_state WHERE component = 'web'").fetchone()
        conn.close()
    except sqlite3.OperationalError:
        return None
    return row[0] if row else None


def test_workers_probe_every_check_and_the_engine_follows(
    tmp_path: Path, target: Target, daemons: Callable[..., DaemonProcess]
) -> None:
    names = [f"c{i}" for i in range(12)]
    path = config(tmp_path, target, names)
    db = tmp_path / "monitor.db"
    daemon = daemons(path)
    wait_for(lambda: all(target.count(f"/{n}") >= 2 for n in names), 20, "every check probed")
    for name in names:
        target.set(f"/{name}", status=500)
    wait_for(lambda: component_status(db) == "major_outage", 15, "major_outage")

    # A reload adds and removes checks in the workers.
    write_config(
        tmp_path, path.read_text().replace('name = "c0"', 'name = "n0"').replace("/c0", "/n0")
    )
    daemon.signal(signal.SIGHUP)
    wait_for(lambda: "reloaded" in daemon.log, 10, "the reload")
    wait_for(lambda: target.count("/n0") >= 2, 10, "the new check probed by a worker")
    stopped_at = target.count("/c0")
    wait_for(
        lambda: target.count("/c1") >= target.count("/c1") + 0 and target.count("/n0") >= 4,
        10,
        "more probes",
    )
    assert target.count("/c0") <= stopped_at + 1, "the removed check stopped"

    target.delay = 0.6  # the stop comes while probes are in flight in the workers
    for name in names:
        target.set(f"/{name}", delay=0.6)
    before = target.count()
    wait_for(lambda: target.count() >= before + 3, 10, "slow probes in flight")
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(15) == 0, daemon.log
    assert count_rows(db) == target.count(), "every probe that reached the target is recorded"
    assert "Traceback" not in daemon.log and "died" not in daemon.log
