"""What the provider tests (test_statuspage_provider.py, test_instatus_provider.py,
test_cachet_provider.py) share: the key and pace they use, the incident request they send, a
wait for the fake page (which lives in another thread), and the daemon's side of publishing for
the tests that drive the real delivery worker against a fake page."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from monitor.delivery import Delivery
from monitor.incidents import Planner, Target
from monitor.publishers.base import Impact, IncidentRequest, IncidentStatus, Provider, RateLimiter
from monitor.state import ComponentStatus, ComponentTransition, Status
from monitor.store import Store, save_outbox_entry
from monitor.writer import Writer
from tests.fake_page import FakePage

KEY = "test-key"  # the fakes' default
FAST = 1000.0  # requests a second: the limiter is on, but tests stay fast


def incident_request(remote: str, key: str, **changes: Any) -> IncidentRequest:
    """A partial outage of "payment-api" on `remote`, with our `key` for it, and `changes`."""
    fields: dict[str, Any] = {
        "name": "Payment API: partial outage",
        "status": IncidentStatus.INVESTIGATING,
        "body": "healthz fails: connection refused",
        "remote_component": remote,
        "component_status": Status.PARTIAL_OUTAGE,
        "impact": Impact.MAJOR,
        "component": "payment-api",
        "key": key,
    }
    return IncidentRequest(**{**fields, **changes})


async def eventually(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not predicate():  # noqa: ASYNC110 - the fake page lives in another thread
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


class WorkerPage:
    """The daemon's side of publishing to a fake page: a writer, the status of the one component
    "api" (on the page as "Api"), and the worker. A subclass says how to reach the page."""

    PUBLISHER = ""  # the page's name in the outbox
    MAINTENANCE_POLL = 60.0  # Delivery's default

    def __init__(self, path: Path, fake: FakePage) -> None:
        self.fake, self.path = fake, path
        self.writer = Writer(path, flush_interval=0.01)
        self.writer.start()
        self.target = Target("api", "Api", fake.add_component("Api"))
        self.status = ComponentStatus(Status.OPERATIONAL, 0.0, "")
        self.delivery: Delivery | None = None
        self.task: asyncio.Task[None] | None = None

    def provider(self, limiter: RateLimiter) -> Provider:
        raise NotImplementedError

    def start(self, monitoring_for: float) -> None:
        limiter = RateLimiter(50.0)
        self.delivery = Delivery(
            self.provider(limiter),
            limiter,
            self.writer,
            {"api": self.target},
            Planner(monitoring_for),
            current=lambda cid: self.status,
            backoff_base=0.05,
        )
        self.task = asyncio.create_task(self.delivery.run())

    async def crash(self) -> None:
        """The worker dies where it stands, as in a kill -9: nothing more is saved."""
        assert self.task is not None and self.delivery is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.delivery.provider.close()

    async def close(self) -> None:
        """The fixture's teardown: the worker (if it still runs), then the writer."""
        if self.task is not None and not self.task.done():
            await self.crash()
        self.writer.stop()

    def change(self, after: Status, reason: str = "checks down") -> None:
        before, now = self.status.status, time.time()
        self.status = ComponentStatus(after, now, reason)
        transition = ComponentTransition(now, before, after, reason)
        self.writer.submit(save_outbox_entry(self.PUBLISHER, "api", transition))
        if self.delivery is not None:
            self.delivery.wake()

    def pending(self) -> int:
        store = Store.open(self.path)
        try:
            query = "SELECT count(*) FROM outbox WHERE state = 0"
            return int(store.db.execute(query).fetchone()[0])
        finally:
            store.close()
