"""The Instatus provider against the fake Instatus on loopback, the fake against the API facts
it enforces, and the real delivery worker driving the provider through an outage and a crash.
What every provider does alike over HTTP is tested once for all three in test_provider_http.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from monitor.publishers.base import (
    IncidentRequest,
    IncidentStatus,
    NotFound,
    RateLimiter,
    Rejected,
    RemoteComponent,
    RemoteIncident,
    Transient,
)
from monitor.publishers.instatus import InstatusProvider, marker
from monitor.state import Status
from tests.fake_instatus import FakeInstatus, fake_instatus_fixture  # noqa: F401
from tests.probe_servers import http_server
from tests.provider_helpers import FAST, KEY, WorkerPage, eventually, incident_request

PAGE = "page1"
OURS = "[monitor:payment-api:1767225600000]"


def request(remote: str, **changes: Any) -> IncidentRequest:
    return incident_request(remote, "payment-api:1767225600000", **changes)


@pytest.fixture
async def provider(fake_instatus: FakeInstatus) -> AsyncIterator[InstatusProvider]:
    p = InstatusProvider(fake_instatus.url, PAGE, KEY, RateLimiter(FAST), timeout=2.0)
    yield p
    await p.close()


# -- every call's shape ------------------------------------------------------------------------


async def test_create_sends_ids_statuses_and_our_marker(
    fake_instatus: FakeInstatus, provider: InstatusProvider
) -> None:
    remote = fake_instatus.add_component("Payment API")

    incident_id = await provider.create_incident(request(remote, notify=False))

    [seen] = fake_instatus.requests("POST")
    assert (seen.path, seen.authorization) == (f"/v1/{PAGE}/incidents", f"Bearer {KEY}")
    assert seen.json == {
        "name": "Payment API: partial outage",
        "message": f"healthz fails: connection refused\n\n{OURS}",
        "status": "INVESTIGATING",
        "notify": False,
        "components": [remote],
        "statuses": [{"id": remote, "status": "PARTIALOUTAGE"}],
    }
    assert fake_instatus.incident(incident_id)["status"] == "INVESTIGATING"
    assert fake_instatus.component(remote)["status"] == "PARTIALOUTAGE"


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (Status.OPERATIONAL, "OPERATIONAL"),
        (Status.DEGRADED_PERFORMANCE, "DEGRADEDPERFORMANCE"),
        (Status.PARTIAL_OUTAGE, "PARTIALOUTAGE"),
        (Status.MAJOR_OUTAGE, "MAJOROUTAGE"),
        (Status.UNDER_MAINTENANCE, "UNDERMAINTENANCE"),
    ],
)
async def test_component_statuses_map_both_ways(
    fake_instatus: FakeInstatus, provider: InstatusProvider, ours: Status, theirs: str
) -> None:
    remote = fake_instatus.add_component("Payment API")

    await provider.set_component(remote, ours)

    [seen] = fake_instatus.requests("PUT")
    assert (seen.path, seen.json) == (f"/v1/{PAGE}/components/{remote}", {"status": theirs})
    assert [c.status for c in await provider.components()] == [ours.value]


@pytest.mark.parametrize(
    ("status", "component", "theirs"),
    [
        (IncidentStatus.INVESTIGATING, Status.MAJOR_OUTAGE, "MAJOROUTAGE"),
        (IncidentStatus.IDENTIFIED, Status.DEGRADED_PERFORMANCE, "DEGRADEDPERFORMANCE"),
        (IncidentStatus.MONITORING, Status.OPERATIONAL, "OPERATIONAL"),
        (IncidentStatus.RESOLVED, Status.OPERATIONAL, "OPERATIONAL"),
    ],
)
async def test_an_update_posts_status_components_and_statuses(
    fake_instatus: FakeInstatus,
    provider: InstatusProvider,
    status: IncidentStatus,
    component: Status,
    theirs: str,
) -> None:
    remote = fake_instatus.add_component("Payment API")
    incident_id = await provider.create_incident(request(remote))

    await provider.update_incident(
        incident_id, request(remote, status=status, component_status=component, body="Now.")
    )

    seen = fake_instatus.requests("POST")[-1]
    assert seen.path == f"/v1/{PAGE}/incidents/{incident_id}/incident-updates"
    assert seen.json == {
        "message": "Now.",
        "status": status.value.upper(),
        "notify": True,
        "components": [remote],
        "statuses": [{"id": remote, "status": theirs}],
    }
    assert (await provider.get_incident(incident_id)).status == status.value
    assert fake_instatus.component(remote)["status"] == theirs


async def test_resolving_into_maintenance_resolves_operational_then_sets_the_component(
    fake_instatus: FakeInstatus, provider: InstatusProvider
) -> None:
    remote = fake_instatus.add_component("Payment API")
    incident_id = await provider.create_incident(request(remote))
    resolve = request(
        remote, status=IncidentStatus.RESOLVED, component_status=Status.UNDER_MAINTENANCE
    )
    fake_instatus.fail_next(status=503, method="PUT")

    with pytest.raises(Transient):
        await provider.update_incident(incident_id, resolve)
    await provider.update_incident(incident_id, resolve)  # the worker's retry

    posts = fake_instatus.requests("POST", "*/incident-updates")
    assert [p.json["statuses"] for p in posts] == [[{"id": remote, "status": "OPERATIONAL"}]]
    assert [p.json for p in fake_instatus.requests("PUT")] == [{"status": "UNDERMAINTENANCE"}] * 2
    assert fake_instatus.component(remote)["status"] == "UNDERMAINTENANCE"
    assert fake_instatus.incident(incident_id)["status"] == "RESOLVED"


async def test_a_backfill_is_one_resolved_create_started_in_the_past(
    fake_instatus: FakeInstatus, provider: InstatusProvider
) -> None:
    remote = fake_instatus.add_component("Payment API")
    backfill = request(
        remote,
        status=IncidentStatus.RESOLVED,
        component_status=Status.OPERATIONAL,
        backfill_date=1767225600.0,
    )

    incident_id = await provider.create_incident(backfill)

    [seen] = fake_instatus.requests()
    assert seen.json["status"] == "RESOLVED"
    assert seen.json["started"] == "2026-01-01T00:00:00.000Z"
    assert seen.json["statuses"] == [{"id": remote, "status": "OPERATIONAL"}]
    assert fake_instatus.incident(incident_id)["started"] == "2026-01-01T00:00:00.000Z"
    assert (await provider.get_incident(incident_id)).status == "resolved"


async def test_a_backfill_ending_in_maintenance_leaves_the_component_alone(
    fake_instatus: FakeInstatus, provider: InstatusProvider
) -> None:
    remote = fake_instatus.add_component("Payment API", status="UNDERMAINTENANCE")
    backfill = request(
        remote, component_status=Status.UNDER_MAINTENANCE, backfill_date=1767225600.0
    )

    await provider.create_incident(backfill)

    [seen] = fake_instatus.requests()
    assert seen.json["status"] == "RESOLVED"
    assert "components" not in seen.json and "statuses" not in seen.json
    assert fake_instatus.component(remote)["status"] == "UNDERMAINTENANCE"


# -- the marker: our incidents are found again ---------------------------------------------------


async def test_our_incidents_are_found_by_their_marker_and_hand_made_ones_are_not(
    fake_instatus: FakeInstatus, provider: InstatusProvider
) -> None:
    remote = fake_instatus.add_component("Payment API")
    ours = await provider.create_incident(request(remote))
    await provider.update_incident(
        ours, request(remote, status=IncidentStatus.MONITORING, body="Recovered.")
    )
    by_hand = fake_instatus.add_incident("DB slow", "We are looking into it [monitor]")
    fake_instatus.add_incident("Old", OURS, status="RESOLVED")

    found = await provider.unresolved_incidents()

    assert found == [
        RemoteIncident(
            ours, "Payment API: partial outage", "monitoring", "payment-api", request("").key
        ),
        RemoteIncident(by_hand, "DB slow", "investigating", None, None),
    ]
    [seen] = fake_instatus.requests("GET")
    assert seen.path == f"/v1/{PAGE}/incidents"
    assert seen.query == {"status": "INVESTIGATING,IDENTIFIED,MONITORING"} | {
        "page": "1",
        "per_page": "100",
    }


async def test_unresolved_incidents_reads_every_page(
    fake_instatus: FakeInstatus, provider: InstatusProvider
) -> None:
    for n in range(149):
        fake_instatus.add_incident(f"hand {n}")
    fake_instatus.add_incident("ours", f"Down.\n\n{marker('db', 'db:1')}", status="IDENTIFIED")

    found = await provider.unresolved_incidents()

    assert len(found) == 150
    assert [(i.component, i.key, i.status) for i in found if i.component] == [
        ("db", "db:1", "identified")
    ]
    assert [s.query["page"] for s in fake_instatus.requests()] == ["1", "2"]


def test_a_key_of_another_shape_still_names_the_component() -> None:
    assert marker("payment-api", "payment-api:1767225600000") == OURS
    assert marker("payment-api", "adopted") == "[monitor:payment-api]"


async def test_get_incident_parses_the_marker_and_a_missing_one_is_not_found(
    fake_instatus: FakeInstatus, provider: InstatusProvider
) -> None:
    by_hand = fake_instatus.add_incident("x", "[monitor:payment-api]", status="MONITORING")

    assert await provider.get_incident(by_hand) == RemoteIncident(
        by_hand, "x", "monitoring", "payment-api", None
    )
    with pytest.raises(NotFound) as caught:
        await provider.get_incident("nosuchthing")
    assert caught.value.status == 404
    assert "Incident nosuchthing not found (NOT_FOUND)" in str(caught.value)


# -- lists ---------------------------------------------------------------------------------------


async def test_components_reads_every_page_with_ours_statuses_and_groups(
    fake_instatus: FakeInstatus, provider: InstatusProvider
) -> None:
    backend = fake_instatus.add_component("Backend")
    for n in range(149):
        fake_instatus.add_component(f"c{n}", group_id=backend if n % 2 else None)

    found = await provider.components()

    assert len(found) == 150
    assert found[0] == RemoteComponent(backend, "Backend", "operational", None, is_group=True)
    assert [(c.group, c.is_group) for c in found[1:3]] == [(None, False), ("Backend", False)]
    assert [s.query for s in fake_instatus.requests()] == [
        {"page": "1", "per_page": "100"},
        {"page": "2", "per_page": "100"},
    ]


async def test_active_maintenance_is_the_components_of_maintenances_in_progress(
    fake_instatus: FakeInstatus, provider: InstatusProvider
) -> None:
    a, b, c = (fake_instatus.add_component(name) for name in "abc")
    fake_instatus.add_maintenance([a, b])
    fake_instatus.add_maintenance([c], status="COMPLETED")
    fake_instatus.add_maintenance([c], status="NOTSTARTEDYET")

    assert await provider.active_maintenance() == {a, b}
    assert fake_instatus.requests()[0].path == f"/v1/{PAGE}/maintenances"


# -- errors --------------------------------------------------------------------------------------


SECRET = "sk-live-0123456789abcdef"


def echo_app() -> web.Application:
    async def echo_key(request: web.Request) -> web.Response:
        error = {"code": "BAD", "message": f"bad {request.headers['Authorization']}"}
        return web.json_response({"error": error}, status=400)

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently(f"https://example.invalid/?key={SECRET}")

    app = web.Application()
    app.router.add_put("/v1/p/components/echo", echo_key)
    app.router.add_get("/v1/p/maintenances", moved)
    return app


async def test_the_key_is_in_no_message_even_when_the_page_echoes_it() -> None:
    async with http_server(echo_app()) as port:
        provider = InstatusProvider(f"http://127.0.0.1:{port}", "p", SECRET, RateLimiter(FAST))
        try:
            with pytest.raises(Rejected) as echoed:
                await provider.set_component("echo", Status.OPERATIONAL)
            with pytest.raises(Rejected) as moved:
                await provider.active_maintenance()
        finally:
            await provider.close()

    assert "bad Bearer [redacted] (BAD)" in str(echoed.value)
    assert "redirected to https://example.invalid/?key=***" in str(moved.value)
    for caught in (echoed, moved):
        assert SECRET not in str(caught.value) and SECRET not in repr(caught.value)


# -- the fake holds the line for the real API ----------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "reason"),
    [
        ("/incidents", {"status": "INVESTIGATING"}, "missing ['name']"),
        ("/incidents", {"name": "x", "status": "investigating"}, "invalid incident status"),
        ("/incidents", {"name": "x", "status": "RESOLVED", "impact": "MAJOR"}, "unknown fields"),
        (
            "/incidents",
            {"name": "x", "status": "INVESTIGATING", "statuses": [{"id": "C", "status": "X"}]},
            "is in statuses, not in components",
        ),
        (
            "/incidents",
            {"name": "x", "status": "INVESTIGATING", "components": ["C"]}
            | {"statuses": [{"id": "C", "status": "major_outage"}]},
            "invalid status 'major_outage'",
        ),
        ("/incidents", {"name": "x", "status": "RESOLVED", "started": "yesterday"}, "date-time"),
        ("/incidents/I/incident-updates", {"status": "MONITORING"}, "missing ['components'"),
        (
            "/incidents/I/incident-updates",
            {"status": "RESOLVED", "components": ["C"]}
            | {"statuses": [{"id": "C", "status": "MAJOROUTAGE"}]},
            "leaves every component OPERATIONAL",
        ),
        ("/components/C", {"status": "DOWN"}, "invalid status"),
    ],
)
async def test_the_fake_refuses_what_the_api_refuses(
    fake_instatus: FakeInstatus, path: str, body: dict[str, Any], reason: str
) -> None:
    remote = fake_instatus.add_component("Payment API")
    incident = fake_instatus.add_incident("by hand")
    path = path.replace("/I/", f"/{incident}/").replace("/C", f"/{remote}")
    body = json.loads(json.dumps(body).replace('"C"', f'"{remote}"'))
    method = "PUT" if path.startswith("/components") else "POST"
    headers = {"Authorization": f"Bearer {KEY}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        url = f"{fake_instatus.url}/v1/{PAGE}{path}"
        async with session.request(method, url, json=body) as response:
            assert response.status == 400
            error = (await response.json())["error"]
    assert error["code"] == "VALIDATION_ERROR" and reason in error["message"]
    assert [i["id"] for i in fake_instatus.incidents()] == [incident]
    assert len(fake_instatus.incident(incident)["updates"]) == 1
    assert fake_instatus.component(remote)["status"] == "OPERATIONAL"


# -- the real delivery worker against the fake ---------------------------------------------------


class Page(WorkerPage):
    """The daemon's side of publishing to Instatus."""

    PUBLISHER = "instatus"

    def provider(self, limiter: RateLimiter) -> InstatusProvider:
        return InstatusProvider(self.fake.url, PAGE, KEY, limiter, timeout=2.0)

    def ours(self) -> list[dict[str, Any]]:
        return [i for i in self.fake.incidents() if "[monitor:api:" in i["updates"][0]["message"]]

    def component(self) -> str:
        return str(self.fake.component(self.target.remote_id)["status"])


@pytest.fixture
async def page(tmp_path: Path, fake_instatus: FakeInstatus) -> AsyncIterator[Page]:
    page = Page(tmp_path / "m.db", fake_instatus)
    yield page
    await page.close()


async def test_a_full_outage_cycle_makes_one_incident(page: Page) -> None:
    page.start(monitoring_for=600.0)
    page.change(Status.PARTIAL_OUTAGE, "1 of 2 checks down")
    await eventually(lambda: len(page.ours()) == 1, "an incident")
    assert page.ours()[0]["name"] == "Api: partial outage"
    assert page.component() == "PARTIALOUTAGE"

    page.change(Status.MAJOR_OUTAGE, "all 2 checks down")
    await eventually(lambda: page.component() == "MAJOROUTAGE", "the update")
    page.change(Status.OPERATIONAL, "all 2 checks up")
    await eventually(lambda: page.ours()[0]["status"] == "MONITORING", "monitoring")
    assert page.component() == "OPERATIONAL", "operational at once on recovery"
    await page.later(600.0, lambda: page.ours()[0]["status"] == "RESOLVED", "resolution")

    (incident,) = page.ours()
    statuses = [u["status"] for u in incident["updates"]]
    assert statuses == ["INVESTIGATING", "INVESTIGATING", "MONITORING", "RESOLVED"]
    assert incident["updates"][0]["message"].startswith("We are investigating a partial outage")
    assert page.component() == "OPERATIONAL" and page.pending() == 0


async def test_a_crash_after_the_page_accepted_the_create_adopts_instead_of_doubling(
    page: Page,
) -> None:
    page.start(monitoring_for=0.0)
    await eventually(lambda: len(page.fake.requests("GET")) >= 2, "the reconcile")
    page.fake.hang_next(1, accept=True, method="POST", path="*/incidents")
    page.change(Status.MAJOR_OUTAGE)
    await asyncio.to_thread(page.fake.wait_held, 1)
    await page.crash()  # the page has the incident; we never saw its id
    assert len(page.ours()) == 1
    page.fake.release()

    page.start(monitoring_for=0.0)  # the restart
    page.change(Status.OPERATIONAL)
    await eventually(lambda: page.ours()[0]["status"] == "RESOLVED", "the adopted one resolved")
    assert len(page.ours()) == 1, "adopted, not doubled"
    assert len(page.fake.requests("POST", "*/incidents")) == 1
    assert page.component() == "OPERATIONAL" and page.pending() == 0
