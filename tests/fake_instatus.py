"""A fake Instatus API on the shared plumbing of tests/fake_page.py (a real aiohttp server on
127.0.0.1 in a thread of its own; `Seen.path` is the whole path, e.g. "/v1/page1/incidents"). It
refuses what the real API refuses (shared/reference/README.md) in the documented shape `{"error":
{"code", "message"}}`, keeps components, incidents (updates shown newest first) and maintenances,
scripts failures and hangs, and logs every request. Thread-safe; from async tests, `await
asyncio.to_thread(fake.wait_held)`.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import pytest
from aiohttp import web

from tests.fake_page import FakePage

COMPONENT_STATUSES = {"OPERATIONAL", "DEGRADEDPERFORMANCE", "PARTIALOUTAGE", "MAJOROUTAGE"}
COMPONENT_STATUSES |= {"UNDERMAINTENANCE"}
INCIDENT_STATUSES = {"INVESTIGATING", "IDENTIFIED", "MONITORING", "RESOLVED"}
CREATE_FIELDS = {"name", "message", "components", "started", "status", "notify", "statuses"}
CREATE_FIELDS |= {"shouldPublish", "translations"}
UPDATE_FIELDS = CREATE_FIELDS - {"name", "shouldPublish"}
MAINTENANCE_STATUSES = {"NOTSTARTEDYET", "INPROGRESS", "COMPLETED"}
MAINTENANCE_FLAGS = {"notify", "notifyStart", "notifyEnd", "notifyEarly", "autoStart", "autoEnd"}
MAINTENANCE_CREATE = {"name", "message", "components", "start", "end", "status", "duration"}
MAINTENANCE_CREATE |= MAINTENANCE_FLAGS | {"notifyMinutes", "isCollapsed", "expandAt"}
MAINTENANCE_CREATE_REQUIRED = {"name", "components", "status", "start", "end"} | MAINTENANCE_FLAGS
MAINTENANCE_UPDATE = {"name", "message", "components", "start", "end", "status", "notify"}
MAINTENANCE_UPDATE |= {"autoStart", "autoEnd", "duration", "statuses", "translations"}
MAINTENANCE_UPDATE_REQUIRED = MAINTENANCE_UPDATE - {"name", "translations"}
COMPONENT_FIELDS = {"name", "description", "status", "order", "showUptime", "grouped", "archived"}


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _check(ok: object, message: str) -> None:
    if not ok:
        raise Refused(400, "VALIDATION_ERROR", message)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")


class FakeInstatus(FakePage):
    NAME = "instatus"
    RELEASED = "released"

    def __init__(self, api_key: str = "test-key", page_id: str = "page1") -> None:
        super().__init__(api_key)
        self.page_id = page_id
        self._maintenances: dict[str, dict[str, Any]] = {}

    # -- the page's data (the shared controls are FakePage's) ------------------------------

    def add_component(
        self, name: str, *, group_id: str | None = None, status: str = "OPERATIONAL"
    ) -> str:
        with self.lock:
            cid = f"ck{next(self._ids):08d}"
            group = self._components[group_id] if group_id else None
            self._components[cid] = dict(id=cid, name=name, status=status, groupId=group_id)
            self._components[cid]["group"] = group and {"id": group_id, "name": group["name"]}
            return cid

    def add_incident(self, name: str, message: str = "", *, status: str = "INVESTIGATING") -> str:
        """An incident made by hand on the page (no validation)."""
        with self.lock:
            return self._create({"name": name, "message": message, "status": status})

    def _create(self, fields: dict[str, Any]) -> str:
        iid = f"in{next(self._ids):08d}"
        self._incidents[iid] = dict(id=iid, name=fields["name"], resolved=None)
        self._incidents[iid] |= dict(started=fields.get("started", _now()))
        self._incidents[iid] |= dict(components=[], updates=[])
        self._record(self._incidents[iid], fields)
        return iid

    def add_maintenance(self, component_ids: Iterable[str], status: str = "INPROGRESS") -> str:
        with self.lock:
            mid = f"mt{next(self._ids):08d}"
            components = [{"id": c, "name": self._components[c]["name"]} for c in component_ids]
            self._maintenances[mid] = dict(id=mid, name="Maintenance", status=status)
            self._maintenances[mid]["components"] = components
            return mid

    # -- the server --------------------------------------------------------------------------

    def _failure(self, status: int, message: str) -> Any:
        return {"error": {"code": "TEST", "message": message}}

    def _dispatch(
        self, request: web.Request, path: str, body: Any, auth: str | None
    ) -> tuple[int, Any, dict[str, str]]:
        try:
            if auth != f"Bearer {self.api_key}":
                raise Refused(401, "UNAUTHORIZED", "Invalid or missing API key")
            match = re.fullmatch(r"/v1/([^/]+)(/.*)", path)
            if match is None or match[1] != self.page_id:
                raise Refused(404, "NOT_FOUND", "Page not found")
            if request.method in ("POST", "PUT") and request.content_type != "application/json":
                raise Refused(400, "VALIDATION_ERROR", "send JSON (Content-Type: application/json)")
            data = self._route(request.method, match[2].split("/")[1:], request.query, body)
            return 200, data, {}
        except Refused as exc:
            return exc.status, {"error": {"code": exc.code, "message": exc.message}}, {}

    def _route(self, method: str, parts: list[str], query: Mapping[str, str], body: Any) -> Any:
        match method, parts:
            case "GET", ["components"]:
                return self._paged(list(self._components.values()), query)
            case "PUT", ["components", cid]:
                self._known(self._components, cid, "Component")
                _check(isinstance(body, dict) and set(body) <= COMPONENT_FIELDS, f"fields {body}")
                _check(body.get("status", "OPERATIONAL") in COMPONENT_STATUSES, "invalid status")
                self._components[cid] |= body
                return copy.deepcopy(self._components[cid])
            case "GET", ["incidents"]:
                wanted = set(query["status"].split(",")) if "status" in query else INCIDENT_STATUSES
                found = [self._view(i) for i in self._incidents.values() if i["status"] in wanted]
                return self._paged(found, query)
            case "POST", ["incidents"]:
                fields = self._fields(body, CREATE_FIELDS, required={"name", "status"})
                _check(isinstance(fields["name"], str) and fields["name"].strip(), "name is blank")
                return self._view(self._incidents[self._create(fields)])
            case "GET", ["incidents", iid]:
                return self._view(self._known(self._incidents, iid, "Incident"))
            case "POST", ["incidents", iid, "incident-updates"]:
                inc = self._known(self._incidents, iid, "Incident")
                required = {"status", "components", "statuses"}
                update = self._record(inc, self._fields(body, UPDATE_FIELDS, required))
                return update | {"incident": {"id": iid, "name": inc["name"]}}
            case "GET", ["maintenances"]:
                return self._paged(list(self._maintenances.values()), query)
            case "POST", ["maintenances"]:
                fields = self._maintenance_fields(
                    body, MAINTENANCE_CREATE, MAINTENANCE_CREATE_REQUIRED
                )
                mid = f"mt{next(self._ids):08d}"
                self._maintenances[mid] = dict(id=mid, updates=[])
                self._apply_maintenance(self._maintenances[mid], fields)
                return copy.deepcopy(self._maintenances[mid])
            case "PUT", ["maintenances", mid]:
                found = self._known(self._maintenances, mid, "Maintenance")
                fields = self._maintenance_fields(
                    body, MAINTENANCE_UPDATE, MAINTENANCE_UPDATE_REQUIRED
                )
                self._apply_maintenance(found, fields)
                return copy.deepcopy(found)
            case "DELETE", ["maintenances", mid]:
                self._known(self._maintenances, mid, "Maintenance")
                del self._maintenances[mid]
                return {"id": mid}
        raise Refused(404, "NOT_FOUND", f"no route {method} /{'/'.join(parts)}")

    @staticmethod
    def _known(items: dict[str, dict[str, Any]], key: str, what: str) -> dict[str, Any]:
        if key not in items:
            raise Refused(404, "NOT_FOUND", f"{what} {key} not found")
        return items[key]

    def _paged(self, items: list[Any], query: Mapping[str, str]) -> list[Any]:
        try:
            page, per_page = int(query.get("page", 1)), int(query.get("per_page", 50))
        except ValueError:
            raise Refused(400, "VALIDATION_ERROR", "page and per_page are integers") from None
        _check(page >= 1 and 1 <= per_page <= 100, "page >= 1, per_page from 1 to 100")
        return copy.deepcopy(items[(page - 1) * per_page : page * per_page])

    def _fields(self, body: Any, allowed: set[str], required: set[str]) -> dict[str, Any]:
        """The README's rules for an incident or update body; a 400 naming the first broken."""
        _check(isinstance(body, dict), "expected a JSON object")
        _check(set(body) <= allowed, f"unknown fields {sorted(set(body) - allowed)}")
        _check(required <= set(body), f"missing {sorted(required - set(body))}")
        _check(body["status"] in INCIDENT_STATUSES, f"invalid incident status {body['status']!r}")
        _check(isinstance(body.get("message", ""), str), "message must be a string")
        _check(isinstance(body.get("notify", True), bool), "notify must be a boolean")
        if "started" in body:
            try:
                dt.datetime.fromisoformat(str(body["started"]))
            except ValueError:
                raise Refused(400, "VALIDATION_ERROR", "started must be a date-time") from None
        ids, statuses = body.get("components", []), body.get("statuses", [])
        _check(isinstance(ids, list) and isinstance(statuses, list), "lists, please")
        for cid in ids:
            _check(cid in self._components, f"unknown component {cid!r}")
        for item in statuses:
            _check(
                isinstance(item, dict) and set(item) == {"id", "status"}, "statuses: {id, status}"
            )
            _check(item["id"] in ids, f"{item['id']!r} is in statuses, not in components")
            _check(item["status"] in COMPONENT_STATUSES, f"invalid status {item['status']!r}")
        if body["status"] == "RESOLVED":
            _check(
                all(s["status"] == "OPERATIONAL" for s in statuses),
                "a resolved incident leaves every component OPERATIONAL",
            )
        return dict(body)

    def _maintenance_fields(
        self, body: Any, allowed: set[str], required: set[str]
    ) -> dict[str, Any]:
        """A maintenance's create (POST) or update (PUT) body, as the spec has them."""
        _check(isinstance(body, dict), "expected a JSON object")
        _check(set(body) <= allowed, f"unknown fields {sorted(set(body) - allowed)}")
        _check(required <= set(body), f"missing {sorted(required - set(body))}")
        _check(body["status"] in MAINTENANCE_STATUSES, f"invalid status {body['status']!r}")
        for flag in MAINTENANCE_FLAGS & set(body):
            _check(isinstance(body[flag], bool), f"{flag} must be a boolean")
        _check(isinstance(body.get("name", "x"), str) and body.get("name", "x").strip(), "name")
        _check(isinstance(body.get("message", ""), str), "message must be a string")
        times = []
        for key in ("start", "end"):
            try:
                times.append(dt.datetime.fromisoformat(str(body[key])))
            except ValueError:
                raise Refused(400, "VALIDATION_ERROR", f"{key} must be a date-time") from None
        _check(times[0] < times[1], "end must be after start")
        ids = body["components"]
        _check(isinstance(ids, list) and ids, "components: a list of ids")
        for cid in ids:
            _check(cid in self._components, f"unknown component {cid!r}")
        for item in body.get("statuses", []):
            _check(item.get("id") in ids, f"{item!r} is in statuses, not in components")
            _check(item.get("status") in COMPONENT_STATUSES, f"invalid status {item!r}")
        if "duration" in body:
            _check(isinstance(body["duration"], int), "duration: minutes, an integer")
        return dict(body)

    def _apply_maintenance(self, found: dict[str, Any], fields: dict[str, Any]) -> None:
        found |= {k: v for k, v in fields.items() if k not in {"message", "components", "end"}}
        found["components"] = [
            {"id": c, "name": self._components[c]["name"]} for c in fields["components"]
        ]
        found["end"] = fields["end"]
        if "message" in fields:
            found["updates"].append(dict(message=fields["message"], createdAt=_now()))

    def _record(self, inc: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
        """Applies an incident's create or update: its status, component statuses, an update."""
        inc["status"] = fields["status"]
        for item in fields.get("statuses", []):
            self._components[item["id"]]["status"] = item["status"]
        for cid in fields.get("components", []):
            if cid not in [c["id"] for c in inc["components"]]:
                inc["components"].append({"id": cid, "name": self._components[cid]["name"]})
        if fields["status"] == "RESOLVED" and inc["resolved"] is None:
            inc["resolved"] = _now()
        update = dict(id=f"up{next(self._ids):08d}", status=fields["status"], createdAt=_now())
        # notify as sent (None: not sent), for the tests of who gets told
        update |= dict(message=fields.get("message", ""), notify=fields.get("notify"))
        update |= dict(started=fields.get("started", _now()), statuses=fields.get("statuses"))
        inc["updates"].append(update)
        self._changed.notify_all()
        return copy.deepcopy(update)

    def _view(self, inc: dict[str, Any]) -> dict[str, Any]:
        """As the API shows it: updates newest first, without our bookkeeping (`statuses`)."""
        updates = [{k: v for k, v in u.items() if k != "statuses"} for u in inc["updates"]]
        return copy.deepcopy(inc | {"updates": updates[::-1]})


@pytest.fixture(name="fake_instatus")
def fake_instatus_fixture() -> Iterator[FakeInstatus]:
    """A started fake with key "test-key" and page "page1"; `.url` is the API base (no /v1).
    Import it with `from tests.fake_instatus import fake_instatus_fixture  # noqa: F401`."""
    fake = FakeInstatus().start()
    yield fake
    fake.stop()
