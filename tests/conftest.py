"""Shared fixtures: a real HTTP target on loopback, config files, and the daemon as a subprocess."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from .postgres import PostgresServer, unavailable


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, every: float = 0.02) -> None:
    """Poll `predicate` until it is true; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


@dataclass
class Behaviour:
    status: int = 200
    body: str = "ok"
    delay: float = 0.0
    fail_every: int = 0  # every n-th request answers 500


@dataclass
class Target:
    """An aiohttp server in a thread of its own whose behaviour a test can switch at any time,
    for every path at once or per path (`target.set("/a", status=500)`)."""

    port: int = 0
    status: int = 200
    body: str = "ok"
    delay: float = 0.0
    hits: dict[str, int] = field(default_factory=dict)
    paths: dict[str, Behaviour] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def set(self, path: str, **behaviour: object) -> None:
        with self.lock:
            current = self.paths.get(path, Behaviour())
            self.paths[path] = Behaviour(**{**current.__dict__, **behaviour})  # type: ignore[arg-type]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def count(self, path: str | None = None) -> int:
        with self.lock:
            return sum(self.hits.values()) if path is None else self.hits.get(path, 0)

    async def handle(self, request: web.Request) -> web.Response:
        with self.lock:
            count = self.hits[request.path] = self.hits.get(request.path, 0) + 1
            how = self.paths.get(request.path) or Behaviour(self.status, self.body, self.delay)
        if how.delay:
            await asyncio.sleep(how.delay)
        status = 500 if how.fail_every and count % how.fail_every == 0 else how.status
        return web.Response(status=status, text=how.body)


@pytest.fixture
def target() -> Iterator[Target]:
    target = Target()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    runner_box: list[web.AppRunner] = []

    async def serve() -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", target.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        target.port = runner.addresses[0][1]
        runner_box.append(runner)
        started.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(serve(), loop).result(5)
    assert started.is_set()
    yield target
    asyncio.run_coroutine_threadsafe(runner_box[0].cleanup(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(folder: Path, text: str, name: str = "checks.toml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def count_rows(db: Path, table: str = "results") -> int:
    if not db.exists():
        return 0
    conn = sqlite3.connect(db, timeout=5)
    try:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    except sqlite3.OperationalError:  # not created yet
        return 0
    finally:
        conn.close()


class DaemonProcess:
    """`monitor run` as a real subprocess, stderr captured to a file."""

    def __init__(self, config: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.log_path = config.parent / "daemon.log"
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "-c", str(config), *args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self._log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self._log.close()


@pytest.fixture
def daemons() -> Iterator[Callable[..., DaemonProcess]]:
    started: list[DaemonProcess] = []

    def start(config: Path, *args: str, env: dict[str, str] | None = None) -> DaemonProcess:
        daemon = DaemonProcess(config, *args, env=env)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.stop()


POSTGRES_FIXTURES = {"postgres_server", "pg_url", "own_postgres"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that uses a PostgreSQL fixture is marked `postgres` (-m "not postgres")."""
    for item in items:
        if POSTGRES_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.postgres)


def require_postgres() -> None:
    """Skip without PostgreSQL binaries, but fail under CI, where .ci/run installs them."""
    reason = unavailable()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; .ci/run should have installed them", pytrace=False)
    pytest.skip(reason)


def require_tool(name: str, package: str) -> str:
    """The path of the command `name`; skip without it, but fail under CI, where .ci/run installs
    the Debian `package` that has it."""
    path = shutil.which(name)
    if path is not None:
        return path
    reason = f"{name} is not installed (Debian package {package})"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; .ci/run should have installed it", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole run; tests take their own database (`pg_url`)."""
    require_postgres()
    with PostgresServer() as server:
        yield server


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> str:
    """The URL of a new empty database on the shared server."""
    return postgres_server.fresh_database()


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A started server of the test's own, to stop, start and kill; removed after the test."""
    require_postgres()
    with PostgresServer() as server:
        yield server
