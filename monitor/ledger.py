"""The publisher's ledger: what it owes the page (the outbox) and what the page shows.

The delivery and the announcer read and write it through `Ledger` alone, so where it lives is
the daemon's choice: SQLite through the writer thread (`SqliteLedger`), or PostgreSQL in cluster
mode. Every call is ordered after the writes queued before it, so a read sees them, and returns
once its write is committed: what the page answered is kept before the next request goes.
"""

from __future__ import annotations

from typing import Protocol

from monitor.announce import Announced
from monitor.incidents import Pending, Remote
from monitor.state import ComponentTransition
from monitor.store import (
    load_outbox,
    record_delivery,
    record_published,
    record_publisher_health,
    save_outbox_entry,
)
from monitor.store.announced import forget_announced, load_announced, record_announced
from monitor.writer import Writer


class Ledger(Protocol):
    """Where the publisher's outbox and the page's state live (SQLite through the writer;
    PostgreSQL in cluster mode)."""

    async def load_outbox(self, publisher: str) -> dict[str, tuple[Remote | None, list[Pending]]]:
        """Per component: what the page shows (None: never published) and the pending changes,
        oldest first, with only committed entries."""
        ...

    def queue(self, publisher: str, component: str, transition: ComponentTransition) -> None:
        """Queue a change for the page, fire and forget (never blocks): it lands after the
        writes queued before it, and the next `load_outbox` sees it."""
        ...

    async def record_delivery(
        self,
        publisher: str,
        component: str,
        remote: Remote,
        through: int | None,
        at: float,
        error: str | None = None,
    ) -> None:
        """After a request: what the page now shows, and the entries up to `through` closed
        (delivered, or failed with the page's message `error`), in one transaction."""
        ...

    async def record_published(
        self, publisher: str, incident_id: str, component: str, started: float
    ) -> None:
        """An incident we created or adopted, for `monitor incidents`."""
        ...

    async def record_publisher_health(self, publisher: str, error: str | None, at: float) -> None:
        """Why delivery is stuck (None: it is not), since `at` when it changed."""
        ...

    async def load_announced(self, publisher: str) -> dict[str, Announced]:
        """The scheduled maintenance the page has, by key."""
        ...

    async def record_announced(
        self, publisher: str, announced: Announced, replaces: str | None = None
    ) -> None:
        """What the page now has; `replaces` is the key of the record it takes the place of."""
        ...

    async def forget_announced(self, publisher: str, key: str) -> None:
        """The page no longer has the announcement `key`."""
        ...


class SqliteLedger:
    """The ledger in the SQLite file, through the writer thread (the only writing connection)."""

    def __init__(self, writer: Writer) -> None:
        self.writer = writer

    async def load_outbox(self, publisher: str) -> dict[str, tuple[Remote | None, list[Pending]]]:
        return await self.writer.acall(lambda db: load_outbox(db, publisher))

    def queue(self, publisher: str, component: str, transition: ComponentTransition) -> None:
        self.writer.submit([save_outbox_entry(publisher, component, transition)])

    async def record_delivery(
        self,
        publisher: str,
        component: str,
        remote: Remote,
        through: int | None,
        at: float,
        error: str | None = None,
    ) -> None:
        await self.writer.acall(
            lambda db: record_delivery(db, publisher, component, remote, through, at, error)
        )

    async def record_published(
        self, publisher: str, incident_id: str, component: str, started: float
    ) -> None:
        await self.writer.acall(
            lambda db: record_published(db, publisher, incident_id, component, started)
        )

    async def record_publisher_health(self, publisher: str, error: str | None, at: float) -> None:
        await self.writer.acall(lambda db: record_publisher_health(db, publisher, error, at))

    async def load_announced(self, publisher: str) -> dict[str, Announced]:
        return await self.writer.acall(lambda db: load_announced(db, publisher))

    async def record_announced(
        self, publisher: str, announced: Announced, replaces: str | None = None
    ) -> None:
        await self.writer.acall(lambda db: record_announced(db, publisher, announced, replaces))

    async def forget_announced(self, publisher: str, key: str) -> None:
        await self.writer.acall(lambda db: forget_announced(db, publisher, key))


__all__ = ["Ledger", "SqliteLedger"]
