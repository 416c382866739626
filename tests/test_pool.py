"""`[monitor] workers = 2`: probes in worker processes, everything else unchanged."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path

import pytest

from monitor.model import HttpCheck, ProbeResult
from monitor.pool import ProbePool

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


class SharedClock:
    """The wall clock with an offset that the test steps for its process and the workers'."""

    def __init__(self, offset: Synchronized) -> None:  # type: ignore[type-arg]
        self.offset = offset

    def __call__(self) -> float:
        return time.time() + float(self.offset.value)


async def test_workers_keep_their_pace_through_wall_clock_steps(
    target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    offset = multiprocessing.get_context("spawn").Value("d", 0.0)
    clock = SharedClock(offset)
    checks = {
        f"web/c{i}": HttpCheck(name=f"c{i}", url=f"{target.url}/c{i}", interval=0.2, timeout=0.15)
        for i in range(4)
    }
    seen: dict[str, list[tuple[float, float, float, float]]] = defaultdict(list)
    steps: list[float] = []
    stepped_at: list[float] = []  # when the test stepped the clock, on the monotonic clock
    wanted = 0
    enough, stepped = asyncio.Event(), asyncio.Event()

    def on_result(key: str, planned: float, lateness: float, result: ProbeResult) -> None:
        seen[key].append((planned, lateness, clock(), time.monotonic()))
        if all(len(seen[k]) >= wanted for k in checks):
            enough.set()

    def on_step(step: float) -> None:
        steps.append(step)
        stepped.set()

    async def more_results(count: int) -> None:
        nonlocal wanted
        wanted = max(len(seen[k]) for k in checks) + count
        enough.clear()
        async with asyncio.timeout(20):  # a wall-clock schedule stepped back waits 60 s
            await enough.wait()

    caplog.set_level(logging.WARNING, logger="monitor.scheduler")
    pool = ProbePool(
        2,
        concurrency=8,
        check_of=checks.__getitem__,
        on_result=on_result,
        clock=clock,
        on_clock_step=on_step,
    )
    pool.add((key, check.interval) for key, check in checks.items())
    pool.start()
    try:
        await more_results(3)
        for step in (-60.0, 60.0):
            stepped.clear()
            offset.value += step
            stepped_at.append(time.monotonic())
            await more_results(3)
            async with asyncio.timeout(10):
                await stepped.wait()
            await more_results(6)
    finally:
        await pool.stop()

    assert steps == [pytest.approx(-60.0, abs=0.5), pytest.approx(60.0, abs=0.5)]
    assert pool.stats.clock_steps == 2
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.name == "monitor.scheduler" and r.levelno == logging.WARNING
    ]
    assert len(warnings) == 2 and "stepped back by 60.0 s" in warnings[0], warnings
    for key in checks:
        assert len(seen[key]) >= 3 + 2 * (3 + 6)
        checked = 0
        for planned, lateness, received, at in seen[key]:
            assert 0 <= lateness < 5, "a step is no lateness (it would show as 60 s)"
            if any(0 <= at - step_at < 1.0 for step_at in stepped_at):
                continue  # it may have started before the step and arrived after it
            assert 0 <= received - (planned + lateness) < 10, "plans read the new clock"
            checked += 1
        assert checked >= 3 + 2 * 2


async def test_commands_to_a_worker_that_does_not_read_never_block_the_daemon(
    target: Target,
) -> None:
    """A worker stopped (SIGSTOP) reads nothing; the daemon then sends it 20,000 updates, far
    more than a pipe holds (a reload changing 20,000 checks). Sent from the event loop, the send
    blocked the loop for good (a reload of 100,000 checks hung the daemon: the worker, blocked
    sending results nobody read, read no command). Now the loop goes on at once, and once the
    worker runs again it takes every update: the checks it probes move to their new URL."""
    checks = {
        f"web/c{i}": HttpCheck(name=f"c{i}", url=f"{target.url}/old{i}", interval=0.5, timeout=0.4)
        for i in range(20_000)
    }
    probed = list(checks)[:4]  # the worker's checks; the other updates are for checks it lacks
    arrived = asyncio.Event()

    def on_result(key: str, planned: float, lateness: float, result: ProbeResult) -> None:
        arrived.set()

    async def until(predicate: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + 30
        while not predicate():  # noqa: ASYNC110 - the target lives in a thread of its own
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            await asyncio.sleep(0.05)

    pool = ProbePool(1, concurrency=8, check_of=checks.get, on_result=on_result)
    pool.add((key, 0.5) for key in probed)
    pool.start()
    try:
        async with asyncio.timeout(20):
            await arrived.wait()
        [pid] = pool.pids
        os.kill(pid, signal.SIGSTOP)
        # A loop that blocks on the pipe would wait for good: resume the worker from a thread
        # after 5 s, so that such a loop fails the assertion below instead of hanging the test.
        resume = threading.Timer(5.0, os.kill, (pid, signal.SIGCONT))
        resume.start()
        try:
            for key, check in checks.items():
                number = key.removeprefix("web/c")
                checks[key] = HttpCheck(
                    name=check.name, url=f"{target.url}/new{number}", interval=0.5, timeout=0.4
                )
            began = time.monotonic()
            pool.update((key, 0.5) for key in reversed(list(checks)))  # the probed ones last
            loop_blocked = time.monotonic() - began
        finally:
            resume.cancel()
            os.kill(pid, signal.SIGCONT)
        assert loop_blocked < 2.0, f"the event loop waited {loop_blocked:.1f} s on the pipe"
        await until(lambda: all(target.count(f"/new{i}") >= 2 for i in range(4)), "new URLs")
        assert all(target.count(f"/new{i}") == 0 for i in range(4, 20_000, 997))
    finally:
        await pool.stop()
