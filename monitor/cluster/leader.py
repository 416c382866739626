"""The leader's work, run by the node holding the lease and cancelled the moment it does not.

It first waits out a request timeout (the last leader may have had a request to the page in
flight when its lease ran out), then starts from the state the last leader left in PostgreSQL,
and every tick: reads the live nodes' reports, decides each check's state (votes.py), judges
the components with the same engine and rules as a single daemon, and writes what changed (the
check states, the transitions, the component statuses, the outbox entries) in one fenced
transaction. Publishing is the single daemon's, over the shared ledger, with every request to
the page gated on the lease outliving it: reconcile with the page first (adopting an incident
the last leader opened but did not record), then deliver.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from monitor.cluster import shared
from monitor.cluster.lease import Lease
from monitor.cluster.ledger import PgLedger
from monitor.cluster.votes import Decision, decide_all
from monitor.engine import Change, StatusEngine
from monitor.maintenance import MaintenanceCalendar
from monitor.metrics import Metrics
from monitor.model import Config
from monitor.publishers.base import Transient
from monitor.publishing import Publishing, PublishSetup
from monitor.recorder import log_changes
from monitor.state import CheckState, CheckStatus
from monitor.windows import Windows

if TYPE_CHECKING:
    import asyncpg

log = logging.getLogger("monitor.cluster")

FORGET_AFTER = 86_400.0  # seconds: a node silent this long is dropped (at each change of leader)


class Leader:
    def __init__(
        self,
        pool: asyncpg.Pool,
        lease: Lease,
        *,
        config: Callable[[], Config],
        prepare: Callable[[Config], PublishSetup],
        metrics: Metrics,
        tick: float,
        live_within: float,
        clock: Callable[[], float],
    ) -> None:
        self.pool, self.lease, self.epoch = pool, lease, lease.epoch
        self.config_of, self.prepare = config, prepare
        self.metrics, self.tick, self.live_within, self.clock = metrics, tick, live_within, clock
        self.engine: StatusEngine | None = None
        self.publishing: Publishing | None = None
        self.windows = Windows(MaintenanceCalendar(config().maintenance))
        self._reports = shared.Reports()
        self._lost: list[str] = []  # checks without a quorum, as last said
        cluster = config().cluster
        self.stale_after = cluster.stale_after if cluster is not None else None
        self._reconfigure = asyncio.Event()

    def reconfigure(self) -> None:
        """A reload: take the new config at the next tick."""
        self._reconfigure.set()

    async def run(self, *, wait: bool) -> None:
        config = self.config_of()
        timeout = config.publisher.timeout
        if wait:
            log.info("waiting %.1f s for requests the last leader may have had in flight", timeout)
            await asyncio.sleep(timeout)
        async with self.pool.acquire() as conn:
            checks, statuses = await shared.restore(conn)
            gone = await shared.forget_nodes(conn, self.lease, FORGET_AFTER)
        if gone:
            log.info("forgot %s: not heard from for a day", ", ".join(gone))
        now = self.clock()
        engine = self.engine = StatusEngine(config.components, now, checks, statuses)
        self._maintenance(engine, config, now)
        changes = engine.judge_all(now)
        setup = self._setup(config)
        async with self.pool.acquire() as conn:
            await shared.record(
                conn,
                self.lease,
                changes,
                setup.route,
                checks=engine.checks.items(),
                statuses=engine.statuses.items(),
            )
        log_changes(changes)
        try:
            while True:
                if self.publishing is None or not self.publishing.running:
                    await self._publish(setup)
                await self._judge(config, setup)
                try:
                    async with asyncio.timeout(self.tick):
                        await self._reconfigure.wait()
                except TimeoutError:
                    continue
                self._reconfigure.clear()
                config = self.config_of()
                setup = await self._restart(config)
        finally:
            if self.publishing is not None:
                await self.publishing.stop()

    def _setup(self, config: Config) -> PublishSetup:
        setup = self.prepare(config)
        timeout = config.publisher.timeout

        def gate() -> None:  # no request to the page unless the lease outlives it
            if self.lease.remaining() <= timeout:
                raise Transient(
                    f"not sending: the lease (epoch {self.lease.epoch}) may end within the "
                    f"request's timeout ({timeout:g} s)"
                )

        setup.limiter.gate = gate
        setup.limiter.headers["X-Monitor-Node"] = self.lease.node
        return setup

    async def _publish(self, setup: PublishSetup) -> None:
        """Start publishing; again if it ended (an error that is not the page's is logged)."""
        assert self.engine is not None
        engine = self.engine
        if self.publishing is not None:
            await self.publishing.stop()
        self.publishing = Publishing(
            PgLedger(self.pool, self.lease),
            self.metrics,
            current=lambda component: engine.statuses[component],
            on_maintenance=self._on_page_maintenance,
            clock=self.clock,
        )
        self.publishing.start(setup)

    async def _restart(self, config: Config) -> PublishSetup:
        assert self.engine is not None
        if self.publishing is not None:
            await self.publishing.stop()
            self.publishing = None
        now = self.clock()
        changes = self.engine.reconfigure(config.components, now)
        self.windows.calendar = MaintenanceCalendar(config.maintenance)
        setup = self._setup(config)
        async with self.pool.acquire() as conn:
            await shared.record(
                conn,
                self.lease,
                changes,
                setup.route,
                checks=self.engine.checks.items(),
                statuses=self.engine.statuses.items(),
            )
        log_changes(changes)
        return setup

    def _on_page_maintenance(self, components: set[str]) -> None:
        self.windows.read_page(components)

    def _maintenance(self, engine: StatusEngine, config: Config, now: float) -> list[Change]:
        return [
            change
            for c in config.components
            for change in engine.set_maintenance(c.id, self.windows.active(c.id, now), now)
        ]

    async def _judge(self, config: Config, setup: PublishSetup) -> None:
        assert self.engine is not None
        engine = self.engine
        async with self.pool.acquire() as conn:
            reports = await self._reports.load(conn, self.live_within)
        now = self.clock()
        decisions = decide_all(reports, config.components, now=now, stale_after=self.stale_after)
        states = {key: _said(d) for key, d in decisions.items() if d.status is not None}
        why = {key: d.reason for key, d in decisions.items()}
        lost = sorted(key for key, d in decisions.items() if d.quorum_lost)
        if lost != self._lost:
            if lost:
                log.warning("no quorum of fresh locations, holding their state: %s", lost)
            self._lost = lost
        changes = engine.set_checks(states, now, why)
        changes += self._maintenance(engine, config, now)
        if not changes:
            return
        changed_checks = [(c.check, engine.checks[c.check]) for c in changes if c.check]
        async with self.pool.acquire() as conn:
            await shared.record(conn, self.lease, changes, setup.route, checks=changed_checks)
        log_changes(changes)
        if self.publishing is not None and setup.route.publishes(changes):
            self.publishing.wake()


def _said(decision: Decision) -> CheckStatus:
    """The decided state, its last error naming the locations when there are several (the
    component's reason quotes it: "healthz down: timeout (down from eu-west, us-east; ...)")."""
    status = decision.status
    assert status is not None
    if len(decision.votes) < 2 or status.state is CheckState.UP:
        return status
    said = f"{status.last_error} ({decision.reason})" if status.last_error else decision.reason
    return replace(status, last_error=said)
