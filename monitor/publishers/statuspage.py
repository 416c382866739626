"""Atlassian Statuspage v1: component status and incidents, one request at a time through the
shared limiter (1 a second per key by default).

What the API asks of us, and what we chose:

- `components` on an incident is a MAP of component id to new status; `component_ids` lists them.
- Metadata `{"monitor": {"component", "key"}}` makes our incidents findable after a restart, so a
  crash between "created on the page" and "id saved" never leads to a duplicate.
- A backfilled (historical) incident cannot carry components: it is sent resolved, without them.
  The spec types `backfill_date` as a plain "TimeStamp" string; we send RFC 3339 UTC, the form of
  every other timestamp in the API.
- An update does not send `name` or `metadata`: the title stays what subscribers first saw (and
  what an operator may have edited it to); each update's body says what changed.
- Lists are always paginated (unpaginated component lists are limited to one a minute).
- The API key is in one header only and is scrubbed from every message we make.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

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

DEFAULT_URL = "https://api.statuspage.io/v1"
PER_PAGE = 100  # the API's maximum
MAX_NAME = 255
MAX_BODY = 25_000


def _make(settings: PublisherSettings, api_key: str, limiter: RateLimiter) -> StatuspageProvider:
    assert settings.url is not None and settings.page_id is not None  # the config saw to both
    return StatuspageProvider(
        settings.url, settings.page_id, api_key, limiter, timeout=settings.timeout
    )


SPEC = ProviderSpec(
    name="statuspage",
    title="Statuspage",
    make=_make,
    default_url=DEFAULT_URL,
    page_id=True,
)


def _page_message(text: str) -> str:
    """The page's own words: JSON `message` or `error` (a string or a list), else the text."""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        for key in ("message", "error", "errors"):
            value = data.get(key)
            if isinstance(value, list):
                value = "; ".join(map(str, value))
            if value:
                return clip(str(value), MAX_MESSAGE)
    return clip(" ".join(text.split()), MAX_MESSAGE) or "(empty response)"


def _rfc3339(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _remote_incident(data: Mapping[str, Any]) -> RemoteIncident:
    metadata = data.get("metadata")
    ours = metadata.get("monitor") if isinstance(metadata, dict) else None
    ours = ours if isinstance(ours, dict) else {}
    component, key = ours.get("component"), ours.get("key")
    return RemoteIncident(
        id=str(data["id"]),
        name=str(data.get("name") or ""),
        status=str(data.get("status") or ""),
        component=component if isinstance(component, str) else None,
        key=key if isinstance(key, str) else None,
    )


class StatuspageProvider:
    """Statuspage's API as the delivery worker needs it. Raises base.py's typed errors; never
    retries. Create it anywhere; it opens its HTTP session in the loop of its first call, so
    use it from one event loop and `close()` it there."""

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
            raise ValueError("the Statuspage API key contains control characters")
        self._client = ApiClient(
            self.name,
            f"{url.rstrip('/')}/pages/{quote(page_id, safe='')}",
            {"Authorization": f"OAuth {api_key}", "Accept": "application/json"},
            api_key,
            limiter,
            timeout,
            _page_message,
        )

    # -- the calls -------------------------------------------------------------------------

    async def create_incident(self, request: IncidentRequest) -> str:
        incident: dict[str, Any] = {
            "name": clip(request.name, MAX_NAME),
            "status": request.status.value,
            "body": clip(request.body, MAX_BODY),
            "impact_override": request.impact.value,
            "deliver_notifications": request.notify,
            "metadata": {"monitor": {"component": request.component, "key": request.key}},
        }
        if request.backfill_date is None:
            incident |= self._components(request)
        else:  # the API refuses components on a historical incident
            incident |= {
                "status": "resolved",
                "backfilled": True,
                "backfill_date": _rfc3339(request.backfill_date),
            }
        data = await self._client.call("POST", "/incidents", json={"incident": incident})
        if not isinstance(data, dict) or not data.get("id"):
            raise Transient("statuspage: POST /incidents: the answer has no incident id")
        return str(data["id"])

    async def update_incident(self, incident_id: str, request: IncidentRequest) -> None:
        incident: dict[str, Any] = {
            "status": request.status.value,
            "body": clip(request.body, MAX_BODY),
            "impact_override": request.impact.value,
            "deliver_notifications": request.notify,
            **self._components(request),
        }
        path = f"/incidents/{quote(incident_id, safe='')}"
        await self._client.call("PATCH", path, json={"incident": incident})

    async def set_component(self, remote_id: str, status: Status) -> None:
        body = {"component": {"status": status.value}}
        await self._client.call("PATCH", f"/components/{quote(remote_id, safe='')}", json=body)

    async def unresolved_incidents(self) -> list[RemoteIncident]:
        return [_remote_incident(item) for item in await self._all("/incidents/unresolved")]

    async def get_incident(self, incident_id: str) -> RemoteIncident:
        data = await self._client.call("GET", f"/incidents/{quote(incident_id, safe='')}")
        if not isinstance(data, dict) or "id" not in data:
            raise Transient("statuspage: GET /incidents/…: the answer is not an incident")
        return _remote_incident(data)

    async def components(self) -> list[RemoteComponent]:
        items = await self._all("/components")
        groups = {str(c["id"]): str(c.get("name") or "") for c in items if c.get("group")}
        return [
            RemoteComponent(
                id=str(c["id"]),
                name=str(c.get("name") or ""),
                status=str(c.get("status") or ""),
                group=groups.get(str(c.get("group_id"))) if c.get("group_id") else None,
                is_group=bool(c.get("group")),
            )
            for c in items
        ]

    async def active_maintenance(self) -> set[str]:
        return {
            str(component["id"])
            for incident in await self._all("/incidents/active_maintenance")
            for component in incident.get("components") or ()
            if isinstance(component, dict) and component.get("id")
        }

    async def create_maintenance(self, announcement: Announcement) -> str:
        incident = {"status": "scheduled", **self._maintenance(announcement)}
        data = await self._client.call("POST", "/incidents", json={"incident": incident})
        if not isinstance(data, dict) or not data.get("id"):
            raise Transient("statuspage: POST /incidents: the answer has no incident id")
        return str(data["id"])

    async def update_maintenance(self, page_id: str, announcement: Announcement) -> None:
        path = f"/incidents/{quote(page_id, safe='')}"
        await self._client.call("PATCH", path, json={"incident": self._maintenance(announcement)})

    async def cancel_maintenance(self, page_id: str) -> None:
        await self._client.call("DELETE", f"/incidents/{quote(page_id, safe='')}")

    async def announced_maintenance(self) -> list[tuple[str, str]]:
        found = []
        for item in await self._all("/incidents/upcoming"):
            metadata = item.get("metadata")
            ours = metadata.get("monitor") if isinstance(metadata, dict) else None
            key = ours.get("maintenance") if isinstance(ours, dict) else None
            if isinstance(key, str) and item.get("id"):
                found.append((str(item["id"]), key))
        return found

    async def close(self) -> None:
        await self._client.close()

    # -- plumbing --------------------------------------------------------------------------

    @staticmethod
    def _maintenance(announcement: Announcement) -> dict[str, Any]:
        """A scheduled incident's fields. No `components` map: the page sets the components
        under maintenance itself when it starts (scheduled_auto_in_progress)."""
        return {
            "name": clip(announcement.title, MAX_NAME),
            "body": clip(announcement.message, MAX_BODY),
            "scheduled_for": _rfc3339(announcement.start),
            "scheduled_until": _rfc3339(announcement.end),
            "component_ids": list(announcement.remote_ids),
            "scheduled_remind_prior": announcement.remind,
            "scheduled_auto_in_progress": announcement.auto_start,
            "scheduled_auto_completed": announcement.auto_complete,
            "metadata": {"monitor": {"maintenance": announcement.key}},
        }

    @staticmethod
    def _components(request: IncidentRequest) -> dict[str, Any]:
        return {
            "components": {request.remote_component: request.component_status.value},
            "component_ids": [request.remote_component],
        }

    async def _all(self, path: str) -> list[dict[str, Any]]:
        """Every item of a paginated list (see `ApiClient.pages`)."""
        return await self._client.pages(path, per_page=PER_PAGE)


__all__ = ["DEFAULT_URL", "SPEC", "StatuspageProvider"]
