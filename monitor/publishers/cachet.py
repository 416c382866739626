"""Cachet 2.x (`/api/v1`, header `X-Cachet-Token`): component status and incidents, one request
at a time through the shared limiter.

What the API asks of us, and what we chose:

- Statuses are numbers: components 1-4 (operational .. major outage), incidents 1-4
  (investigating, identified, watching, fixed). We report them back in our words, so the delivery
  worker sees "monitoring" for watching and "resolved" for fixed.
- 2.x has no maintenance status for a component (maintenance is a `/schedules` entry): we set
  `under_maintenance` as 1 operational, as the planner ranks them (no problem of ours to show),
  and the page's schedule shows the maintenance. `active_maintenance()` reads the schedules in
  progress (`status` 1) and their components.
- Incidents carry no metadata. Our incidents end their first message with a CommonMark link
  reference definition, `[monitor]: # (<component> <key>)` (both percent-encoded), which renders
  as nothing on the page; `unresolved_incidents()` and `get_incident()` read it back, so a crash
  between "created on the page" and "id saved" never leads to a duplicate.
- `notify` (`[publisher] notify`, decided by the planner) goes on the create only: 2.x takes no
  flag on an update, and tells the subscribers of every update of a visible incident itself.
- `component_id` and `component_status` always travel together. An update is two requests:
  `PUT /components/{id}` first (idempotent, so a retry after a failed second request repeats
  nothing visible), then `POST /incidents/{id}/updates`.
- A backfilled incident is created fixed (4), with `occurred_at` = when it began, without a
  component (its status now is the planner's next, separate step) and without notifying anyone
  of something long over. Cachet reads `occurred_at` as "YYYY-MM-DD HH:MM" in its own timezone;
  we send UTC.
- Answers wrap their data in `{"data": ...}`; lists are paginated (`meta.pagination`); errors are
  `{"errors": [...]}`. The API key is in one header only and is scrubbed from every message.

Cachet 3.x (`/api`, unreleased) answers in another shape (JSON:API resources, `simplePaginate`)
and is not spoken here yet: `version_from_url` recognises it, so SPEC refuses its url with a
clear message when the config is read.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote

from monitor.model import PublisherSettings
from monitor.publishers.base import (
    Announcement,
    IncidentRequest,
    IncidentStatus,
    RateLimiter,
    RemoteComponent,
    RemoteIncident,
    Transient,
)
from monitor.publishers.client import MAX_MESSAGE, ApiClient, clip, new_items
from monitor.publishers.spec import ProviderSpec
from monitor.state import Status


def _make(settings: PublisherSettings, api_key: str, limiter: RateLimiter) -> CachetProvider:
    assert settings.url is not None  # the config saw to it
    version = version_from_url(settings.url)
    return CachetProvider(
        settings.url, settings.page_id, api_key, limiter, version=version, timeout=settings.timeout
    )


def _check_url(url: str) -> str | None:
    try:
        version = version_from_url(url)
    except ValueError:
        version = None
    if version == 2:
        return None
    return (
        "must be the API base of Cachet 2.x, ending in /api/v1 (Cachet 3.x, /api, is not "
        "supported yet)"
    )


SPEC = ProviderSpec(
    name="cachet",
    title="Cachet",
    make=_make,
    url_required='the API base of Cachet 2.x, like "https://status.example.com/api/v1"',
    check_url=_check_url,
)

PER_PAGE = 100
MAX_NAME = 255
MAX_PAGES = 1000  # a page that never says "last page" cannot keep us forever

COMPONENT_CODE = {
    Status.OPERATIONAL: 1,
    Status.DEGRADED_PERFORMANCE: 2,
    Status.PARTIAL_OUTAGE: 3,
    Status.MAJOR_OUTAGE: 4,
    Status.UNDER_MAINTENANCE: 1,  # 2.x has none: see the module docstring
}
COMPONENT_WORD = {1: "operational", 2: "degraded_performance", 3: "partial_outage"}
COMPONENT_WORD |= {4: "major_outage"}
INCIDENT_CODE = {
    IncidentStatus.INVESTIGATING: 1,
    IncidentStatus.IDENTIFIED: 2,
    IncidentStatus.MONITORING: 3,
    IncidentStatus.RESOLVED: 4,
}
INCIDENT_WORD = {0: "scheduled", 1: "investigating", 2: "identified", 3: "monitoring"}
INCIDENT_WORD |= {4: "resolved"}
UNRESOLVED = (1, 2, 3)
SCHEDULE_UPCOMING = 0
SCHEDULE_IN_PROGRESS = 1
_MAINTENANCE_MARKER = re.compile(r"^\[monitor-maintenance\]: # \((\S+)\)[ \t]*$", re.MULTILINE)

_MARKER = re.compile(r"^\[monitor\]: # \((\S+) (\S+)\)[ \t]*$", re.MULTILINE)


def version_from_url(url: str) -> int:
    """The Cachet major version a `[publisher] url` points at: `.../api/v1` is 2, `.../api` is 3."""
    path = url.rstrip("/")
    if path.endswith("/api/v1"):
        return 2
    if path.endswith("/api"):
        return 3
    raise ValueError(f"a Cachet url ends in /api/v1 (Cachet 2.x) or /api (3.x), not {url!r}")


def marker(component: str, key: str) -> str:
    """The line that makes an incident ours; invisible once the page renders the Markdown."""
    return f"[monitor]: # ({quote(component, safe='')} {quote(key, safe=':')})"


def _ours(message: object) -> tuple[str | None, str | None]:
    found = _MARKER.findall(message) if isinstance(message, str) else []
    if not found:
        return None, None
    component, key = found[-1]
    return unquote(component), unquote(key)


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def _page_message(text: str) -> str:
    """The page's own words: `errors` (strings or {title, detail}), `message`, else the text."""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        errors = data.get("errors")
        if isinstance(errors, list) and errors:
            parts = [
                str(e.get("detail") or e.get("title") or e) if isinstance(e, dict) else str(e)
                for e in errors
            ]
            return clip("; ".join(parts), MAX_MESSAGE)
        if data.get("message"):
            return clip(str(data["message"]), MAX_MESSAGE)
    return clip(" ".join(text.split()), MAX_MESSAGE) or "(empty response)"


def _remote_incident(data: Mapping[str, Any]) -> RemoteIncident:
    component, key = _ours(data.get("message"))
    code = _int(data.get("status"))
    return RemoteIncident(
        id=str(data["id"]),
        name=str(data.get("name") or ""),
        status=INCIDENT_WORD.get(code, "unknown") if code is not None else "unknown",
        component=component,
        key=key,
    )


class CachetProvider:
    """Cachet's API as the delivery worker needs it. Raises base.py's typed errors; never
    retries. It opens its HTTP session in the loop of its first call: use it from one event
    loop and `close()` it there. `page_id` is accepted for the shared signature and unused."""

    spec = SPEC
    name = SPEC.name

    def __init__(
        self,
        url: str,
        page_id: str | None,
        api_key: str,
        limiter: RateLimiter,
        *,
        version: int = 2,
        timeout: float = 10.0,
    ) -> None:
        if version != 2:
            raise ValueError(f"Cachet {version}.x is not supported yet; use Cachet 2.x (/api/v1)")
        api_key = api_key.strip()
        if not api_key.isprintable():  # aiohttp would refuse the header, quoting it
            raise ValueError("the Cachet API token contains control characters")
        self._client = ApiClient(
            self.name,
            url.rstrip("/"),
            {"X-Cachet-Token": api_key, "Accept": "application/json"},
            api_key,
            limiter,
            timeout,
            _page_message,
        )

    # -- the calls -------------------------------------------------------------------------

    async def create_incident(self, request: IncidentRequest) -> str:
        body: dict[str, Any] = {
            "name": clip(request.name, MAX_NAME),
            "message": f"{request.body}\n\n{marker(request.component, request.key)}",
            "status": INCIDENT_CODE[request.status],
            "visible": 1,
            "notify": request.notify,
        }
        if request.backfill_date is None:
            body |= {
                "component_id": self._component_id(request.remote_component),
                "component_status": COMPONENT_CODE[request.component_status],
            }
        else:
            when = dt.datetime.fromtimestamp(request.backfill_date, dt.UTC)
            body |= {"status": 4, "notify": False, "occurred_at": when.strftime("%Y-%m-%d %H:%M")}
        data = await self._call("POST", "/incidents", body)
        if not isinstance(data, dict) or data.get("id") is None:
            raise Transient("cachet: POST /incidents: the answer has no incident id")
        return str(data["id"])

    async def update_incident(self, incident_id: str, request: IncidentRequest) -> None:
        await self.set_component(request.remote_component, request.component_status)
        body = {"status": INCIDENT_CODE[request.status], "message": request.body}
        await self._call("POST", f"/incidents/{quote(incident_id, safe='')}/updates", body)

    async def set_component(self, remote_id: str, status: Status) -> None:
        path = f"/components/{quote(remote_id, safe='')}"
        await self._call("PUT", path, {"status": COMPONENT_CODE[status]})

    async def unresolved_incidents(self) -> list[RemoteIncident]:
        found: list[RemoteIncident] = []
        for code in UNRESOLVED:  # the list filters by equality only
            items = await self._all("/incidents", {"status": code})
            found.extend(_remote_incident(item) for item in items)
        return found

    async def get_incident(self, incident_id: str) -> RemoteIncident:
        data = await self._call("GET", f"/incidents/{quote(incident_id, safe='')}")
        if not isinstance(data, dict) or "id" not in data:
            raise Transient("cachet: GET /incidents/…: the answer is not an incident")
        return _remote_incident(data)

    async def components(self) -> list[RemoteComponent]:
        items = await self._all("/components")
        groups = {
            str(g["id"]): str(g.get("name") or "") for g in await self._all("/components/groups")
        }
        return [
            RemoteComponent(
                id=str(c["id"]),
                name=str(c.get("name") or ""),
                status=COMPONENT_WORD.get(_int(c.get("status")) or 0, "unknown"),
                group=groups.get(str(c.get("group_id"))) if c.get("group_id") else None,
            )
            for c in items
        ]

    async def active_maintenance(self) -> set[str]:
        return {
            str(component["component_id"])
            for schedule in await self._all("/schedules", {"status": SCHEDULE_IN_PROGRESS})
            for component in schedule.get("components") or ()
            if isinstance(component, dict) and component.get("component_id") is not None
        }

    async def create_maintenance(self, announcement: Announcement) -> str:
        data = await self._call("POST", "/schedules", self._schedule(announcement))
        if not isinstance(data, dict) or data.get("id") is None:
            raise Transient("cachet: POST /schedules: the answer has no schedule id")
        return str(data["id"])

    async def update_maintenance(self, page_id: str, announcement: Announcement) -> None:
        path = f"/schedules/{quote(page_id, safe='')}"
        await self._call("PUT", path, self._schedule(announcement))

    async def cancel_maintenance(self, page_id: str) -> None:
        await self._call("DELETE", f"/schedules/{quote(page_id, safe='')}")

    async def announced_maintenance(self) -> list[tuple[str, str]]:
        found = []
        for schedule in await self._all("/schedules", {"status": SCHEDULE_UPCOMING}):
            message = schedule.get("message")
            keys = _MAINTENANCE_MARKER.findall(message) if isinstance(message, str) else []
            if keys and schedule.get("id") is not None:
                found.append((str(schedule["id"]), unquote(keys[-1])))
        return found

    async def close(self) -> None:
        await self._client.close()

    # -- plumbing --------------------------------------------------------------------------

    @classmethod
    def _schedule(cls, announcement: Announcement) -> dict[str, Any]:
        """An upcoming schedule (Cachet 2.x has no reminder or automatic start: it shows the
        schedule by its times); our marker, a Markdown comment, ends its message."""
        moment = "%Y-%m-%d %H:%M"
        marker = f"[monitor-maintenance]: # ({quote(announcement.key, safe=':@+')})"
        return {
            "name": announcement.title,
            "message": f"{announcement.message}\n\n{marker}",
            "status": SCHEDULE_UPCOMING,
            "scheduled_at": dt.datetime.fromtimestamp(announcement.start, dt.UTC).strftime(moment),
            "completed_at": dt.datetime.fromtimestamp(announcement.end, dt.UTC).strftime(moment),
            "components": {str(cls._component_id(c)): 1 for c in announcement.remote_ids},
        }

    @staticmethod
    def _component_id(remote_id: str) -> int | str:
        """Cachet's ids are integers; anything else goes as is, for the page to refuse."""
        number = _int(remote_id)
        return number if number is not None else remote_id

    async def _all(self, path: str, query: Mapping[str, int] | None = None) -> list[dict[str, Any]]:
        """Every item of a paginated list. Stops at the last page `meta.pagination` names, at a
        short page, or at a page with nothing new (a server ignoring `page` would loop)."""
        items: list[dict[str, Any]] = []
        seen: set[str] = set()
        for page in range(1, MAX_PAGES + 1):
            params = {**(query or {}), "page": page, "per_page": PER_PAGE}
            answer = await self._client.call("GET", path, params=params)
            data = answer.get("data") if isinstance(answer, dict) else None
            if not isinstance(data, list):
                raise Transient(f"cachet: GET {path}: the answer is not a list")
            fresh = new_items(data, seen)
            items.extend(fresh)
            meta = answer.get("meta") if isinstance(answer, dict) else None
            pagination = meta.get("pagination") if isinstance(meta, dict) else None
            last = _int(pagination.get("total_pages")) if isinstance(pagination, dict) else None
            done = page >= last if last is not None else len(data) < PER_PAGE
            if done or not fresh:
                break
        return items

    async def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        """One request (see `ApiClient.call`); returns the answer's `data`."""
        answer = await self._client.call(method, path, json=body)
        return answer.get("data") if isinstance(answer, dict) else answer


__all__ = ["SPEC", "CachetProvider", "marker", "version_from_url"]
