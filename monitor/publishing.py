"""The publishing stage: the outbox delivered to the page, and the page's maintenance read back.

`prepare` builds what the config asks for (reading the API key), before anything changes, so a
reload can be refused whole. `Delivery` (delivery.py) drains the outbox; `PageMaintenance` reads
which components the page shows under maintenance; `Publishing` runs the two as one task, in
the order that matters: reconcile with the page, read its maintenance once, then deliver and
keep reading it. Read before the first delivery, the page's maintenance keeps an outage probed
in the first seconds of a run from opening an incident for a component under maintenance.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from monitor.announcing import Announcer, can_announce
from monitor.config import read_api_key
from monitor.delivery import Delivery
from monitor.incidents import Planner, Target, notify_from, templates_from
from monitor.ledger import Ledger
from monitor.logs import Redactor
from monitor.metrics import Metrics
from monitor.model import Config, Maintenance
from monitor.publishers import make_provider, needs_key, publish_targets
from monitor.publishers.base import Provider, PublishError, RateLimiter
from monitor.recorder import Route
from monitor.state import ComponentStatus

log = logging.getLogger("monitor.publish")


@dataclass(frozen=True)
class PublishSetup:
    """The publisher a config asks for, ready to start: `provider` is None for `none`."""

    provider: Provider | None
    limiter: RateLimiter
    planner: Planner
    targets: dict[str, Target]
    maintenance_poll: float
    windows: tuple[Maintenance, ...] = ()  # the config's, announced `announce_ahead` before
    announce_ahead: float = 0.0

    @property
    def route(self) -> Route:
        publisher = self.provider.name if self.provider is not None else None
        return Route(publisher, frozenset(self.targets))


def prepare(
    config: Config, *, dry_run: bool, environ: Mapping[str, str], redactor: Redactor
) -> PublishSetup:
    """Raises ConfigError when the publisher cannot be set up (no API key, say). Its API key
    joins the redactor's secrets."""
    settings = replace(config.publisher, type="log") if dry_run else config.publisher
    limiter = RateLimiter(settings.rate_limit)
    key = None
    if needs_key(settings):
        key = read_api_key(settings, environ, path=config.path)
        redactor.add([key])
    provider = make_provider(settings, key, config.path, limiter)
    return PublishSetup(
        provider,
        limiter,
        Planner(settings.monitoring_for, templates_from(settings), notify_from(settings)),
        publish_targets(config.components, provider.name if provider is not None else None),
        settings.maintenance_poll,
        config.maintenance,
        settings.announce_ahead,
    )


class PageMaintenance:
    """The components the page shows under maintenance, read every `poll` seconds and handed to
    `on_read`. A page that cannot be read changes nothing (the delivery reports the page)."""

    def __init__(
        self,
        provider: Provider,
        targets: Mapping[str, Target],
        on_read: Callable[[set[str]], None],
        poll: float,
    ) -> None:
        self.provider = provider
        self.by_remote = {target.remote_id: cid for cid, target in targets.items()}
        self.on_read = on_read
        self.poll = poll

    async def read(self) -> None:
        try:
            ids = await self.provider.active_maintenance()
        except PublishError as exc:
            log.debug("cannot read the page's maintenance: %s", exc)
        else:
            self.on_read({self.by_remote[i] for i in ids if i in self.by_remote})

    async def run(self) -> None:
        """Read every `poll` seconds until cancelled."""
        while True:
            await asyncio.sleep(self.poll)
            await self.read()


async def publish(delivery: Delivery, maintenance: PageMaintenance | None) -> None:
    """Reconcile with the page, read its maintenance, then deliver and poll until cancelled."""
    await delivery.reconcile()
    if maintenance is None:
        await delivery.deliver()
        return
    await maintenance.read()
    poller = asyncio.create_task(maintenance.run(), name="page-maintenance")
    try:
        await delivery.deliver()
    finally:
        poller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await poller


class Publishing:
    """The daemon's publisher: started with a config's `PublishSetup`, stopped before a reload
    and started again with the new one. Nothing runs for `type = "none"`.

    `ledger` keeps the outbox and what the page shows (monitor.ledger); `current` gives a
    component's status now (for reconcile); `on_maintenance` hears each reading of the page's
    maintenance (none with `maintenance_poll = 0`); the request outcomes and the queue depth go
    to `metrics`."""

    def __init__(
        self,
        ledger: Ledger,
        metrics: Metrics,
        *,
        current: Callable[[str], ComponentStatus],
        on_maintenance: Callable[[set[str]], None],
        clock: Callable[[], float],
    ) -> None:
        self.ledger, self.metrics, self.clock = ledger, metrics, clock
        self.current, self.on_maintenance = current, on_maintenance
        self.delivery: Delivery | None = None  # while it runs
        self._task: asyncio.Task[None] | None = None

    def start(self, setup: PublishSetup) -> None:
        provider = setup.provider
        if provider is None:
            return
        name = provider.name
        for outcome in ("ok", "retry", "error"):  # every series exists from the start, at 0
            self.metrics.publish_requests.labels(name, outcome)

        def on_request(outcome: str) -> None:
            self.metrics.publish_requests.labels(name, outcome).inc()

        announcer = None
        if setup.announce_ahead > 0 and can_announce(provider):
            announcer = Announcer(
                provider,  # type: ignore[arg-type]  # can_announce saw to it
                self.ledger,
                name,
                setup.windows,
                setup.targets,
                setup.announce_ahead,
            )
        delivery = self.delivery = Delivery(
            provider,
            setup.limiter,
            self.ledger,
            setup.targets,
            setup.planner,
            current=self.current,
            on_request=on_request,
            clock=self.clock,
            announcer=announcer,
        )
        self.metrics.publish_queue.labels(name).set_function(lambda: delivery.queue_depth)
        maintenance = None
        if setup.maintenance_poll > 0:
            maintenance = PageMaintenance(
                provider, setup.targets, self.on_maintenance, setup.maintenance_poll
            )
        self._task = asyncio.create_task(publish(delivery, maintenance), name="delivery")

    @property
    def running(self) -> bool:
        """Whether the delivery task is alive (it ends only when cancelled, or on an error
        that is not the page's: a lost lease in cluster mode)."""
        return self._task is not None and not self._task.done()

    def wake(self) -> None:
        """New entries are in the outbox."""
        if self.delivery is not None:
            self.delivery.wake()

    async def stop(self) -> None:
        """Cancel the delivery where it stands (every entry stays in the outbox) and close the
        provider's connections."""
        if self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception as exc:  # it had ended on it (cluster mode: a lost lease)
                log.debug("delivery had stopped: %s", exc)
        if self.delivery is not None:
            await self.delivery.provider.close()
            self.delivery = None
