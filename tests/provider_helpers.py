"""What the provider tests (test_provider_http.py for what every provider does alike, and
test_statuspage_provider.py, test_instatus_provider.py, test_cachet_provider.py for each one's
requests) share: the key and pace they use, the incident request they send, a wait for the fake
page (which lives in another thread), a clock that a test moves instead of waiting, and the
daemon's side of publishing for the tests that drive the real delivery worker against a page."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from monitor.delivery import Delivery
from monitor.incidents import Planner, Target
from monitor.ledger import SqliteLedger
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


class Clock:
    """Real time plus what the test (or a sleeper) added: a 30 s pause or ten minutes of
    monitoring cost no real time. Give it to `RateLimiter(clock=, sleep=)`, `Delivery(clock=)`
    and a fake page (`fake.clock`, which then stamps its request log with it)."""

    def __init__(self, real: Callable[[], float] = time.monotonic) -> None:
        self._real = real
        self.offset = 0.0

    def __call__(self) -> float:
        return self._real() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds

    async def sleep(self, seconds: float) -> None:
        """`asyncio.sleep` that moves the clock instead of waiting (it still yields once)."""
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)


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

    def __init__(self, path: Path, fake: FakePage) -> None:
        self.fake, self.path = fake, path
        self.clock = Clock(time.time)  # the worker's, its limiter's and the changes' time
        self.writer = Writer(path, flush_interval=0.01)
        self.writer.start()
        self.target = Target("api", "Api", fake.add_component("Api"))
        self.status = ComponentStatus(Status.OPERATIONAL, 0.0, "")
        self.delivery: Delivery | None = None
        self.task: asyncio.Task[None] | None = None

    def provider(self, limiter: RateLimiter) -> Provider:
        raise NotImplementedError

    def start(self, monitoring_for: float) -> None:
        limiter = RateLimiter(50.0, clock=self.clock, sleep=self.clock.sleep)
        self.delivery = Delivery(
            self.provider(limiter),
            limiter,
            SqliteLedger(self.writer),
            {"api": self.target},
            Planner(monitoring_for),
            current=lambda cid: self.status,
            clock=self.clock,
            backoff_base=0.05,
        )
        self.task = asyncio.create_task(self.delivery.run())

    async def later(self, seconds: float, predicate: Callable[[], bool], what: str) -> None:
        """Moves the clock on by `seconds`, then waits for `predicate`. The worker may be asleep
        on a real timer that knows nothing of the clock, so it is woken at every look that
        fails (never after the last: a wake still pending when the test cancels the worker
        could swallow the cancel, see asyncio.wait_for in Python 3.11)."""
        self.clock.advance(seconds)

        def woken() -> bool:
            assert self.delivery is not None
            if predicate():
                return True
            self.delivery.wake()
            return False

        await eventually(woken, what)

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
        before, now = self.status.status, self.clock()
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
