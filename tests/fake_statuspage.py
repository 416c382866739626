"""A fake Atlassian Statuspage v1 for the publisher tests, on the shared plumbing of
tests/fake_page.py (a real aiohttp server in a thread of its own, scripted failures, the request
log; `Seen.path` is below /v1, e.g. "/pages/page1/incidents").

It refuses what the real API refuses (the facts in shared/reference/README.md) with the same
codes and a clear `message`, keeps components and incidents (with every update) in memory, and
lets a test script failures, rate limits and hangs and read every request it saw. All test
controls are thread-safe. Sync test: `fake_statuspage.fail_next(...)`; async test: the same calls
(none of them blocks, except `wait_requests`/`wait_held`: `await asyncio.to_thread(...)` those).
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from aiohttp import web

from tests.fake_page import FakePage

COMPONENT_STATUSES = {"operational", "degraded_performance", "partial_outage", "major_outage"}
COMPONENT_STATUSES |= {"under_maintenance"}
INCIDENT_STATUSES = {"investigating", "identified", "monitoring", "resolved"}
INCIDENT_STATUSES |= {"scheduled", "in_progress", "verifying", "completed"}
IMPACTS = {"none", "maintenance", "minor", "major", "critical"}
INCIDENT_FIELDS = {"name", "status", "body", "impact_override", "components", "component_ids"}
INCIDENT_FIELDS |= {"deliver_notifications", "metadata", "backfilled", "backfill_date"}
INCIDENT_FIELDS |= {"scheduled_for", "scheduled_until", "reminder_intervals"}
SCHEDULED_FLAGS = {"scheduled_remind_prior", "scheduled_auto_in_progress"}
SCHEDULED_FLAGS |= {"scheduled_auto_completed"}
INCIDENT_FIELDS |= SCHEDULED_FLAGS
SCHEDULED = {"scheduled"}
UNRESOLVED = {"investigating", "identified", "monitoring"}
ACTIVE_MAINTENANCE = {"in_progress", "verifying"}


class Refused(Exception):
    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.retry_after = status, message, retry_after


def _refuse_unless(ok: object, message: str) -> None:
    if not ok:
        raise Refused(422, message)


def _wrapped(body: Any, key: str) -> dict[str, Any]:
    fields = body.get(key) if isinstance(body, dict) else None
    if not isinstance(fields, dict):
        raise Refused(422, f'expected a JSON body {{"{key}": {{...}}}}')
    return fields


def _iso(moment: float | None) -> str | None:
    return None if moment is None else dt.datetime.fromtimestamp(moment, dt.UTC).isoformat()


class FakeStatuspage(FakePage):
    NAME = "statuspage"
    PREFIX = "/v1"
    SHUTDOWN_TIMEOUT = 0.1

    def __init__(self, api_key: str = "test-key", page_id: str = "page1") -> None:
        super().__init__(api_key)
        self.page_id = page_id
        self._last_unpaginated = -math.inf
        self._routes: list[tuple[str, str, Callable[[str, dict[str, str], Any], Any]]] = [
            ("GET", r"/components", self._list_components),
            ("PATCH", r"/components/([^/]+)", self._patch_component),
            ("GET", r"/incidents/unresolved", self._unresolved),
            ("GET", r"/incidents/active_maintenance", self._active_maintenance),
            ("GET", r"/incidents/upcoming", self._upcoming),
            ("GET", r"/incidents/scheduled", self._upcoming),
            ("DELETE", r"/incidents/([^/]+)", self._delete_incident),
            ("POST", r"/incidents", self._create_incident),
            ("GET", r"/incidents/([^/]+)", self._get_incident),
            ("PATCH", r"/incidents/([^/]+)", self._patch_incident),
        ]

    # -- the page's data (the shared controls are FakePage's) ------------------------------

    def add_component(
        self, name: str, *, group_id: str | None = None, status: str = "operational"
    ) -> str:
        with self.lock:
            cid = f"c{next(self._ids):011d}"
            self._components[cid] = dict(id=cid, group_id=group_id, group=False, name=name)
            self._components[cid] |= dict(status=status, position=len(self._components))
            if group_id is not None:
                self._components[group_id]["components"].append(cid)
            return cid

    def add_group(self, name: str) -> str:
        with self.lock:
            gid = self.add_component(name)
            self._components[gid] |= {"group": True, "components": []}
            return gid

    def add_incident(
        self,
        name: str,
        *,
        status: str = "investigating",
        metadata: dict[str, Any] | None = None,
        components: Iterable[str] = (),
    ) -> str:
        """An incident made by hand on the page (no validation)."""
        with self.lock:
            iid = f"i{next(self._ids):011d}"
            self._incidents[iid] = dict(id=iid, name=name, status=status, metadata=metadata or {})
            self._incidents[iid] |= dict(impact_override=None, backfilled=False, backfill_date=None)
            self._incidents[iid] |= dict(component_ids=list(components), created_at=time.time())
            self._incidents[iid] |= dict(resolved_at=None, updates=[])
            return iid

    def add_maintenance(self, component_ids: Iterable[str], name: str = "Maintenance") -> str:
        """An in-progress scheduled maintenance covering `component_ids`."""
        with self.lock:
            ids = list(component_ids)
            for cid in ids:
                self._components[cid]["status"] = "under_maintenance"
            return self.add_incident(name, status="in_progress", components=ids)

    def resolve(self, incident_id: str, body: str = "Resolved by hand.") -> None:
        """What an operator does on the page; ends a maintenance too."""
        with self.lock:
            inc = self._incidents[incident_id]
            done = "completed" if inc["status"] in ACTIVE_MAINTENANCE else "resolved"
            self._apply(inc, {"status": done, "body": body})

    # -- the server --------------------------------------------------------------------------

    def _dispatch(
        self, request: web.Request, path: str, body: Any, auth: str | None
    ) -> tuple[int, Any, dict[str, str]]:
        method, query = request.method, request.query
        json_body = request.content_type == "application/json" or method in {"GET", "DELETE"}
        if auth != f"OAuth {self.api_key}":
            return 401, {"error": "Could not authenticate"}, {}
        match = re.fullmatch(r"/pages/([^/]+)(/.*)", path)
        if match is None or match[1] != self.page_id:
            return 404, {"message": "The requested resource could not be found."}, {}
        for verb, pattern, handler in self._routes:
            if verb != method or (found := re.fullmatch(pattern, match[2])) is None:
                continue
            try:
                if not json_body:
                    raise Refused(415, "send JSON with Content-Type: application/json")
                status, data = handler(found[1] if found.groups() else "", dict(query), body)
            except Refused as exc:
                headers = {"Retry-After": f"{exc.retry_after:g}"} if exc.retry_after else {}
                return exc.status, {"message": exc.message}, headers
            return status, data, {}
        return 404, {"message": "The requested resource could not be found."}, {}

    def _page(self, items: list[Any], query: dict[str, str]) -> tuple[int, list[Any]]:
        try:
            page, per_page = int(query.get("page", 1)), min(int(query.get("per_page", 100)), 100)
        except ValueError:
            raise Refused(400, "page and per_page must be integers") from None
        _refuse_unless(page >= 1 and per_page >= 1, "page and per_page must be at least 1")
        return 200, copy.deepcopy(items[(page - 1) * per_page : page * per_page])

    def _list_components(self, _: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        if "page" not in query:  # the real API allows one unpaginated list a minute
            if time.monotonic() - self._last_unpaginated < 60:
                raise Refused(420, "unpaginated component lists: 1 a minute", retry_after=60)
            self._last_unpaginated = time.monotonic()
        return self._page(list(self._components.values()), query)

    def _patch_component(self, cid: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        if cid not in self._components:
            raise Refused(404, f"no component {cid}")
        fields = _wrapped(body, "component")
        _refuse_unless(set(fields) <= {"status", "name", "description"}, f"fields: {list(fields)}")
        status = fields.get("status", self._components[cid]["status"])
        _refuse_unless(status in COMPONENT_STATUSES, f"status {status!r} is not a component status")
        self._components[cid]["status"] = status
        return 200, copy.deepcopy(self._components[cid])

    def _unresolved(self, _: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        found = [self._view(i) for i in self._incidents.values() if i["status"] in UNRESOLVED]
        return self._page(found, query)

    def _active_maintenance(self, _: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        found = [
            self._view(i) for i in self._incidents.values() if i["status"] in ACTIVE_MAINTENANCE
        ]
        return self._page(found, query)

    def _upcoming(self, _: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        found = [self._view(i) for i in self._incidents.values() if i["status"] in SCHEDULED]
        return self._page(found, query)

    def _delete_incident(self, iid: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        if iid not in self._incidents:
            raise Refused(404, f"no incident {iid}")
        return 200, self._view(self._incidents.pop(iid))

    def _get_incident(self, iid: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        if iid not in self._incidents:
            raise Refused(404, f"no incident {iid}")
        return 200, self._view(self._incidents[iid])

    def _create_incident(self, _: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        fields = self._incident_fields(body, backfilled=False)
        name = fields.get("name")
        if not isinstance(name, str) or not name.strip():
            raise Refused(422, "incident name can't be blank")
        iid = self.add_incident(name)
        self._apply(self._incidents[iid], {"status": "investigating", **fields})
        return 201, self._view(self._incidents[iid])

    def _patch_incident(self, iid: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        if iid not in self._incidents:
            raise Refused(404, f"no incident {iid}")
        fields = self._incident_fields(body, backfilled=self._incidents[iid]["backfilled"])
        self._apply(self._incidents[iid], fields)
        return 200, self._view(self._incidents[iid])

    def _incident_fields(self, body: Any, *, backfilled: bool) -> dict[str, Any]:
        """The README's rules for an incident's fields; a 422 naming the first one broken."""
        fields = _wrapped(body, "incident")
        _refuse_unless(
            set(fields) <= INCIDENT_FIELDS, f"unknown fields {set(fields) - INCIDENT_FIELDS}"
        )
        check = fields.get
        for key, limit in (("name", 255), ("body", 25_000)):
            _refuse_unless(isinstance(check(key, ""), str), f"{key} must be a string")
            _refuse_unless(len(check(key, "")) <= limit, f"{key} is longer than {limit} characters")
        status, impact = check("status", "investigating"), check("impact_override", "none")
        _refuse_unless(status in INCIDENT_STATUSES, f"status {status!r} is not an incident status")
        _refuse_unless(impact in IMPACTS, f"impact_override {impact!r} is not an impact")
        _refuse_unless(
            isinstance(check("deliver_notifications", True), bool),
            "deliver_notifications must be true or false",
        )
        components, ids = check("components", {}), check("component_ids", [])
        _refuse_unless(
            isinstance(components, dict),
            f"components must be a map of component id to status, not {type(components).__name__}",
        )
        _refuse_unless(isinstance(ids, list), "component_ids must be a list")
        for cid in [*components, *ids]:
            _refuse_unless(cid in self._components, f"unknown component id {cid!r}")
        for value in components.values():
            _refuse_unless(value in COMPONENT_STATUSES, f"{value!r} is not a component status")
        metadata = check("metadata", {})
        _refuse_unless(
            isinstance(metadata, dict) and all(isinstance(v, dict) for v in metadata.values()),
            "metadata: every top-level value must be an object",
        )
        if backfilled or check("backfilled"):
            _refuse_unless(
                not components and not ids, "components cannot be set on a backfilled incident"
            )
        for flag in SCHEDULED_FLAGS:
            _refuse_unless(isinstance(check(flag, False), bool), f"{flag} must be a boolean")
        times = {}
        for key in ("scheduled_for", "scheduled_until"):
            if key in fields:
                try:
                    times[key] = dt.datetime.fromisoformat(str(fields[key]))
                except ValueError:
                    raise Refused(422, f"{key} must be a timestamp") from None
                _refuse_unless(times[key].tzinfo is not None, f"{key} must carry its UTC offset")
        if status == "scheduled":
            _refuse_unless(len(times) == 2, "a scheduled incident needs scheduled_for and _until")
        if len(times) == 2:
            _refuse_unless(
                times["scheduled_for"] < times["scheduled_until"],
                "scheduled_until must be after scheduled_for",
            )
        if check("backfilled"):
            try:
                dt.datetime.fromisoformat(str(check("backfill_date")))
            except ValueError:
                raise Refused(422, "backfill_date must be a timestamp") from None
        return dict(fields)

    def _apply(self, inc: dict[str, Any], fields: dict[str, Any]) -> None:
        now = time.time()
        for key in ("name", "status", "impact_override", "metadata", "backfilled", "backfill_date"):
            inc[key] = fields.get(key, inc[key])
        for key in ("scheduled_for", "scheduled_until", *SCHEDULED_FLAGS):
            if key in fields:
                inc[key] = fields[key]
        if "component_ids" in fields and inc["status"] in SCHEDULED:  # the list, as sent
            inc["component_ids"] = []
        changes = fields.get("components", {})
        for cid, status in changes.items():
            self._components[cid]["status"] = status
        for cid in [*changes, *fields.get("component_ids", [])]:
            if cid not in inc["component_ids"]:
                inc["component_ids"].append(cid)
        if inc["status"] in {"resolved", "completed"} and inc["resolved_at"] is None:
            inc["resolved_at"] = now
        inc["updates"].append(
            {
                "status": inc["status"],
                "body": fields.get("body", ""),
                "components": dict(changes),
                "at": now,
                "deliver_notifications": fields.get("deliver_notifications", True),
            }
        )

    def _view(self, inc: dict[str, Any]) -> dict[str, Any]:
        """An incident as the API shows it: components as objects, updates newest first."""
        view = {k: v for k, v in inc.items() if k not in {"component_ids", "updates"}}
        view |= {
            "page_id": self.page_id,
            "impact": inc["impact_override"] or "none",
            "created_at": _iso(inc["created_at"]),
            "resolved_at": _iso(inc["resolved_at"]),
            "components": [self._components[c] for c in inc["component_ids"]],
            "incident_updates": [
                dict(status=u["status"], body=u["body"], created_at=_iso(u["at"]))
                for u in reversed(inc["updates"])
            ],
        }
        return copy.deepcopy(view)


@pytest.fixture(name="fake_statuspage")
def fake_statuspage_fixture() -> Iterator[FakeStatuspage]:
    """A started fake with key "test-key" and page "page1"; `.url` is the API base. Use it with
    `from tests.fake_statuspage import fake_statuspage_fixture  # noqa: F401` and an argument
    named `fake_statuspage`, from sync and async tests alike."""
    fake = FakeStatuspage().start()
    yield fake
    fake.stop()
