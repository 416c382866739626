"""The leader's lease: one row, an epoch, and an expiry on the database server's clock.

Taking it (`campaign`) is one UPDATE that succeeds only when the lease has run out or is ours
already; a lease that ran out is taken with the next epoch, even by the node that held it, so
whatever was done under an older epoch can be told apart and refused. Every transaction the
leader writes begins with `fence`, which locks the lease row for share and aborts unless it is
still held, at this epoch, unexpired: a node that was paused, partitioned or slow writes
nothing once it has lost the lease, whatever it believes.

Locally the lease counts as held until the moment the renewal was *sent* plus the ttl (the
server's expiry can only be later), on the monotonic clock, which keeps counting while the
process is stopped. Before each request to the status page the leader asks `check(timeout)`:
the lease must outlive the request, or the request is not sent.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncpg

log = logging.getLogger("monitor.cluster")

NAME = "publisher"

_CAMPAIGN = """
UPDATE lease SET
    epoch = CASE WHEN holder = $1 AND epoch = $2 AND expires_at > now()
                 THEN epoch ELSE epoch + 1 END,
    acquired_at = CASE WHEN holder = $1 AND epoch = $2 AND expires_at > now()
                       THEN acquired_at ELSE now() END,
    holder = $1,
    node = $3,
    expires_at = now() + make_interval(secs => $4)
WHERE name = 'publisher' AND (expires_at <= now() OR (holder = $1 AND epoch = $2))
RETURNING epoch
"""
_FENCE = """
SELECT 1 FROM lease
WHERE name = 'publisher' AND holder = $1 AND epoch = $2 AND expires_at > now()
FOR SHARE
"""
_BREAK = """
SELECT count(pg_terminate_backend(l.pid)) FROM pg_locks l
WHERE l.locktype = 'relation' AND l.relation = 'lease'::regclass AND l.granted
  AND l.mode = 'RowShareLock' AND l.pid <> pg_backend_pid()
  AND EXISTS (SELECT 1 FROM lease WHERE name = 'publisher' AND expires_at <= now())
"""
_RELEASE = """
UPDATE lease SET expires_at = now()
WHERE name = 'publisher' AND holder = $1 AND epoch = $2 AND expires_at > now()
"""


class LeaseLost(Exception):
    """This node does not hold the lease (any more): it must neither write nor publish."""


class Lease:
    def __init__(
        self, node: str, ttl: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.node, self.ttl, self.clock = node, ttl, clock
        self.holder = f"{node}:{os.getpid()}:{secrets.token_hex(4)}"
        self.epoch = 0  # of the lease we hold or last held; 0: never held
        self.valid_until = float("-inf")  # monotonic

    def remaining(self) -> float:
        """Seconds the lease is surely still ours (<= 0: not held)."""
        return self.valid_until - self.clock()

    @property
    def held(self) -> bool:
        return self.remaining() > 0

    def check(self, outlive: float = 0.0) -> None:
        """Raise LeaseLost unless the lease is ours for more than `outlive` seconds."""
        if self.remaining() <= outlive:
            raise LeaseLost(
                f"the lease (epoch {self.epoch}) is not ours for the next {outlive:g} s"
            )

    async def campaign(self, conn: asyncpg.Connection) -> bool:
        """Renew the lease, or take it if it has run out. Returns whether we hold it now; a
        lease taken anew has a new `epoch`. Raises the driver's errors (then: not renewed)."""
        import asyncpg

        sent = self.clock()
        try:
            epoch = await conn.fetchval(_CAMPAIGN, self.holder, self.epoch, self.node, self.ttl)
        except (asyncpg.LockNotAvailableError, asyncpg.QueryCanceledError):
            await self._break(conn)
            raise
        if epoch is None:
            self.valid_until = float("-inf")
            return False
        self.epoch = int(epoch)
        self.valid_until = sent + self.ttl
        return True

    async def _break(self, conn: asyncpg.Connection) -> None:
        """The lease row stayed locked past the lease's expiry: a fenced transaction of the
        last leader is stuck, its node paused or cut off between two messages of a statement
        (no idle timeout applies there). Its lease is over, so its session is ended: the
        transaction rolls back, and the next campaign takes the lease."""
        ended = await conn.fetchval(_BREAK)
        if ended:
            log.warning(
                "ended %d database session(s) of a leader whose lease ran out while they held "
                "it locked",
                ended,
            )

    def lose(self) -> None:
        """Forget the lease locally (the database could not confirm it)."""
        self.valid_until = float("-inf")

    async def fence(self, conn: asyncpg.Connection) -> None:
        """In a transaction: lock the lease for share and raise LeaseLost unless it is still
        ours at our epoch. The lock keeps another node from taking it until we commit."""
        self.check()
        if await conn.fetchval(_FENCE, self.holder, self.epoch) is None:
            self.lose()
            raise LeaseLost(f"the lease was taken from us (we had epoch {self.epoch})")

    async def release(self, conn: asyncpg.Connection) -> None:
        """On a clean stop: let the next node take over now rather than after the ttl."""
        if self.held:
            await conn.execute(_RELEASE, self.holder, self.epoch)
        self.lose()


async def leader_of(conn: asyncpg.Connection) -> tuple[str | None, int, bool]:
    """(the node holding or last holding the lease, its epoch, whether it is unexpired)."""
    row = await conn.fetchrow(
        "SELECT node, epoch, expires_at > now() AS live FROM lease WHERE name = 'publisher'"
    )
    if row is None:
        return None, 0, False
    return row["node"], int(row["epoch"]), bool(row["live"])
