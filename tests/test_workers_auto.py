"""`[monitor] workers = "auto"` in the daemon: a small config probes in-process, one whose
planned load needs more starts worker processes, and a reload moves probing between the two
without losing a result. The cost of a probe is injected, so a handful of checks at 1 s
stand for thousands."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.daemon import Daemon
from monitor.prober import worker_pids

from .conftest import Target, count_rows, write_config

ROOT = Path(__file__).resolve().parent.parent


def config_text(target: Target, names: list[str], monitor: str = "") -> str:
    lines = ["[monitor]", 'database = "monitor.db"', 'listen = ""', monitor]
    lines += ["[defaults]", 'interval = "1s"', 'timeout = "1s"', "[[component]]", 'name = "Web"']
    for name in names:
        lines += ["[[component.check]]", 'type = "http"', f'name = "{name}"']
        lines.append(f'url = "{target.url}/{name}"')
    return "\n".join(lines) + "\n"


async def until(predicate: Callable[[], bool], what: str, timeout: float = 20.0) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not predicate():  # noqa: ASYNC110 - the target and the workers live elsewhere
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


def rows_of(db: Path, key: str) -> int:
    conn = sqlite3.connect(db, timeout=5)
    try:
        sql = "SELECT count(*) FROM results JOIN checks ON checks.id = check_id WHERE key = ?"
        return int(conn.execute(sql, (key,)).fetchone()[0])
    finally:
        conn.close()


def workers_gauge(daemon: Daemon) -> float | None:
    return daemon.registry.get_sample_value("monitor_probe_workers")


def test_the_shipped_config_probes_in_the_daemons_process(tmp_path: Path) -> None:
    config = load_config(ROOT / "checks.toml")
    assert config.monitor.workers is None, "the shipped config leaves workers to auto"
    config = replace(config, monitor=replace(config.monitor, database=tmp_path / "monitor.db"))
    daemon = Daemon(config)  # not run: its checks leave the machine
    assert (daemon.sizing.workers, daemon.sizing.pinned) == (1, False)
    assert worker_pids(daemon.prober) == ()
    assert workers_gauge(daemon) == 1
    assert daemon.sizing.describe().startswith("probing with 1 process, the daemon's own (auto: ")


async def test_a_small_config_runs_in_process_and_says_so(
    tmp_path: Path, target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="monitor")
    path = write_config(tmp_path, config_text(target, ["a", "b"]))
    daemon = Daemon(load_config(path), flush_interval=0.02, cpus=8)
    stop = asyncio.Event()
    task = asyncio.create_task(daemon.run(stop))
    try:
        await until(lambda: target.count("/a") >= 1 and target.count("/b") >= 1, "probes")
    finally:
        stop.set()
        async with asyncio.timeout(15):
            await task
    line = "probing with 1 process, the daemon's own (auto: 2 probes/s planned at 0.80 ms each)"
    assert line in caplog.text
    assert workers_gauge(daemon) == 1
    assert count_rows(tmp_path / "monitor.db") == target.count()


@pytest.mark.slow
async def test_auto_starts_workers_when_the_load_needs_them_and_a_reload_moves_probing(
    tmp_path: Path, target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="monitor")
    names = ["a", "b", "c", "d"]
    target.set("/a", delay=0.3)  # often in flight when probing moves
    path = write_config(tmp_path, config_text(target, names))
    # 4 probes/s at 250 ms of CPU each: a core's worth, two processes at half a core each.
    daemon = Daemon(load_config(path), flush_interval=0.02, probe_cost=0.25, cpus=2)
    stop = asyncio.Event()
    task = asyncio.create_task(daemon.run(stop))

    def probed(name: str, times: int) -> Callable[[], bool]:
        return lambda: target.count(f"/{name}") >= times

    try:
        await until(lambda: all(probed(n, 2)() for n in names), "every check probed twice")
        assert (
            "probing with 2 worker processes (auto: 4 probes/s planned at 250.00 ms each)"
            in caplog.text
        )
        assert len(worker_pids(daemon.prober)) == 2 and workers_gauge(daemon) == 2
        assert daemon.health() is None

        # One check left: a quarter of a core, back in the daemon's process.
        write_config(tmp_path, config_text(target, ["a"]))
        daemon.request_reload()
        line = "reload: probing with 1 process, the daemon's own (auto: 1 probes/s planned"
        await until(lambda: line in caplog.text, "the reload to move probing in-process")
        await until(lambda: daemon.prober.running, "the in-process scheduler")
        assert worker_pids(daemon.prober) == () and workers_gauge(daemon) == 1
        count = target.count("/a")
        await until(probed("a", count + 2), "the check probed in-process")
        gone = target.count("/b")

        # Pinned: a number wins over the load.
        write_config(tmp_path, config_text(target, ["a"], "workers = 2"))
        daemon.request_reload()
        line = "reload: probing with 2 worker processes (pinned by [monitor] workers), was 1"
        await until(lambda: line in caplog.text, "the reload to start workers")
        await until(lambda: daemon.prober.running, "the workers")
        assert len(worker_pids(daemon.prober)) == 2 and workers_gauge(daemon) == 2
        count = target.count("/a")
        await until(probed("a", count + 2), "the check probed by a worker")
        assert target.count("/b") <= gone + 1, "a removed check is probed no more"
    finally:
        stop.set()
        async with asyncio.timeout(20):
            await task
    # Probes of "a" were in flight at each move: every one that reached the target is a row.
    assert rows_of(tmp_path / "monitor.db", "web/a") == target.count("/a")
    assert "Traceback" not in caplog.text and "died" not in caplog.text
