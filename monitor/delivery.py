"""The delivery worker: drains the outbox to the status page, one request at a time.

Each turn it reads the outbox and what the page shows from the ledger (monitor.ledger: only
committed entries), asks the planner for each component's next action, sends the one whose
oldest change is oldest (so incidents reach the page in the order of their transitions), and
saves the result before the next turn: an incident id is stored the moment the page returns it.

Failures never lose an entry: 420/429 pause every request for Retry-After; 5xx, timeouts and
refused connections back off (exponential, with jitter, capped) for that component, for as long
as it takes; a 4xx that retrying cannot fix closes the entries as failed with the page's message,
once, without holding up the other components; a bad key (401/403) pauses delivery, keeps every
entry, and is retried every minute and after a reload.

It only delivers: reading the page's own maintenance is `publishing.PageMaintenance`, and
`publishing.Publishing` runs the two in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import replace

from monitor.announce import Announced, Move
from monitor.announcing import LOOK_EVERY, Announcer
from monitor.incidents import (
    Action,
    IncidentStatus,
    Kind,
    Planner,
    Remote,
    Target,
)
from monitor.ledger import Ledger
from monitor.publishers.base import (
    NotFound,
    Provider,
    PublishError,
    RateLimited,
    RateLimiter,
    Rejected,
    Unauthorized,
)
from monitor.state import ComponentStatus, ComponentTransition, Status

log = logging.getLogger("monitor.publish")

BACKOFF_BASE = 1.0
BACKOFF_CAP = 300.0
AUTH_RETRY = 60.0

RequestCounter = Callable[[str], None]  # "ok" | "retry" | "error", for the metrics
ANNOUNCE = "@maintenance"  # the announcements' place in the backoff, beside the components


class Delivery:
    def __init__(
        self,
        provider: Provider,
        limiter: RateLimiter,
        ledger: Ledger,
        targets: Mapping[str, Target],
        planner: Planner,
        *,
        current: Callable[[str], ComponentStatus],
        on_request: RequestCounter = lambda outcome: None,
        clock: Callable[[], float] = time.time,
        backoff_base: float = BACKOFF_BASE,
        announcer: Announcer | None = None,
    ) -> None:
        self.provider = provider
        self.announcer = announcer  # scheduled maintenance to announce (monitor.announcing)
        self.publisher = provider.name
        self.limiter = limiter
        self.ledger = ledger
        self.targets = dict(targets)
        self.planner = planner
        self.current = current
        self.on_request = on_request
        self.clock = clock
        self.backoff_base = backoff_base
        self.queue_depth = 0
        self.remotes: dict[str, Remote] = {}  # what the page shows, as of the last turn
        self.error: str | None = None  # why delivery is stuck, for /healthz and `status`
        self._wake = asyncio.Event()
        self._not_before: dict[str, float] = {}
        self._attempts: dict[str, int] = {}
        self._paused_until = 0.0

    @property
    def announced(self) -> list[Announced]:
        """The scheduled maintenance announced on the page, as of the last turn."""
        return list(self.announcer.have.values()) if self.announcer is not None else []

    def wake(self) -> None:
        """New entries are in the outbox (or the config changed): look again now."""
        self._wake.set()

    async def run(self) -> None:
        """Reconcile with the page, then deliver until cancelled."""
        await self.reconcile()
        await self.deliver()

    # -- reconcile -------------------------------------------------------------------------

    async def reconcile(self) -> None:
        """Adopt incidents we opened but did not record (a crash after the POST), drop those a
        human resolved, learn the page's component statuses, and queue a change for components
        whose status the page never got. Retried until the page answers."""
        attempt = 0
        while True:
            try:
                unresolved = await self.provider.unresolved_incidents()
                components = {c.id: c.status for c in await self.provider.components()}
                if self.announcer is not None:
                    await self.announcer.adopt()
                break
            except PublishError as exc:
                delay = await self._failed(None, exc, attempt)
                attempt += 1
                self._wake.clear()  # new changes do not hurry a page that is down
                await self._sleep(delay)
        ours = {i.component: i for i in unresolved if i.component in self.targets}
        work = await self.ledger.load_outbox(self.publisher)
        for cid, target in self.targets.items():
            remote, pending = work.get(cid, (None, []))
            remote = remote or Remote()
            found = ours.get(cid)
            if remote.incident_id is None and found is not None:
                log.info("%s: adopting incident %s found on the page", cid, found.id)
                remote = replace(
                    remote,
                    incident_id=found.id,
                    key=found.key or f"{cid}:adopted",
                    incident_status=_incident_status(found.status),
                    recovered_at=self.clock() if found.status == "monitoring" else None,
                )
                await self._remember(cid, found.id, found.key or "")
            elif remote.incident_id is not None and (
                found is None or found.id != remote.incident_id
            ):
                gone = await self._resolved_on_page(remote.incident_id)
                if gone:
                    log.info(
                        "%s: incident %s was resolved on the page; not reopening it",
                        cid,
                        remote.incident_id,
                    )
                    remote = Remote(
                        page_status=remote.page_status,
                        target=remote.target,
                        suppressed=remote.target is not Status.OPERATIONAL
                        and remote.target is not Status.UNDER_MAINTENANCE,
                    )
            page = components.get(target.remote_id)
            if page is not None and page in {s.value for s in Status}:
                remote = replace(remote, page_status=Status(page))
            status = self.current(cid)
            if not pending and remote.target is not status.status:
                transition = ComponentTransition(
                    status.since, remote.target, status.status, status.reason
                )
                self.ledger.queue(self.publisher, cid, transition)
            await self._save(cid, remote, None)
        await self._healthy()

    async def _resolved_on_page(self, incident_id: str) -> bool:
        try:
            return (await self.provider.get_incident(incident_id)).status == "resolved"
        except NotFound:
            return True
        except PublishError:
            return False

    # -- delivery --------------------------------------------------------------------------

    async def deliver(self) -> None:
        """Deliver until cancelled."""
        while True:
            await self.step()

    async def step(self) -> None:
        """One turn: plan every component, send the most urgent action, or sleep."""
        self._wake.clear()  # before reading: a wake-up during the read is for the next turn
        work = await self.ledger.load_outbox(self.publisher)
        now = self.clock()
        self.queue_depth = sum(len(pending) for _, pending in work.values())
        self.remotes = {cid: remote for cid, (remote, _) in work.items() if remote is not None}
        wake_at = float("inf")
        best: tuple[float, str, Remote, Action] | None = None
        for cid, target in self.targets.items():
            remote, pending = work.get(cid, (None, []))
            remote = remote or Remote()
            not_before = max(self._not_before.get(cid, 0.0), self._paused_until)
            if not_before > now:
                wake_at = min(wake_at, not_before)
                continue
            action = self.planner.plan(target, remote, pending, now)
            if action is None:
                deadline = self.planner.next_deadline(remote)
                if deadline is not None:
                    wake_at = min(wake_at, deadline)
                continue
            order = float(pending[0].id) if pending else float("inf")
            if best is None or order < best[0]:
                best = (order, cid, remote, action)
        if best is None:
            if self.announcer is not None:
                if await self._announce(now):
                    return
                wake_at = min(wake_at, now + LOOK_EVERY, self._not_before.get(ANNOUNCE, wake_at))
            await self._sleep(wake_at - now)
            return
        _, cid, remote, action = best
        await self._send(cid, remote, action)

    async def _send(self, cid: str, remote: Remote, action: Action) -> None:
        target = self.targets[cid]
        after = action.after
        error: str | None = None
        incident_id = ""
        try:
            if action.kind is Kind.CREATE:
                assert action.request is not None
                incident_id = await self.provider.create_incident(action.request)
                if action.request.backfill_date is None:
                    after = replace(after, incident_id=incident_id)
            elif action.kind is Kind.UPDATE:
                assert action.request is not None and action.incident_id is not None
                await self.provider.update_incident(action.incident_id, action.request)
            elif action.kind is Kind.COMPONENT:
                assert action.status is not None
                await self.provider.set_component(target.remote_id, action.status)
        except NotFound as exc:
            if action.kind is Kind.UPDATE:  # deleted on the page: start over with a new one
                log.warning(
                    "%s: incident %s is gone from the page; opening a new one",
                    cid,
                    action.incident_id,
                )
                self.on_request("error")
                fresh = Remote(page_status=remote.page_status, target=remote.target)
                await self._save(cid, fresh, None)
                return
            error = f"{exc.status}: {exc}"
        except Rejected as exc:
            error = f"{exc.status}: {exc}"
        except PublishError as exc:
            delay = await self._failed(cid, exc, self._attempts.get(cid, 0))
            self._attempts[cid] = self._attempts.get(cid, 0) + 1
            if not isinstance(exc, RateLimited):
                self._not_before[cid] = self.clock() + delay
            return
        if error is not None:
            log.error(
                "%s: the page refused %s (%s); giving up on this change",
                cid,
                action.describe(),
                error,
            )
            self.on_request("error")
        else:
            if action.kind is not Kind.SKIP:
                if self.provider.spec.remote:  # one that publishes nowhere has said it itself
                    log.info("%s: published: %s", cid, action.describe())
                self.on_request("ok")
        self._attempts.pop(cid, None)
        self._not_before.pop(cid, None)
        await self._save(cid, after, action.through, error)
        if action.kind is Kind.CREATE and error is None and action.request is not None:
            await self._remember(cid, incident_id, action.request.key)
        await self._healthy()

    async def _announce(self, now: float) -> bool:
        """Send the next step of the scheduled maintenance the page should announce; False
        when none is due (or the page is being waited for)."""
        assert self.announcer is not None
        if max(self._not_before.get(ANNOUNCE, 0.0), self._paused_until) > now:
            return False
        step = await self.announcer.next_step(now)
        if step is None:
            return False
        try:
            await self.announcer.send(step)
        except NotFound:  # gone from the page: forgotten; a wanted one is announced again
            log.warning("%s: it is gone from the page", step.describe())
            self.on_request("error")
            await self.announcer.forget(step)
        except Rejected as exc:
            log.error("the page refused to %s (%s: %s)", step.describe(), exc.status, exc)
            self.on_request("error")
            await self.announcer.refuse(step)
        except PublishError as exc:
            attempt = self._attempts.get(ANNOUNCE, 0)
            delay = await self._failed(ANNOUNCE, exc, attempt)
            self._attempts[ANNOUNCE] = attempt + 1
            if not isinstance(exc, RateLimited):
                self._not_before[ANNOUNCE] = self.clock() + delay
            return True
        else:
            if step.move is not Move.FORGET:
                log.info("published: %s", step.describe())
                self.on_request("ok")
        self._attempts.pop(ANNOUNCE, None)
        self._not_before.pop(ANNOUNCE, None)
        await self._healthy()
        return True

    async def _remember(self, cid: str, incident_id: str, key: str) -> None:
        tail = key.rpartition(":")[2]
        started = int(tail) / 1000 if tail.isdigit() else self.clock()
        await self.ledger.record_published(self.publisher, incident_id, cid, started)

    async def _save(
        self, cid: str, remote: Remote, through: int | None, error: str | None = None
    ) -> None:
        self.remotes[cid] = remote
        await self.ledger.record_delivery(self.publisher, cid, remote, through, self.clock(), error)

    async def _failed(self, cid: str | None, exc: PublishError, attempt: int) -> float:
        """Count and log a failed request; return how long to wait before the next try."""
        self.on_request("retry" if not isinstance(exc, Unauthorized) else "error")
        if isinstance(exc, RateLimited):
            delay = exc.retry_after if exc.retry_after is not None else self._backoff(attempt)
            self.limiter.pause(delay)
            log.info("page rate limit (%s): waiting %.1f s", exc.status, delay)
            return delay
        if isinstance(exc, Unauthorized):
            message = f"the page refused our API key ({exc.status}): fix the key, then reload"
            if self.error != message:
                log.error("%s; every change is kept and will be delivered", message)
            self._paused_until = self.clock() + AUTH_RETRY
            await self._unhealthy(message)
            return AUTH_RETRY
        delay = self._backoff(attempt)
        message = f"cannot reach the page: {exc}"
        if attempt == 0 or self.error != message:
            log.warning("%s%s; retrying in %.1f s", f"{cid}: " if cid else "", message, delay)
        await self._unhealthy(message)
        return delay

    def _backoff(self, attempt: int) -> float:
        ceiling = min(BACKOFF_CAP, self.backoff_base * 2**attempt)
        return random.uniform(ceiling / 2, ceiling)

    async def _healthy(self) -> None:
        if self.error is not None:
            log.info("delivering to the page again")
            self.error = None
            await self.ledger.record_publisher_health(self.publisher, None, self.clock())

    async def _unhealthy(self, message: str) -> None:
        if self.error != message:
            self.error = message
            await self.ledger.record_publisher_health(self.publisher, message, self.clock())

    async def _sleep(self, seconds: float) -> None:
        """Until `seconds` pass or `wake()` is called (since the turn began). Not `wait_for`:
        on Python 3.11 it swallows a cancel that comes in the same turn as the wake-up."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, min(seconds, 3600.0))):
                await self._wake.wait()


def _incident_status(page_status: str) -> IncidentStatus:
    if page_status == "monitoring":
        return IncidentStatus.MONITORING
    return IncidentStatus.INVESTIGATING
