"""The publishing ledger in PostgreSQL: the outbox, what the page shows, the incidents opened
and the maintenance announced, shared by every node so that the next leader carries on where
the last one stopped. Every write is fenced by the lease (LeaseLost when it is not ours); the
reads are plain.

The same interface as monitor.ledger.SqliteLedger; `queue` is fire and forget there, so here it
is kept in order on one task per ledger and awaited by the next read.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from monitor.announce import Announced
from monitor.cluster.lease import Lease
from monitor.incidents import Pending, Remote
from monitor.state import ComponentTransition, Status
from monitor.store.saved import decode_remote, encode_remote

if TYPE_CHECKING:
    import asyncpg

PENDING, DELIVERED, FAILED = 0, 1, 2


class PgLedger:
    def __init__(self, pool: asyncpg.Pool, lease: Lease) -> None:
        self.pool, self.lease = pool, lease
        self._queued: list[asyncio.Task[None]] = []

    async def _settle(self) -> None:
        """Wait for what `queue` started (and raise its error: LeaseLost, say)."""
        while self._queued:
            await self._queued.pop(0)

    async def load_outbox(self, publisher: str) -> dict[str, tuple[Remote | None, list[Pending]]]:
        await self._settle()
        out: dict[str, tuple[Remote | None, list[Pending]]] = {}
        async with self.pool.acquire() as conn:
            for row in await conn.fetch(
                "SELECT component, data FROM publish_state WHERE publisher = $1", publisher
            ):
                out[row["component"]] = (decode_remote(row["data"]), [])
            for row in await conn.fetch(
                "SELECT id, component, at, before, after, reason FROM outbox "
                "WHERE publisher = $1 AND state = 0 ORDER BY id",
                publisher,
            ):
                _, pending = out.setdefault(row["component"], (None, []))
                pending.append(
                    Pending(
                        row["id"],
                        row["at"],
                        Status(row["before"]),
                        Status(row["after"]),
                        row["reason"],
                    )
                )
        return out

    def queue(self, publisher: str, component: str, transition: ComponentTransition) -> None:
        t = transition

        async def write() -> None:
            async with self.pool.acquire() as conn, conn.transaction():
                await self.lease.fence(conn)
                await conn.execute(
                    "INSERT INTO outbox (publisher, component, at, before, after, reason) "
                    "VALUES ($1, $2, $3, $4, $5, $6)",
                    *(publisher, component, t.at, t.before.value, t.after.value, t.reason),
                )

        self._queued.append(asyncio.ensure_future(write()))

    async def record_delivery(
        self,
        publisher: str,
        component: str,
        remote: Remote,
        through: int | None,
        at: float,
        error: str | None = None,
    ) -> None:
        await self._settle()
        async with self.pool.acquire() as conn, conn.transaction():
            await self.lease.fence(conn)
            await conn.execute(
                "INSERT INTO publish_state (publisher, component, data) VALUES ($1, $2, $3) "
                "ON CONFLICT (publisher, component) DO UPDATE SET data = excluded.data",
                publisher,
                component,
                encode_remote(remote),
            )
            if through is not None:
                await conn.execute(
                    "UPDATE outbox SET state = $1, error = $2, done_at = $3 "
                    "WHERE publisher = $4 AND component = $5 AND state = 0 AND id <= $6",
                    FAILED if error else DELIVERED,
                    error,
                    at,
                    publisher,
                    component,
                    through,
                )

    async def record_published(
        self, publisher: str, incident_id: str, component: str, started: float
    ) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await self.lease.fence(conn)
            await conn.execute(
                "INSERT INTO published_incidents (publisher, incident_id, component, started) "
                "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                publisher,
                incident_id,
                component,
                started,
            )

    async def record_publisher_health(self, publisher: str, error: str | None, at: float) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await self.lease.fence(conn)
            await conn.execute(
                "INSERT INTO publisher_health (publisher, error, since) VALUES ($1, $2, $3) "
                "ON CONFLICT (publisher) DO UPDATE SET error = excluded.error, "
                "since = excluded.since WHERE publisher_health.error IS DISTINCT FROM "
                "excluded.error",
                publisher,
                error,
                at,
            )

    async def load_announced(self, publisher: str) -> dict[str, Announced]:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                'SELECT key, page_id, components, start, "end", title, fingerprint '
                "FROM announcements WHERE publisher = $1",
                publisher,
            )
        return {
            r["key"]: Announced(
                r["key"],
                r["page_id"],
                tuple(r["components"].split()),
                r["start"],
                r["end"],
                r["title"],
                r["fingerprint"],
            )
            for r in rows
        }

    async def record_announced(
        self, publisher: str, announced: Announced, replaces: str | None = None
    ) -> None:
        a = announced
        async with self.pool.acquire() as conn, conn.transaction():
            await self.lease.fence(conn)
            if replaces is not None and replaces != a.key:
                await conn.execute(
                    "DELETE FROM announcements WHERE publisher = $1 AND key = $2",
                    publisher,
                    replaces,
                )
            await conn.execute(
                "INSERT INTO announcements "
                '(publisher, key, page_id, components, start, "end", title, fingerprint) '
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (publisher, key) DO UPDATE "
                "SET page_id = excluded.page_id, components = excluded.components, "
                'start = excluded.start, "end" = excluded."end", title = excluded.title, '
                "fingerprint = excluded.fingerprint",
                *(publisher, a.key, a.page_id, " ".join(a.components), a.start, a.end),
                a.title,
                a.fingerprint,
            )

    async def forget_announced(self, publisher: str, key: str) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await self.lease.fence(conn)
            await conn.execute(
                "DELETE FROM announcements WHERE publisher = $1 AND key = $2", publisher, key
            )
