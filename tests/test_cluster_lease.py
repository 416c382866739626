"""The lease and its fence against a real PostgreSQL: who may write, and what a node that lost
the lease (paused, cut off, slow) can still do: nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from monitor.cluster import shared
from monitor.cluster.lease import Lease, LeaseLost, leader_of
from monitor.cluster.ledger import PgLedger
from monitor.cluster.schema import VERSION, NewerClusterSchema, migrate
from monitor.engine import Change
from monitor.incidents import Remote
from monitor.recorder import Route
from monitor.state import ComponentStatus, ComponentTransition, Status


class Clock:
    """A monotonic clock the test moves: a paused process's clock, as it believes it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def pool(pg_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(pg_url, min_size=1, max_size=4)
    async with pool.acquire() as conn:
        await migrate(conn)
    yield pool
    await pool.close()


async def expire(pool: asyncpg.Pool) -> None:
    """The server's clock runs past the lease (as if the holder had slept through it)."""
    await pool.execute("UPDATE lease SET expires_at = now() - interval '1 second'")


async def test_one_holder_at_a_time_and_renewal_keeps_the_epoch(pool: asyncpg.Pool) -> None:
    a, b = Lease("a", 30), Lease("b", 30)
    async with pool.acquire() as conn:
        assert await a.campaign(conn) and a.epoch == 1
        assert not await b.campaign(conn) and not b.held
        assert await a.campaign(conn) and a.epoch == 1  # renewed, same epoch
        assert await leader_of(conn) == ("a", 1, True)
        await expire(pool)
        assert await b.campaign(conn) and b.epoch == 2
        assert not await a.campaign(conn) and not a.held
        await expire(pool)
        assert await a.campaign(conn) and a.epoch == 3  # a lapsed lease is always a new epoch


async def test_a_lease_that_lapsed_unnoticed_is_retaken_with_a_new_epoch(
    pool: asyncpg.Pool,
) -> None:
    a = Lease("a", 30)
    async with pool.acquire() as conn:
        await a.campaign(conn)
        await expire(pool)
        assert await a.campaign(conn)
    assert a.epoch == 2


async def test_a_node_that_lost_the_lease_writes_nothing_whatever_it_believes(
    pool: asyncpg.Pool,
) -> None:
    frozen = Clock()  # the old leader's clock stood still: it believes it holds the lease
    old, new = Lease("old", 30, clock=frozen), Lease("new", 30)
    async with pool.acquire() as conn:
        await old.campaign(conn)
        await expire(pool)
        await new.campaign(conn)
    assert old.held  # it still believes
    transition = ComponentTransition(5.0, Status.OPERATIONAL, Status.MAJOR_OUTAGE, "down")
    change = Change("api", None, transition, ComponentStatus(Status.MAJOR_OUTAGE, 5.0, "down"))
    route = Route("statuspage", frozenset({"api"}))
    async with pool.acquire() as conn:
        with pytest.raises(LeaseLost):
            await shared.record(conn, old, [change], route)
    ledger = PgLedger(pool, old)
    with pytest.raises(LeaseLost):
        await ledger.record_delivery("statuspage", "api", Remote(incident_id="i1"), None, 5.0)
    old.valid_until = frozen.now + 30  # its belief, once more (the fence dropped it)
    with pytest.raises(LeaseLost):
        await ledger.record_published("statuspage", "i1", "api", 5.0)
    old.valid_until = frozen.now + 30
    ledger.queue("statuspage", "api", transition)
    with pytest.raises(LeaseLost):
        await ledger.load_outbox("statuspage")  # the queued write's failure surfaces here
    for table in ("transitions", "outbox", "publish_state", "published_incidents"):
        assert await pool.fetchval(f"SELECT count(*) FROM {table}") == 0, table
    # the holder writes
    async with pool.acquire() as conn:
        assert await shared.record(conn, new, [change], route) == [1]
    outbox = await PgLedger(pool, new).load_outbox("statuspage")
    assert [p.after for p in outbox["api"][1]] == [Status.MAJOR_OUTAGE]


async def test_the_fence_holds_off_a_takeover_until_the_write_commits(
    pool: asyncpg.Pool,
) -> None:
    a, b = Lease("a", 30), Lease("b", 30)
    async with pool.acquire() as conn:
        await a.campaign(conn)
    async with pool.acquire() as writer, pool.acquire() as other:
        async with writer.transaction():
            await a.fence(writer)
            # another node's campaign waits for the fenced write to commit
            attempt = asyncio.create_task(
                other.execute("UPDATE lease SET expires_at = now() - interval '1 second'")
            )
            done, _ = await asyncio.wait({attempt}, timeout=0.5)
            assert not done, "the lease row changed under a fenced write"
        await attempt
        assert await b.campaign(other)


async def test_a_lease_that_will_not_outlive_a_request_sends_nothing() -> None:
    clock = Clock()
    lease = Lease("a", 3, clock=clock)
    lease.valid_until = clock.now + 3
    lease.check(1.0)
    clock.now += 2.5
    with pytest.raises(LeaseLost):
        lease.check(1.0)  # 0.5 s left: a request with a 1 s timeout could outlive it


async def test_release_lets_the_next_node_take_over_at_once(pool: asyncpg.Pool) -> None:
    a, b = Lease("a", 30), Lease("b", 30)
    async with pool.acquire() as conn:
        await a.campaign(conn)
        await a.release(conn)
        assert not a.held
        assert await b.campaign(conn) and b.epoch == 2


async def test_nodes_starting_together_migrate_once(pg_url: str) -> None:
    conns = [await asyncpg.connect(pg_url) for _ in range(4)]
    try:
        found = await asyncio.gather(*(migrate(c) for c in conns))
        assert sorted(found) == [0, VERSION, VERSION, VERSION]
        await conns[0].execute("UPDATE monitor_schema SET version = $1", VERSION + 1)
        with pytest.raises(NewerClusterSchema, match=f"version {VERSION + 1}, newer"):
            await migrate(conns[1])
    finally:
        for conn in conns:
            await conn.close()


async def test_the_leader_forgets_nodes_silent_for_a_day(pool: asyncpg.Pool) -> None:
    from monitor.state import CheckState, CheckStatus

    lease = Lease("a", 30)
    report = [shared.report_row("api/home", CheckStatus(CheckState.UP, 1.0, last_at=2.0))]
    async with pool.acquire() as conn:
        await lease.campaign(conn)
        for name in ("old", "new"):
            await shared.push(conn, name, "default", "x", report)
        await conn.execute(
            "UPDATE nodes SET last_seen = now() - interval '25 hours' WHERE name = 'old'"
        )
        assert await shared.forget_nodes(conn, lease, 86_400) == ["old"]
        assert [n.name for n in await shared.nodes(conn)] == ["new"]
        assert await conn.fetchval("SELECT count(*) FROM node_checks WHERE node = 'old'") == 0
        lost = Lease("b", 30)
        with pytest.raises(LeaseLost):  # only the leader forgets
            await shared.forget_nodes(conn, lost, 0)


async def test_a_stuck_transaction_of_a_lapsed_leader_is_ended_by_the_next_campaign(
    pool: asyncpg.Pool, pg_url: str
) -> None:
    """A leader paused or cut off in the middle of a fenced transaction keeps the lease row
    locked (between two messages of a statement no server timeout applies): once its lease is
    over, the next node's campaign ends that session and takes the lease."""
    old, new = Lease("old", 0.3), Lease("new", 30)
    stuck = await asyncpg.connect(pg_url)  # no idle timeout: it would hold the lock forever
    try:
        await old.campaign(stuck)
        await stuck.execute("BEGIN")
        await old.fence(stuck)
        await lapsed(pool)
        async with pool.acquire() as conn:
            await conn.execute("SET lock_timeout = '200ms'")
            with pytest.raises(asyncpg.LockNotAvailableError):
                await new.campaign(conn)
            assert await new.campaign(conn) and new.epoch == 2
        pid = stuck.get_server_pid()
        assert not await pool.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid)
    finally:
        stuck.terminate()


async def test_a_live_leaders_transaction_is_never_ended(pool: asyncpg.Pool, pg_url: str) -> None:
    leader, other = Lease("leader", 30), Lease("other", 30)
    conn = await asyncpg.connect(pg_url)
    try:
        await leader.campaign(conn)
        await conn.execute("BEGIN")
        await leader.fence(conn)
        async with pool.acquire() as mine:
            await mine.execute("SET lock_timeout = '200ms'")
            assert not await other.campaign(mine)  # the lease is live: not even a lock wait
        await conn.execute("COMMIT")
        assert await _alive(conn)
    finally:
        await conn.close()


async def lapsed(pool: asyncpg.Pool, deadline: float = 5.0) -> None:
    """Until the server's clock is past the lease (read without waiting on its row's lock)."""
    async with asyncio.timeout(deadline):
        while not await pool.fetchval("SELECT expires_at <= now() FROM lease"):  # noqa: ASYNC110 - the server clock has no event
            await asyncio.sleep(0.02)


async def _alive(conn: asyncpg.Connection) -> bool:
    try:
        return bool(await conn.fetchval("SELECT 1", timeout=2))
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
        return False
