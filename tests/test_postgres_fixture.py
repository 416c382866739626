"""The PostgreSQL fixtures and the fault proxy do what the cluster tests will rely on."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from .faultproxy import FaultProxy
from .postgres import PostgresServer

# What a client sees when the server or the path to it goes away under a connection.
CONNECTION_LOST = (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError)


async def connect(url: str, within: float = 5.0) -> asyncpg.Connection:
    return await asyncpg.connect(url, timeout=within)


async def test_pg_url_is_an_empty_database_of_its_own(
    pg_url: str, postgres_server: PostgresServer
) -> None:
    conn = await connect(pg_url)
    try:
        await conn.execute("CREATE TABLE results (id serial PRIMARY KEY, outcome text NOT NULL)")
        await conn.executemany("INSERT INTO results (outcome) VALUES ($1)", [("ok",), ("down",)])
        rows = await conn.fetch("SELECT id, outcome FROM results ORDER BY id")
        assert [tuple(r) for r in rows] == [(1, "ok"), (2, "down")]
    finally:
        await conn.close()
    other = await connect(postgres_server.fresh_database())
    try:
        assert await other.fetchval("SELECT to_regclass('results')") is None
    finally:
        await other.close()


async def test_own_postgres_keeps_its_data_across_stop_and_start(
    own_postgres: PostgresServer,
) -> None:
    conn = await connect(own_postgres.url)
    await conn.execute("CREATE TABLE kept (x int); INSERT INTO kept VALUES (7)")
    await conn.close()
    own_postgres.stop()
    assert not own_postgres.running
    with pytest.raises(OSError):
        await connect(own_postgres.url)
    own_postgres.start()
    conn = await connect(own_postgres.url)
    try:
        assert await conn.fetchval("SELECT x FROM kept") == 7
    finally:
        await conn.close()


async def test_kill_is_a_crash_and_start_recovers(own_postgres: PostgresServer) -> None:
    conn = await connect(own_postgres.url)
    await conn.execute("CREATE TABLE committed (x int); INSERT INTO committed VALUES (1)")
    own_postgres.kill()
    with pytest.raises(CONNECTION_LOST):
        await conn.fetchval("SELECT 1", timeout=2)
    conn.terminate()
    own_postgres.start()
    assert "not properly shut down" in own_postgres.log  # crash recovery ran
    conn = await connect(own_postgres.url)
    try:
        assert await conn.fetchval("SELECT x FROM committed") == 1  # a commit survives a kill
    finally:
        await conn.close()


@pytest.fixture
def proxy(postgres_server: PostgresServer) -> Iterator[FaultProxy]:
    with FaultProxy("127.0.0.1", postgres_server.port) as proxy:
        yield proxy


@pytest.fixture
def proxied_url(pg_url: str, postgres_server: PostgresServer, proxy: FaultProxy) -> str:
    return postgres_server.url_for(pg_url.rsplit("/", 1)[1], port=proxy.port)


@pytest.fixture
async def conns() -> AsyncIterator[list[asyncpg.Connection]]:
    """Connections a test opens, terminated after it whatever the proxy's mode."""
    opened: list[asyncpg.Connection] = []
    yield opened
    for conn in opened:
        conn.terminate()


async def test_proxy_refuses_blackholes_and_heals(
    proxy: FaultProxy, proxied_url: str, conns: list[asyncpg.Connection]
) -> None:
    conns.append(first := await connect(proxied_url))
    assert await first.fetchval("SELECT 1") == 1

    proxy.refuse()
    with pytest.raises(CONNECTION_LOST):
        await first.fetchval("SELECT 1", timeout=2)  # an existing connection is reset
    started = time.monotonic()
    with pytest.raises(OSError):
        await connect(proxied_url)
    assert time.monotonic() - started < 1.0  # refused at once, not after a timeout

    proxy.pass_()
    conns.append(second := await connect(proxied_url))
    proxy.blackhole()
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await second.fetchval("SELECT 1", timeout=1)
    assert time.monotonic() - started >= 1.0
    with pytest.raises(TimeoutError):
        await connect(proxied_url, within=0.5)  # accepted, then nothing

    proxy.pass_()
    conns.append(third := await connect(proxied_url))
    assert await third.fetchval("SELECT 2") == 2


async def test_proxy_delays_each_chunk(proxy: FaultProxy, proxied_url: str) -> None:
    conn = await connect(proxied_url)
    try:
        proxy.delay(0.3)
        started = time.monotonic()
        assert await conn.fetchval("SELECT 1", timeout=5) == 1
        assert time.monotonic() - started >= 0.3
        proxy.pass_()
        started = time.monotonic()
        assert await conn.fetchval("SELECT 1", timeout=5) == 1
        assert time.monotonic() - started < 0.3
    finally:
        await conn.close()


async def test_proxy_cut_drops_connections_and_keeps_forwarding(
    proxy: FaultProxy, proxied_url: str, conns: list[asyncpg.Connection]
) -> None:
    conns.append(old := await connect(proxied_url))
    assert proxy.connections == 1
    proxy.cut()
    assert proxy.connections == 0
    with pytest.raises(CONNECTION_LOST):
        await old.fetchval("SELECT 1", timeout=2)
    conns.append(new := await connect(proxied_url))
    assert await new.fetchval("SELECT 3") == 3
    assert proxy.accepted == 2


def test_proxy_close_leaves_no_thread_and_no_listener(postgres_server: PostgresServer) -> None:
    proxy = FaultProxy("127.0.0.1", postgres_server.port)
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=2):
        pass
    proxy.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("faultproxy")]
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", proxy.port), timeout=2).close()
