"""The `log` publisher: says what would be sent, sends nothing. `monitor run --dry-run` uses it."""

from __future__ import annotations

import itertools
import logging

from monitor.incidents import IncidentRequest, RemoteComponent, RemoteIncident
from monitor.model import PublisherSettings
from monitor.publishers.base import RateLimiter
from monitor.publishers.spec import ProviderSpec
from monitor.state import Status

log = logging.getLogger("monitor.publish")


def _make(settings: PublisherSettings, api_key: str, limiter: RateLimiter) -> LogProvider:
    return LogProvider()


SPEC = ProviderSpec(
    name="log",
    title="the log",
    make=_make,
    needs_key=False,
    remote=False,  # every component, and it says "would create ..." itself
    can_import=False,
)


class LogProvider:
    spec = SPEC
    name = SPEC.name

    def __init__(self) -> None:
        self._ids = itertools.count(1)

    async def create_incident(self, request: IncidentRequest) -> str:
        incident_id = f"log-{next(self._ids)}"
        kind = "backfilled incident" if request.backfill_date is not None else "incident"
        log.info(
            "would create %s %s for %s: %r, %s, impact %s, component %s; %s",
            kind,
            incident_id,
            request.component,
            request.name,
            request.status,
            request.impact,
            request.component_status,
            request.body,
        )
        return incident_id

    async def update_incident(self, incident_id: str, request: IncidentRequest) -> None:
        log.info(
            "would update incident %s for %s: %s, component %s; %s",
            incident_id,
            request.component,
            request.status,
            request.component_status,
            request.body,
        )

    async def set_component(self, remote_id: str, status: Status) -> None:
        log.info("would set component %s to %s", remote_id, status)

    async def unresolved_incidents(self) -> list[RemoteIncident]:
        return []

    async def get_incident(self, incident_id: str) -> RemoteIncident:
        return RemoteIncident(incident_id, "", "resolved", None, None)

    async def components(self) -> list[RemoteComponent]:
        return []

    async def active_maintenance(self) -> set[str]:
        return set()

    async def close(self) -> None:
        return None
