"""The daemon's side of announcing scheduled maintenance to a fake page, for
tests/test_announce_*.py: a writer on a real SQLite file, one component "api" ("Payment API" on
the page), and the real delivery worker with its announcer, on a clock the test sets to a date."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from monitor.announcing import Announcer
from monitor.delivery import Delivery
from monitor.incidents import Planner, Target
from monitor.ledger import SqliteLedger
from monitor.model import Maintenance
from monitor.publishers.base import Provider, RateLimiter
from monitor.state import ComponentStatus, Status
from monitor.store import Store
from monitor.store.announced import load_announced
from monitor.writer import Writer
from tests.fake_page import FakePage
from tests.provider_helpers import FAST, Clock, eventually

HOUR = 3600.0
DAY = 24 * HOUR


def utc(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()


def nightly(**keys: object) -> Maintenance:
    """A window every night at 02:00 UTC for an hour, on "api"."""
    return Maintenance(components=("api",), cron="0 2 * * *", duration=HOUR, **keys)  # type: ignore[arg-type]


class AnnouncePage:
    """`make` builds the provider for the fake; `publisher` is its name in the database."""

    def __init__(
        self,
        path: Path,
        fake: FakePage,
        publisher: str,
        make: Callable[[FakePage, RateLimiter], Provider],
        now: str = "2026-12-01T12:00:00",
    ) -> None:
        self.fake, self.path, self.publisher, self.make = fake, path, publisher, make
        self.clock = Clock(time.time)
        self.clock.offset = utc(now) - time.time()
        self.writer = Writer(path, flush_interval=0.01)
        self.writer.start()
        self.target = Target("api", "Payment API", fake.add_component("Payment API"))
        self.delivery: Delivery | None = None
        self.task: asyncio.Task[None] | None = None

    def start(self, windows: Sequence[Maintenance], ahead: float = 2 * DAY) -> None:
        limiter = RateLimiter(FAST, clock=self.clock, sleep=self.clock.sleep)
        provider = self.make(self.fake, limiter)
        targets = {"api": self.target}
        ledger = SqliteLedger(self.writer)
        announcer = Announcer(provider, ledger, self.publisher, windows, targets, ahead)  # type: ignore[arg-type]
        self.delivery = Delivery(
            provider,
            limiter,
            ledger,
            targets,
            Planner(600.0),
            current=lambda cid: ComponentStatus(Status.OPERATIONAL, 0.0, ""),
            clock=self.clock,
            backoff_base=0.05,
            announcer=announcer,
        )
        self.task = asyncio.create_task(self.delivery.run())

    async def crash(self) -> None:
        """The worker dies where it stands, as in a kill -9 (or a stop before a reload)."""
        assert self.task is not None and self.delivery is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.delivery.provider.close()

    async def restart(self, windows: Sequence[Maintenance], ahead: float = 2 * DAY) -> None:
        await self.crash()
        self.start(windows, ahead)

    async def later(self, seconds: float) -> None:
        self.clock.advance(seconds)
        assert self.delivery is not None
        self.delivery.wake()

    def recorded(self) -> dict[str, tuple[str, float, float, str]]:
        """Our records: key -> (page id, start, end, title)."""
        store = Store.open(self.path)
        try:
            return {
                k: (a.page_id, a.start, a.end, a.title)
                for k, a in load_announced(store.db, self.publisher).items()
            }
        finally:
            store.close()

    async def settle(self, predicate: Callable[[], bool], what: str) -> None:
        await eventually(predicate, what, timeout=20.0)

    async def close(self) -> None:
        if self.task is not None and not self.task.done():
            await self.crash()
        self.writer.stop()
