"""The recording stage at run time: feeds the engine, hands what it decides to the writer as one
transaction per cause (the pure `recorder.record`), and says each change in the log and to the
publisher. Everything that moves a status goes through here: a probe's result, a maintenance
window, a restart's saved state, a reload.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

from monitor.engine import Change, StatusEngine
from monitor.model import Component, ProbeResult
from monitor.recorder import Route, Write, log_changes, record, snapshot
from monitor.state import Status
from monitor.store import load_statuses
from monitor.writer import Writer

log = logging.getLogger("monitor")

Active = Callable[[str, float], str | None]
"""active(component id, at): the description of the maintenance window it is in, or None."""


class Recording:
    """`route` says where component changes are published; `wake` tells the publisher that
    the outbox has news. With `components` False (a node of a cluster, where the leader judges
    components from every node's checks) only the checks' changes are recorded here."""

    def __init__(
        self,
        engine: StatusEngine,
        writer: Writer,
        route: Route,
        wake: Callable[[], None],
        *,
        components: bool = True,
    ) -> None:
        self.engine, self.writer, self.route, self.wake = engine, writer, route, wake
        self.components = components

    def observe(self, key: str, check_id: int, at: float, result: ProbeResult, now: float) -> None:
        """A probe of `key` that started at `at`, taken at `now`."""
        engine = self.engine
        changes = self._ours(engine.observe(key, result, now))
        self.writer.submit(record(changes, self.route, (check_id, at, result, engine.checks[key])))
        if changes:
            self._said(changes)

    def maintenance(self, components: Sequence[Component], active: Active, now: float) -> None:
        """Enter or leave maintenance: `active` gives a component's window at `now`, or None."""
        changes = [
            change
            for c in components
            for change in self.engine.set_maintenance(c.id, active(c.id, now), now)
        ]
        if changes and self.components:
            self._commit([], changes)

    async def restore(
        self,
        components: Sequence[Component],
        ids: Mapping[str, int],
        active: Active,
        now: float,
    ) -> None:
        """Start from the saved states of the checks (`ids`: key -> row id) and components, in
        the windows `active` gives, and re-judge every component: a restart neither forgets an
        outage nor invents one."""
        by_id, statuses = await self.writer.acall(load_statuses)
        saved = {key: by_id[id_] for key, id_ in ids.items() if id_ in by_id}
        self.engine = StatusEngine(components, now, saved, statuses)
        for component in components:
            self.engine.maintenance[component.id] = active(component.id, now)
        self._commit(self._snapshot(), self._ours(self.engine.judge_all(now)))
        if saved:
            judged = self.engine.statuses.items()
            bad = {c: s.status.value for c, s in judged if s.status is not Status.OPERATIONAL}
            log.info(
                "restored the state of %d checks; not operational: %s", len(saved), bad or "none"
            )

    def reconfigure(self, components: Sequence[Component], now: float) -> list[Change]:
        """A reload's components: checks and components that stay keep their state. The
        changes are recorded by `reloaded`, once the publisher is the new one."""
        return self.engine.reconfigure(components, now)

    def reloaded(self, changes: list[Change], route: Route) -> None:
        """Record a reload's changes, published where the new config says."""
        self.route = route
        self._commit(self._snapshot(), self._ours(changes))

    def _ours(self, changes: list[Change]) -> list[Change]:
        """The changes this daemon records: all of them, or only its checks' in a cluster."""
        return changes if self.components else [c for c in changes if c.check is not None]

    def _snapshot(self) -> list[Write]:
        return snapshot(self.engine.statuses) if self.components else []

    def _commit(self, writes: list[Write], changes: list[Change]) -> None:
        self.writer.submit(writes + record(changes, self.route))
        self._said(changes)

    def _said(self, changes: list[Change]) -> None:
        log_changes(changes)
        if self.route.publishes(changes):
            self.wake()
