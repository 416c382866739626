"""A fake Cachet 2.x API (`/api/v1`) for the publisher tests: a real aiohttp server on 127.0.0.1 in
a thread of its own, on the shared plumbing of tests/fake_page.py (`Seen.path` is below
/api/v1, e.g. "/incidents/3/updates"; `Seen.token` is the X-Cachet-Token).

It refuses what Cachet refuses (the facts in shared/reference/README.md: the token header, numeric
statuses in range, `component_id` and `component_status` together) with `{"errors": [...]}`,
answers `{"data": ...}` with `meta.pagination` on lists, keeps components, incidents (with their
updates) and schedules in memory, and lets a test script failures and hangs and read every request.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from aiohttp import web

from tests.fake_page import FakePage

INCIDENT_FIELDS = {"name", "message", "status", "visible", "notify", "component_id"}
INCIDENT_FIELDS |= {"component_status", "stickied", "occurred_at"}
SCHEDULE_FIELDS = {"name", "message", "status", "scheduled_at", "completed_at", "components"}
Handler = Callable[[str, dict[str, str], Any], tuple[int, Any]]


class Refused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def _check(ok: object, detail: str, status: int = 400) -> None:
    if not ok:
        raise Refused(status, detail)


def _errors(status: int, detail: str) -> dict[str, Any]:
    return {"errors": [{"id": "x", "status": status, "title": "Error", "detail": detail}]}


def _code(value: Any, low: int, high: int, what: str) -> int:
    ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    _check(ok, f"{what} must be an integer from {low} to {high}, not {value!r}")
    return int(value)


class FakeCachet(FakePage):
    NAME = "cachet"
    PREFIX = "/api/v1"
    CREDENTIAL = "X-Cachet-Token"

    def __init__(self, api_key: str = "test-key") -> None:
        super().__init__(api_key)
        self._groups: dict[int, dict[str, Any]] = {}
        self._schedules: dict[int, dict[str, Any]] = {}
        self._routes: list[tuple[str, str, Handler]] = [
            ("GET", r"/components", lambda _, q, b: self._list(self._components, q)),
            ("GET", r"/components/groups", lambda _, q, b: self._list(self._groups, q)),
            ("PUT", r"/components/(\d+)", self._put_component),
            ("GET", r"/incidents", lambda _, q, b: self._list(self._incidents, q)),
            ("POST", r"/incidents", self._create_incident),
            ("GET", r"/incidents/(\d+)", self._get_incident),
            ("POST", r"/incidents/(\d+)/updates", self._post_update),
            ("GET", r"/schedules", lambda _, q, b: self._list(self._schedules, q)),
            ("POST", r"/schedules", self._create_schedule),
            ("PUT", r"/schedules/(\d+)", self._put_schedule),
            ("DELETE", r"/schedules/(\d+)", self._delete_schedule),
        ]

    # -- the page's data (the shared controls are FakePage's) ------------------------------

    def add_group(self, name: str) -> str:
        with self.lock:
            gid = next(self._ids)
            self._groups[gid] = {"id": gid, "name": name, "order": len(self._groups)}
            return str(gid)

    def add_component(self, name: str, *, group_id: str | None = None, status: int = 1) -> str:
        with self.lock:
            cid = next(self._ids)
            group = int(group_id) if group_id else 0
            self._components[cid] = {"id": cid, "name": name, "status": status, "group_id": group}
            return str(cid)

    def add_incident(self, name: str, *, status: int = 1, message: str = "By hand.") -> str:
        """An incident made by hand on the page (no validation)."""
        with self.lock:
            iid = next(self._ids)
            self._incidents[iid] = dict(id=iid, name=name, message=message, status=status)
            self._incidents[iid] |= dict(visible=1, component_id=0, occurred_at=None, updates=[])
            return str(iid)

    def add_schedule(self, component_ids: Iterable[str], *, status: int = 1) -> str:
        with self.lock:
            sid = next(self._ids)
            parts = [{"component_id": int(c), "component_status": 1} for c in component_ids]
            self._schedules[sid] = {"id": sid, "name": "Maintenance", "status": status}
            self._schedules[sid]["components"] = parts
            return str(sid)

    def _key(self, given: str) -> int:
        return int(given)

    # -- the server --------------------------------------------------------------------------

    def _failure(self, status: int, message: str) -> Any:
        return _errors(status, message)

    def _dispatch(
        self, request: web.Request, path: str, body: Any, token: str | None
    ) -> tuple[int, Any, dict[str, str]]:
        method, query = request.method, request.query
        json_body = method in {"GET", "DELETE"} or request.content_type == "application/json"
        if token != self.api_key:
            return 401, _errors(401, "You are not authorized to access this resource."), {}
        for verb, pattern, handler in self._routes:
            if verb != method or (found := re.fullmatch(pattern, path)) is None:
                continue
            try:
                _check(json_body, "send JSON with Content-Type: application/json", 415)
                bodiless = method in {"GET", "DELETE"}
                _check(bodiless or isinstance(body, dict), "expected a JSON object")
                status, data = handler(found[1] if found.groups() else "", dict(query), body)
                return status, data, {}
            except Refused as exc:
                return exc.status, _errors(exc.status, exc.detail), {}
        return 404, _errors(404, "The requested resource could not be found."), {}

    def _list(self, table: dict[int, dict[str, Any]], query: dict[str, str]) -> tuple[int, Any]:
        try:
            page, per_page = int(query.get("page", 1)), int(query.get("per_page", 20))
        except ValueError:
            raise Refused(400, "page and per_page must be integers") from None
        _check(page >= 1 and per_page >= 1, "page and per_page must be at least 1")
        wanted = {k: v for k, v in query.items() if k not in {"page", "per_page", "sort"}}
        rows = [r for r in table.values() if all(str(r.get(k)) == v for k, v in wanted.items())]
        last = max(1, math.ceil(len(rows) / per_page))
        data = copy.deepcopy(rows[(page - 1) * per_page : page * per_page])
        pagination: dict[str, Any] = dict(total=len(rows), count=len(data), per_page=per_page)
        pagination |= {"current_page": page, "total_pages": last, "links": {}}
        return 200, {"meta": {"pagination": pagination}, "data": data}

    def _put_component(self, cid: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        _check(int(cid) in self._components, f"no component {cid}", 404)
        _check(set(body) <= {"status", "name", "description", "group_id"}, f"fields {list(body)}")
        if "status" in body:
            self._components[int(cid)]["status"] = _code(body["status"], 1, 4, "status")
        return 200, {"data": copy.deepcopy(self._components[int(cid)])}

    def _get_incident(self, iid: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        _check(int(iid) in self._incidents, f"no incident {iid}", 404)
        return 200, {"data": copy.deepcopy(self._incidents[int(iid)])}

    def _create_incident(self, _: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        _check(set(body) <= INCIDENT_FIELDS, f"unknown fields {set(body) - INCIDENT_FIELDS}")
        name, message = body.get("name"), body.get("message")
        _check(isinstance(name, str) and name.strip(), "The name field is required.")
        _check(len(name) <= 255, "The name may not be greater than 255 characters.")
        _check(isinstance(message, str) and message.strip(), "The message field is required.")
        status = _code(body.get("status"), 1, 4, "status")
        _check(body.get("visible", 1) in (0, 1), "visible must be 0 or 1")
        _check(isinstance(body.get("notify", True), bool), "notify must be a boolean")
        has_id, has_status = "component_id" in body, "component_status" in body
        _check(has_id == has_status, "component_id and component_status go together")
        if has_id:
            cid = body["component_id"]
            _check(isinstance(cid, int) and cid in self._components, f"no component {cid!r}")
            self._components[cid]["status"] = _code(
                body["component_status"], 1, 4, "component_status"
            )
        if "occurred_at" in body:
            try:
                dt.datetime.strptime(str(body["occurred_at"]), "%Y-%m-%d %H:%M")
            except ValueError:
                raise Refused(400, "Unable to pass timestamp " + str(body["occurred_at"])) from None
        iid = int(self.add_incident(name, status=status, message=message))
        self._incidents[iid] |= {k: body[k] for k in body if k in INCIDENT_FIELDS - {"name"}}
        return 200, {"data": copy.deepcopy(self._incidents[iid])}

    def _schedule_fields(self, body: Any, *, create: bool) -> dict[str, Any]:
        """A schedule's fields as Cachet 2.x validates them (times "Y-m-d H:i")."""
        _check(isinstance(body, dict), "expected a JSON object")
        _check(set(body) <= SCHEDULE_FIELDS, f"unknown fields {set(body) - SCHEDULE_FIELDS}")
        if create:
            _check(isinstance(body.get("name"), str) and body["name"].strip(), "name is required")
            _check("scheduled_at" in body, "The scheduled at field is required.")
        _check(isinstance(body.get("message", ""), str), "message must be a string")
        _code(body.get("status", 0), 0, 2, "status")
        times = {}
        for key in ("scheduled_at", "completed_at"):
            if key in body:
                try:
                    times[key] = dt.datetime.strptime(str(body[key]), "%Y-%m-%d %H:%M")
                except ValueError:
                    raise Refused(400, f"Unable to pass timestamp {body[key]}") from None
        if len(times) == 2:
            _check(times["scheduled_at"] < times["completed_at"], "completed_at before start")
        parts = body.get("components", {})
        _check(isinstance(parts, dict), "components: a map of component id to status")
        for cid, status in parts.items():
            _check(str(cid).isdigit() and int(cid) in self._components, f"no component {cid!r}")
            _code(status, 1, 4, "component status")
        return dict(body)

    def _create_schedule(self, _: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        fields = self._schedule_fields(body, create=True)
        sid = int(self.add_schedule([], status=fields.get("status", 0)))
        self._apply_schedule(self._schedules[sid], fields)
        return 200, {"data": copy.deepcopy(self._schedules[sid])}

    def _put_schedule(self, sid: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        _check(int(sid) in self._schedules, f"no schedule {sid}", 404)
        self._apply_schedule(self._schedules[int(sid)], self._schedule_fields(body, create=False))
        return 200, {"data": copy.deepcopy(self._schedules[int(sid)])}

    def _delete_schedule(self, sid: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        _check(int(sid) in self._schedules, f"no schedule {sid}", 404)
        del self._schedules[int(sid)]
        return 204, None

    def _apply_schedule(self, schedule: dict[str, Any], fields: dict[str, Any]) -> None:
        schedule |= {k: v for k, v in fields.items() if k != "components"}
        if "components" in fields:
            schedule["components"] = [
                {"component_id": int(c), "component_status": s}
                for c, s in fields["components"].items()
            ]

    def _post_update(self, iid: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        _check(int(iid) in self._incidents, f"no incident {iid}", 404)
        _check(set(body) <= {"status", "message"}, f"fields {list(body)}")
        status = _code(body.get("status"), 1, 4, "status")
        _check(isinstance(body.get("message"), str) and body["message"], "message is required")
        # Cachet 2.x takes no notify on an update: it tells the subscribers of every update of a
        # visible incident (its SendIncidentUpdateEmailNotificationHandler). Recorded as such.
        notify = bool(self._incidents[int(iid)].get("visible", 1))
        update = {"status": status, "message": body["message"], "notify": notify}
        self._incidents[int(iid)]["updates"].append(update)
        self._incidents[int(iid)]["status"] = status
        return 200, {"data": {"id": next(self._ids), "incident_id": int(iid), **update}}


@pytest.fixture(name="fake_cachet")
def fake_cachet_fixture() -> Iterator[FakeCachet]:
    """A started fake with token "test-key"; `.url` is the API base (ending in /api/v1)."""
    fake = FakeCachet().start()
    yield fake
    fake.stop()
