"""Instatus (API v1 paths of the 2.0 spec): component status and incidents, one request at a
time through the shared limiter. Instatus documents no rate limit; the limiter is ours.

What the API asks of us, and what we chose:

- Values are upper case (MAJOROUTAGE, INVESTIGATING); we map ours to them, and map the page's
  back to ours in what we return (`RemoteIncident.status` "monitoring", `RemoteComponent.status`
  "major_outage"), since the delivery worker compares those with our values.
- An incident lists its `components` (ids) and their new `statuses` ([{id, status}], every id in
  both). Instatus has no impact field: the component statuses say how bad it is.
- Updates are `POST .../incidents/{id}/incident-updates`, with status, components and statuses
  every time. Resolving needs every component OPERATIONAL; when ours must end elsewhere (under
  maintenance), the resolve is followed by a component PUT (whose retry does not resolve twice).
- A live incident gets no `started`: the page uses the time of the create.
- No metadata on incidents. Our incidents are found after a crash by a marker on the last line
  of their first message, `[monitor:<key>]` (our key is "<component>:<start ms>", so it reads
  `[monitor:payment-api:1767225600000]`; a key of another shape gives `[monitor:<component>]`).
  Subscribers see it as a reference number; an operator who deletes it makes the incident theirs.
- A backfilled incident is created in one call, already RESOLVED, with `started` = when the
  outage began (the spec allows both on a create). It lists our component, set OPERATIONAL;
  when the outage ended elsewhere (under maintenance) it lists none, and the worker's next
  component action sets the status. The page records it as resolved when we published it.
- Lists are paginated (100 a page, the maximum). Page maintenances are read from the
  maintenances list (INPROGRESS), never from component statuses, which we set ourselves.
- The API key is in one header only and is scrubbed from every message we make.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from monitor.incidents import IncidentStatus
from monitor.model import PublisherSettings
from monitor.publishers.base import (
    Announcement,
    IncidentRequest,
    RateLimiter,
    RemoteComponent,
    RemoteIncident,
    Transient,
)
from monitor.publishers.client import MAX_MESSAGE, ApiClient, clip
from monitor.publishers.spec import ProviderSpec
from monitor.state import Status

DEFAULT_URL = "https://api.instatus.com"
PER_PAGE = 100  # the API's maximum
UNRESOLVED = "INVESTIGATING,IDENTIFIED,MONITORING"


def _make(settings: PublisherSettings, api_key: str, limiter: RateLimiter) -> InstatusProvider:
    assert settings.url is not None and settings.page_id is not None  # the config saw to both
    return InstatusProvider(
        settings.url, settings.page_id, api_key, limiter, timeout=settings.timeout
    )


SPEC = ProviderSpec(
    name="instatus",
    title="Instatus",
    make=_make,
    default_url=DEFAULT_URL,
    page_id=True,
)

COMPONENT_STATUS = {
    Status.OPERATIONAL: "OPERATIONAL",
    Status.DEGRADED_PERFORMANCE: "DEGRADEDPERFORMANCE",
    Status.PARTIAL_OUTAGE: "PARTIALOUTAGE",
    Status.MAJOR_OUTAGE: "MAJOROUTAGE",
    Status.UNDER_MAINTENANCE: "UNDERMAINTENANCE",
}
OUR_STATUS = {theirs: ours.value for ours, theirs in COMPONENT_STATUS.items()}
INCIDENT_STATUS = {status: status.value.upper() for status in IncidentStatus}

_MARKER = re.compile(r"\[monitor:([a-z0-9]+(?:-[a-z0-9]+)*)(?::([^\]\s]+))?\]")


def marker(component: str, key: str) -> str:
    """What we append to an incident's first message to find it again."""
    prefix = f"{component}:"
    return f"[monitor:{key}]" if key.startswith(prefix) else f"[monitor:{component}]"


def _ours(data: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """Our component id and key, from the marker in any of the incident's messages."""
    for update in data.get("updates") or ():
        message = update.get("message") if isinstance(update, dict) else None
        found = _MARKER.search(message) if isinstance(message, str) else None
        if found is not None:
            component, tail = found[1], found[2]
            return component, f"{component}:{tail}" if tail else None
    return None, None


_MAINTENANCE_MARKER = re.compile(r"\[monitor-maintenance:([^\]\s]+)\]")


def _maintenance_key(data: Mapping[str, Any]) -> str | None:
    """Our marker of an announced maintenance, from its latest message that has one."""
    key = None
    for update in data.get("updates") or ():
        message = update.get("message") if isinstance(update, dict) else None
        found = _MAINTENANCE_MARKER.search(message) if isinstance(message, str) else None
        if found is not None:
            key = found[1]
    return key


def _remote_incident(data: Mapping[str, Any]) -> RemoteIncident:
    component, key = _ours(data)
    return RemoteIncident(
        id=str(data["id"]),
        name=str(data.get("name") or ""),
        status=str(data.get("status") or "").lower(),
        component=component,
        key=key,
    )


def _group_name(component: Mapping[str, Any], names: Mapping[str, str]) -> str | None:
    """The name of the component's parent: `group` is the parent itself, `groupId` its id."""
    group = component.get("group")
    group = group if isinstance(group, dict) else {}
    group_id = str(component.get("groupId") or group.get("id") or "")
    if not group_id:
        return None
    return names.get(group_id) or str(group.get("name") or "") or None


def _page_message(text: str) -> str:
    """The page's own words: `{"error": {"code", "message"}}`, else the text."""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and (error.get("message") or error.get("code")):
        code = f" ({error['code']})" if error.get("code") else ""
        words = f"{error.get('message') or ''}{code}".strip()
    elif isinstance(error, str) and error:
        words = error
    else:
        words = " ".join(text.split()) or "(empty response)"
    return clip(words, MAX_MESSAGE)


def _rfc3339(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class InstatusProvider:
    """Instatus's API as the delivery worker needs it. Raises base.py's typed errors; never
    retries. Opens its HTTP session in the loop of its first call: use it from one event loop
    and `close()` it there."""

    spec = SPEC
    name = SPEC.name

    def __init__(
        self,
        url: str,
        page_id: str,
        api_key: str,
        limiter: RateLimiter,
        *,
        timeout: float = 10.0,
    ) -> None:
        api_key = api_key.strip()
        if not api_key.isprintable():  # aiohttp would refuse the header, quoting it
            raise ValueError("the Instatus API key contains control characters")
        self._client = ApiClient(
            self.name,
            f"{url.rstrip('/')}/v1/{quote(page_id, safe='')}",
            {"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
            api_key,
            limiter,
            timeout,
            _page_message,
        )
        self._resolved: set[str] = set()  # resolve posted, the component PUT after it not yet

    # -- the calls -------------------------------------------------------------------------

    async def create_incident(self, request: IncidentRequest) -> str:
        body: dict[str, Any] = {
            "name": request.name,
            "message": f"{request.body}\n\n{marker(request.component, request.key)}",
            "status": INCIDENT_STATUS[request.status],
            "notify": request.notify,
            **self._statuses(request.remote_component, request.component_status),
        }
        if request.backfill_date is not None:
            body |= {"status": "RESOLVED", "started": _rfc3339(request.backfill_date)}
            if request.component_status is not Status.OPERATIONAL:  # a resolve needs OPERATIONAL
                del body["components"], body["statuses"]  # so leave the component alone
        data = await self._client.call("POST", "/incidents", json=body)
        if not isinstance(data, dict) or not data.get("id"):
            raise Transient("instatus: POST /incidents: the answer has no incident id")
        return str(data["id"])

    async def update_incident(self, incident_id: str, request: IncidentRequest) -> None:
        resolve = request.status is IncidentStatus.RESOLVED
        status = Status.OPERATIONAL if resolve else request.component_status
        again = resolve and incident_id in self._resolved
        self._resolved.discard(incident_id)
        if not again:
            body = {
                "message": request.body,
                "status": INCIDENT_STATUS[request.status],
                "notify": request.notify,
                **self._statuses(request.remote_component, status),
            }
            path = f"/incidents/{quote(incident_id, safe='')}/incident-updates"
            await self._client.call("POST", path, json=body)
        if status is not request.component_status:  # resolved into, say, maintenance
            self._resolved.add(incident_id)  # a retry sends only the PUT, not a second resolve
            await self.set_component(request.remote_component, request.component_status)
        self._resolved.discard(incident_id)

    async def set_component(self, remote_id: str, status: Status) -> None:
        path = f"/components/{quote(remote_id, safe='')}"
        await self._client.call("PUT", path, json={"status": COMPONENT_STATUS[status]})

    async def unresolved_incidents(self) -> list[RemoteIncident]:
        items = await self._all("/incidents", {"status": UNRESOLVED})
        found = [_remote_incident(item) for item in items]
        return [i for i in found if i.status != "resolved"]  # should the filter be ignored

    async def get_incident(self, incident_id: str) -> RemoteIncident:
        data = await self._client.call("GET", f"/incidents/{quote(incident_id, safe='')}")
        if not isinstance(data, dict) or "id" not in data:
            raise Transient("instatus: GET /incidents/…: the answer is not an incident")
        return _remote_incident(data)

    async def components(self) -> list[RemoteComponent]:
        items = await self._all("/components")
        names = {str(c["id"]): str(c.get("name") or "") for c in items}
        parents = {str(c["groupId"]) for c in items if c.get("groupId")}
        return [
            RemoteComponent(
                id=str(c["id"]),
                name=str(c.get("name") or ""),
                status=OUR_STATUS.get(str(c.get("status")), str(c.get("status") or "")),
                group=_group_name(c, names),
                is_group=bool(c.get("isParent")) or str(c["id"]) in parents,
            )
            for c in items
        ]

    async def active_maintenance(self) -> set[str]:
        return {
            str(component["id"])
            for maintenance in await self._all("/maintenances")
            if maintenance.get("status") == "INPROGRESS"
            for component in maintenance.get("components") or ()
            if isinstance(component, dict) and component.get("id")
        }

    async def create_maintenance(self, announcement: Announcement) -> str:
        body = self._maintenance(announcement) | {
            "notifyStart": True,
            "notifyEnd": True,
            "notifyEarly": announcement.remind,
        }
        data = await self._client.call("POST", "/maintenances", json=body)
        if not isinstance(data, dict) or not data.get("id"):
            raise Transient("instatus: POST /maintenances: the answer has no maintenance id")
        return str(data["id"])

    async def update_maintenance(self, page_id: str, announcement: Announcement) -> None:
        body = self._maintenance(announcement) | {
            "statuses": [{"id": c, "status": "OPERATIONAL"} for c in announcement.remote_ids],
            "duration": round((announcement.end - announcement.start) / 60),
        }
        await self._client.call("PUT", f"/maintenances/{quote(page_id, safe='')}", json=body)

    async def cancel_maintenance(self, page_id: str) -> None:
        await self._client.call("DELETE", f"/maintenances/{quote(page_id, safe='')}")

    async def announced_maintenance(self) -> list[tuple[str, str]]:
        return [
            (str(item["id"]), key)
            for item in await self._all("/maintenances")
            if item.get("status") == "NOTSTARTEDYET" and item.get("id")
            if (key := _maintenance_key(item)) is not None
        ]

    async def close(self) -> None:
        await self._client.close()

    # -- plumbing --------------------------------------------------------------------------

    @staticmethod
    def _maintenance(announcement: Announcement) -> dict[str, Any]:
        """A maintenance not started yet; our marker ends its message."""
        return {
            "name": announcement.title,
            "message": f"{announcement.message}\n\n[monitor-maintenance:{announcement.key}]",
            "components": list(announcement.remote_ids),
            "start": _rfc3339(announcement.start),
            "end": _rfc3339(announcement.end),
            "status": "NOTSTARTEDYET",
            "notify": True,
            "autoStart": announcement.auto_start,
            "autoEnd": announcement.auto_complete,
        }

    @staticmethod
    def _statuses(remote_id: str, status: Status) -> dict[str, Any]:
        return {
            "components": [remote_id],
            "statuses": [{"id": remote_id, "status": COMPONENT_STATUS[status]}],
        }

    async def _all(
        self, path: str, params: Mapping[str, str | int] | None = None
    ) -> list[dict[str, Any]]:
        """Every item of a paginated list (see `ApiClient.pages`)."""
        return await self._client.pages(path, params, per_page=PER_PAGE)


__all__ = ["DEFAULT_URL", "SPEC", "InstatusProvider", "marker"]
