"""What every status page provider offers the delivery worker, and the errors it may raise.

Providers translate these calls into their API (one module each: statuspage.py, ...). They do
not retry: they raise the error that says what kind of failure it was, and the delivery worker
decides (wait for Retry-After, back off, give up on the entry, or pause everything on a bad key).
Every request goes through the shared `RateLimiter` and has a deadline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from monitor.announce import Announcement
from monitor.incidents import (
    IMPACT,
    Impact,
    IncidentRequest,
    IncidentStatus,
    RemoteComponent,
    RemoteIncident,
)
from monitor.publishers.spec import ProviderSpec
from monitor.state import Status

__all__ = [
    "IMPACT",
    "MAX_PAUSE",
    "Announcement",
    "Announcing",
    "Impact",
    "IncidentRequest",
    "IncidentStatus",
    "NotFound",
    "Provider",
    "ProviderSpec",
    "PublishError",
    "RateLimited",
    "RateLimiter",
    "Rejected",
    "RemoteComponent",
    "RemoteIncident",
    "Transient",
    "Unauthorized",
]


MAX_PAUSE = 3600.0
"""Seconds a page may make us wait at most (Retry-After): an hour, whatever it asks."""


class PublishError(Exception):
    """A request that did not have its effect. `status` is the HTTP status, if there was one."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RateLimited(PublishError):
    """420 or 429: wait `retry_after` seconds (from the Retry-After header) and try again."""

    def __init__(self, message: str, *, status: int, retry_after: float | None) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class Transient(PublishError):
    """5xx, a timeout, a refused or reset connection: back off and retry for as long as it takes."""


class Unauthorized(PublishError):
    """401 or 403: the key is wrong. Nothing will work until the config is fixed."""


class Rejected(PublishError):
    """Another 4xx (404, 422, ...): retrying cannot help. Carries the page's message."""


class NotFound(Rejected):
    """404: the incident or component does not exist (any more) on the page."""


class Provider(Protocol):
    """A status page's API, as far as we need it. `spec` is its module's SPEC; `name` is the
    spec's name."""

    name: str
    spec: ProviderSpec

    async def create_incident(self, request: IncidentRequest) -> str:
        """Open (or backfill) an incident; returns its id on the page."""

    async def update_incident(self, incident_id: str, request: IncidentRequest) -> None:
        """Post an update: new status, body and component status."""

    async def set_component(self, remote_id: str, status: Status) -> None:
        """Set a component's status without an incident."""

    async def unresolved_incidents(self) -> list[RemoteIncident]:
        """Every unresolved incident on the page (all pages of the list)."""

    async def get_incident(self, incident_id: str) -> RemoteIncident:
        """One incident by id; NotFound if it is gone."""

    async def components(self) -> list[RemoteComponent]:
        """Every component on the page (all pages of the list)."""

    async def active_maintenance(self) -> set[str]:
        """Page ids of the components in an active scheduled maintenance."""

    async def close(self) -> None:
        """Release connections."""


class Announcing(Protocol):
    """A provider that announces scheduled maintenance (monitor.announce) on its page. Each
    announcement carries our marker, `Announcement.key`, so it is found again after a crash."""

    async def create_maintenance(self, announcement: Announcement) -> str:
        """Announce an occurrence; returns its id on the page."""

    async def update_maintenance(self, page_id: str, announcement: Announcement) -> None:
        """Change an announced occurrence (its marker too, when it moved)."""

    async def cancel_maintenance(self, page_id: str) -> None:
        """Take an occurrence that has not started off the page; NotFound if it is gone."""

    async def announced_maintenance(self) -> list[tuple[str, str]]:
        """(id on the page, our marker) of every upcoming maintenance with our marker."""


class RateLimiter:
    """At most one request every `interval` seconds, in the order they asked (FIFO), plus a
    global pause that a 420/429 with Retry-After can impose on everyone using the same key.
    `clock` and `sleep` go together: a test passes a clock that its `sleep` moves on.

    `gate`, when set, is called as each request's turn comes, right before it goes out; it
    raises to stop the request (cluster mode: this node's lease would not outlive it), and the
    exception leaves `wait()` without taking the turn."""

    def __init__(
        self,
        per_second: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self._next = 0.0
        self.gate: Callable[[], None] | None = None
        # Headers every request carries besides the provider's (cluster mode: X-Monitor-Node).
        self.headers: dict[str, str] = {}

    def pause(self, seconds: float) -> None:
        """No request before `seconds` from now (MAX_PAUSE at most)."""
        if not seconds <= MAX_PAUSE:  # also NaN
            seconds = MAX_PAUSE
        self._next = max(self._next, self._clock() + max(0.0, seconds))

    def pause_left(self) -> float:
        """Seconds before the next request may go (0 when it may go now)."""
        return max(0.0, self._next - self._clock())

    async def wait(self) -> None:
        async with self._lock:
            while (delay := self._next - self._clock()) > 0:  # noqa: ASYNC110 - a pause may come
                await self._sleep(delay)
            if self.gate is not None:
                self.gate()
            self._next = self._clock() + self.interval
