"""The daemon built in the test's own process: a temporary database, a loopback target, the fake
Statuspage, intervals of a tenth of a second, and an injected clock. The stages meet here as
they do in `monitor run` (tests/test_daemon.py runs that as a subprocess, slowly)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest

from monitor.config import load_config
from monitor.daemon import Daemon
from monitor.model import (
    Component,
    Config,
    HttpCheck,
    Maintenance,
    MonitorSettings,
    PublisherSettings,
)
from monitor.state import CheckState, Status

from .conftest import Target, count_rows, free_port, write_config
from .fake_statuspage import FakeStatuspage, fake_statuspage_fixture  # noqa: F401


def checks(target: Target, *names: str, **settings: float) -> tuple[HttpCheck, ...]:
    settings = {"interval": 0.1, "timeout": 1.0, "fail_after": 2} | settings
    return tuple(
        HttpCheck(name=n, url=f"{target.url}/{n}", **settings)  # type: ignore[arg-type]
        for n in names
    )


def build(
    folder: Path,
    components: list[Component],
    *,
    listen: str = "",
    publisher: PublisherSettings | None = None,
    maintenance: tuple[Maintenance, ...] = (),
    clock: Callable[[], float] = time.time,
) -> Daemon:
    config = Config(
        path=folder / "checks.toml",
        monitor=MonitorSettings(database=folder / "monitor.db", listen=listen, concurrency=16),
        publisher=publisher or PublisherSettings(),
        components=tuple(components),
        maintenance=maintenance,
    )
    return Daemon(config, flush_interval=0.02, environ={"SP_KEY": "test-key"}, clock=clock)


@contextlib.asynccontextmanager
async def running(daemon: Daemon) -> AsyncIterator[Daemon]:
    """`daemon.run` in a task; leaving the block stops it as SIGTERM does, and waits."""
    stop = asyncio.Event()
    task = asyncio.create_task(daemon.run(stop))
    try:
        await until(lambda: daemon.prober.running or task.done(), "the daemon to start")
        if task.done():
            task.result()  # its error, if it failed to start
        yield daemon
    finally:
        stop.set()
        async with asyncio.timeout(15):
            await task


async def until(predicate: Callable[[], bool], what: str, timeout: float = 15.0) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not predicate():  # noqa: ASYNC110 - the target and the page live in other threads
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db, timeout=5)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


async def test_it_probes_records_and_serves_what_it_sees(tmp_path: Path, target: Target) -> None:
    port = free_port()
    web = Component(id="web", name="Web", checks=checks(target, "a", "b"))
    daemon = build(tmp_path, [web], listen=f"127.0.0.1:{port}")
    async with running(daemon), aiohttp.ClientSession() as http:
        await until(lambda: min(target.count("/a"), target.count("/b")) >= 3, "3 probes each")
        assert daemon.health() is None
        async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
            assert (response.status, await response.text()) == (200, "ok\n")
        async with http.get(f"http://127.0.0.1:{port}/status.json") as response:
            document = await response.json()
        async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
            metrics = await response.text()
    (component,) = document["components"]
    assert (component["id"], component["status"]) == ("web", "operational")
    assert [(c["name"], c["state"], c["last_outcome"]) for c in component["checks"]] == [
        ("a", "up", "ok"),
        ("b", "up", "ok"),
    ]
    assert document["publisher"]["type"] == "none" and document["daemon"]["running"] is True
    assert 'monitor_probes_total{check="a",component="web",outcome="ok"}' in metrics
    # Stopped: every probe that reached the target is a row, and went through the engine.
    probes = target.count()
    assert count_rows(tmp_path / "monitor.db") == probes
    assert daemon.registry.get_sample_value("monitor_schedule_delay_seconds_count") == probes
    assert not daemon.prober.running and daemon.health() == "scheduler not running"


async def test_stop_waits_for_the_probes_in_flight_and_records_them(
    tmp_path: Path, target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    target.delay = 0.5
    daemon = build(tmp_path, [Component(id="web", name="Web", checks=checks(target, "a"))])
    async with running(daemon):
        await until(lambda: target.count() >= 1, "a probe in flight")
    assert count_rows(tmp_path / "monitor.db") == target.count() == 1
    assert "stopping: 1 probes in flight" in caplog.text
    assert "CancelledError" not in caplog.text


async def test_an_outage_reaches_the_page_once_and_a_restart_remembers_it(
    tmp_path: Path, target: Target, fake_statuspage: FakeStatuspage
) -> None:
    remote = fake_statuspage.add_component("Web")
    web = Component(id="web", name="Web", checks=checks(target, "a"), remote_id=remote)
    publisher = PublisherSettings(
        type="statuspage",
        url=fake_statuspage.url,
        page_id="page1",
        api_key_env="SP_KEY",
        rate_limit=100.0,
    )
    target.set("/a", status=500)

    def ours() -> list[dict[str, object]]:
        return [i for i in fake_statuspage.incidents() if i.get("metadata")]

    first = build(tmp_path, [web], publisher=publisher)
    async with running(first):
        await until(lambda: len(ours()) == 1, "an incident on the page")
        assert first.status_document()["components"][0]["status"] == "major_outage"  # type: ignore[index]
    second = build(tmp_path, [web], publisher=publisher)
    async with running(second):
        assert second.recording.engine.statuses["web"].status is Status.MAJOR_OUTAGE
        probes = target.count()
        await until(lambda: target.count() >= probes + 3, "more failed probes")
    assert len(ours()) == 1, "the restart opened no second incident"
    db = tmp_path / "monitor.db"
    component_changes = "SELECT count(*) FROM transitions WHERE check_id IS NULL"
    assert rows(db, component_changes) == [(1,)], "and recorded no second outage"
    assert rows(db, "SELECT count(*) FROM outbox") == [(1,)]


async def test_the_pages_maintenance_is_read_before_the_first_delivery(
    tmp_path: Path, target: Target, fake_statuspage: FakeStatuspage
) -> None:
    remote = fake_statuspage.add_component("Web")
    fake_statuspage.add_maintenance([remote])
    web = Component(id="web", name="Web", checks=checks(target, "a"), remote_id=remote)
    publisher = PublisherSettings(
        type="statuspage",
        url=fake_statuspage.url,
        page_id="page1",
        api_key_env="SP_KEY",
        rate_limit=100.0,
    )
    target.set("/a", status=500)
    db = tmp_path / "monitor.db"
    daemon = build(tmp_path, [web], publisher=publisher)
    async with running(daemon):
        engine = daemon.recording.engine
        await until(lambda: engine.checks["web/a"].state is CheckState.DOWN, "the check down")
        status = engine.statuses["web"]
        assert status.status is Status.UNDER_MAINTENANCE, status
        assert status.reason == "maintenance: scheduled maintenance on the status page"
        await until(
            lambda: rows(db, "SELECT count(*), sum(state = 0) FROM outbox") == [(1, 0)],
            "the change delivered",
        )
    assert [i for i in fake_statuspage.incidents() if i.get("metadata")] == []


async def test_a_reload_adds_changes_and_removes_checks(
    tmp_path: Path, target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    def toml(concurrency: int, checks: dict[str, tuple[str, str]]) -> str:
        lines = [
            "[monitor]",
            'database = "monitor.db"',
            'listen = ""',
            f"concurrency = {concurrency}",
        ]
        lines += ["[[component]]", 'name = "Web"']
        for name, (path, interval) in checks.items():
            lines += ["[[component.check]]", 'type = "http"', f'name = "{name}"']
            lines += [f'url = "{target.url}{path}"', f'interval = "{interval}"', 'timeout = "1s"']
        return "\n".join(lines) + "\n"

    caplog.set_level(logging.INFO)
    path = write_config(
        tmp_path, toml(16, {"a": ("/a", "1s"), "b": ("/b", "1s"), "c": ("/c", "1s")})
    )
    daemon = Daemon(load_config(path), flush_interval=0.02)
    async with running(daemon):
        write_config(tmp_path, toml(8, {"b": ("/b2", "1s"), "c": ("/c", "2s"), "d": ("/d", "1s")}))
        daemon.request_reload()
        await until(lambda: target.count("/d") >= 1, "the added check probed")
        await until(lambda: target.count("/b2") >= 1, "the changed check probed anew")
        assert list(daemon.checks) == ["web/b", "web/c", "web/d"]
        assert daemon.checks["web/c"].check.interval == 2.0
        assert 'check="a"' not in daemon.metrics.render().decode(), "its series went with it"
    assert "1 checks added, 1 removed, 2 changed, 0 unchanged" in caplog.text
    assert "[monitor] concurrency changed; it takes effect on restart" in caplog.text
    keys = rows(tmp_path / "monitor.db", "SELECT key FROM checks ORDER BY key")
    assert keys == [("web/a",), ("web/b",), ("web/c",), ("web/d",)], "history is kept"


async def test_maintenance_windows_and_stored_times_follow_the_injected_clock(
    tmp_path: Path, target: Target
) -> None:
    def at(text: str) -> float:
        return dt.datetime.fromisoformat(text).timestamp()

    window = Maintenance(
        components=("web",),
        start=dt.datetime.fromisoformat("2030-01-01T10:00:00+00:00"),
        end=dt.datetime.fromisoformat("2030-01-01T11:00:00+00:00"),
    )
    offset = at("2030-01-01T10:30:00+00:00") - time.time()
    web = Component(id="web", name="Web", checks=checks(target, "a"))
    daemon = build(tmp_path, [web], maintenance=(window,), clock=lambda: time.time() + offset)
    async with running(daemon):
        assert daemon.recording.engine.statuses["web"].status is Status.UNDER_MAINTENANCE
        await until(lambda: target.count() >= 2, "two probes")
    db = tmp_path / "monitor.db"
    stamps = [at_ms / 1000 for (at_ms,) in rows(db, "SELECT at FROM results")]
    assert stamps and all(
        at("2030-01-01T10:30:00+00:00") <= s < at("2030-01-01T10:31:00+00:00") for s in stamps
    )
    ((since,),) = rows(db, "SELECT since FROM component_state WHERE component = 'web'")
    assert at("2030-01-01T10:30:00+00:00") <= since / 1000 < at("2030-01-01T10:31:00+00:00")
