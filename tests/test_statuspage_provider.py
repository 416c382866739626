"""The Statuspage provider against the fake Statuspage on loopback, and the fake against the API
facts it enforces (so a provider test that passes means the real API would accept the request).
What every provider does alike over HTTP (rate limits, status codes, timeouts, the limiter, the
key in no message) is tested once for all three in test_provider_http.py."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
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
from monitor.publishers.statuspage import StatuspageProvider
from monitor.state import Status
from tests.fake_statuspage import FakeStatuspage, fake_statuspage_fixture  # noqa: F401
from tests.probe_servers import http_server
from tests.provider_helpers import FAST, KEY, incident_request

PAGE = "page1"


def request(remote: str, **changes: Any) -> IncidentRequest:
    return incident_request(remote, "payment-api/1767225600", **changes)


@pytest.fixture
async def provider(fake_statuspage: FakeStatuspage) -> AsyncIterator[StatuspageProvider]:
    p = StatuspageProvider(fake_statuspage.url, PAGE, KEY, RateLimiter(FAST), timeout=2.0)
    yield p
    await p.close()


async def test_create_incident_sends_a_component_map_and_our_metadata(
    fake_statuspage: FakeStatuspage, provider: StatuspageProvider
) -> None:
    remote = fake_statuspage.add_component("Payment API")

    incident_id = await provider.create_incident(request(remote, notify=False))

    [seen] = fake_statuspage.requests("POST")
    assert seen.path == f"/pages/{PAGE}/incidents"
    assert seen.authorization == f"OAuth {KEY}"
    assert seen.json == {
        "incident": {
            "name": "Payment API: partial outage",
            "status": "investigating",
            "body": "healthz fails: connection refused",
            "impact_override": "major",
            "components": {remote: "partial_outage"},
            "component_ids": [remote],
            "deliver_notifications": False,
            "metadata": {"monitor": {"component": "payment-api", "key": "payment-api/1767225600"}},
        }
    }
    stored = fake_statuspage.incident(incident_id)
    assert stored["status"] == "investigating"
    assert [u["components"] for u in stored["updates"]] == [{remote: "partial_outage"}]
    assert fake_statuspage.component(remote)["status"] == "partial_outage"


async def test_long_name_and_body_are_cut_to_the_api_limits(
    fake_statuspage: FakeStatuspage, provider: StatuspageProvider
) -> None:
    remote = fake_statuspage.add_component("Payment API")

    incident_id = await provider.create_incident(request(remote, name="n" * 300, body="b" * 30_000))

    stored = fake_statuspage.incident(incident_id)
    assert len(stored["name"]) == 255 and stored["name"].startswith("nnn")
    assert len(stored["updates"][0]["body"]) == 25_000


async def test_backfill_is_resolved_dated_and_has_no_components(
    fake_statuspage: FakeStatuspage, provider: StatuspageProvider
) -> None:
    remote = fake_statuspage.add_component("Payment API")
    started = 1767323045.0  # 2026-01-02T03:04:05Z

    incident_id = await provider.create_incident(request(remote, backfill_date=started))

    [seen] = fake_statuspage.requests("POST")
    sent = seen.json["incident"]
    assert sent["backfilled"] is True
    assert sent["backfill_date"] == "2026-01-02T03:04:05Z"
    assert sent["status"] == "resolved"
    assert "components" not in sent and "component_ids" not in sent
    assert sent["metadata"] == {"monitor": {"component": "payment-api", "key": request("").key}}
    assert fake_statuspage.incident(incident_id)["status"] == "resolved"
    assert fake_statuspage.component(remote)["status"] == "operational"  # history, not now


async def test_update_patches_status_body_and_components_but_keeps_the_name(
    fake_statuspage: FakeStatuspage, provider: StatuspageProvider
) -> None:
    remote = fake_statuspage.add_component("Payment API")
    incident_id = await provider.create_incident(request(remote))

    recovered = request(
        remote,
        name="a different title",
        status=IncidentStatus.MONITORING,
        body="recovered",
        component_status=Status.OPERATIONAL,
    )
    await provider.update_incident(incident_id, recovered)

    [seen] = fake_statuspage.requests("PATCH")
    assert seen.path == f"/pages/{PAGE}/incidents/{incident_id}"
    assert seen.json == {
        "incident": {
            "status": "monitoring",
            "body": "recovered",
            "impact_override": "major",
            "components": {remote: "operational"},
            "component_ids": [remote],
            "deliver_notifications": True,
        }
    }
    stored = fake_statuspage.incident(incident_id)
    assert stored["name"] == "Payment API: partial outage"
    assert [u["status"] for u in stored["updates"]] == ["investigating", "monitoring"]
    assert fake_statuspage.component(remote)["status"] == "operational"


async def test_set_component_patches_its_status(
    fake_statuspage: FakeStatuspage, provider: StatuspageProvider
) -> None:
    remote = fake_statuspage.add_component("Payment API")

    await provider.set_component(remote, Status.DEGRADED_PERFORMANCE)

    [seen] = fake_statuspage.requests()
    assert (seen.method, seen.path) == ("PATCH", f"/pages/{PAGE}/components/{remote}")
    assert seen.json == {"component": {"status": "degraded_performance"}}
    assert fake_statuspage.component(remote)["status"] == "degraded_performance"


async def test_unresolved_incidents_reads_every_page_and_our_metadata(
    fake_statuspage: FakeStatuspage, provider: StatuspageProvider
) -> None:
    for n in range(148):
        fake_statuspage.add_incident(f"by hand {n}")
    ours = fake_statuspage.add_incident(
        "ours", status="monitoring", metadata={"monitor": {"component": "db", "key": "db/1"}}
    )
    odd = fake_statuspage.add_incident("odd", metadata={"monitor": {"component": 7, "key": [1]}})
    fake_statuspage.add_incident("old", status="resolved")

    found = await provider.unresolved_incidents()

    assert len(found) == 150
    by_id = {incident.id: incident for incident in found}
    assert by_id[ours] == RemoteIncident(ours, "ours", "monitoring", "db", "db/1")
    assert (by_id[odd].component, by_id[odd].key) == (None, None)
    assert all(i.component is None for i in found if i.id not in (ours, odd))
    pages = [(s.path, s.query) for s in fake_statuspage.requests()]
    assert pages == [
        (f"/pages/{PAGE}/incidents/unresolved", {"page": "1", "per_page": "100"}),
        (f"/pages/{PAGE}/incidents/unresolved", {"page": "2", "per_page": "100"}),
    ]


async def test_get_incident_and_a_missing_one(
    fake_statuspage: FakeStatuspage, provider: StatuspageProvider
) -> None:
    remote = fake_statuspage.add_component("Payment API")
    incident_id = await provider.create_incident(request(remote))

    got = await provider.get_incident(incident_id)

    assert got == RemoteIncident(
        incident_id, "Payment API: partial outage", "investigating", "payment-api", request("").key
    )
    with pytest.raises(NotFound) as caught:
        await provider.get_incident("nosuchthing")
    assert caught.value.status == 404


async def test_components_reads_250_in_pages_and_names_their_groups(
    fake_statuspage: FakeStatuspage, provider: StatuspageProvider
) -> None:
    backend = fake_statuspage.add_group("Backend")
    edge = fake_statuspage.add_group("Edge")
    for n in range(248):
        fake_statuspage.add_component(f"service {n}", group_id=(backend, edge, None)[n % 3])

    found = await provider.components()

    assert len(found) == 250
    assert found[0] == RemoteComponent(backend, "Backend", "operational", None, is_group=True)
    assert [c.group for c in found[2:5]] == ["Backend", "Edge", None]
    assert sum(c.is_group for c in found) == 2
    assert [s.query for s in fake_statuspage.requests()] == [
        {"page": str(n), "per_page": "100"} for n in (1, 2, 3)
    ]


async def test_active_maintenance_is_the_components_of_maintenances_in_progress(
    fake_statuspage: FakeStatuspage, provider: StatuspageProvider
) -> None:
    a, b, c = (fake_statuspage.add_component(name) for name in "abc")
    fake_statuspage.add_maintenance([a, b])
    fake_statuspage.resolve(fake_statuspage.add_maintenance([c]))

    assert await provider.active_maintenance() == {a, b}
    [seen] = fake_statuspage.requests()
    assert seen.path == f"/pages/{PAGE}/incidents/active_maintenance"
    assert seen.query == {"page": "1", "per_page": "100"}


# -- odd servers: what the fake does not do ---------------------------------------------------

SECRET = "sk-live-0123456789abcdef"


def odd_app() -> web.Application:
    async def echo_key(request: web.Request) -> web.Response:
        return web.json_response({"error": f"bad {request.headers['Authorization']}"}, status=422)

    async def same_page(request: web.Request) -> web.Response:  # ignores ?page=
        return web.json_response([{"id": f"c{n}", "name": f"c{n}"} for n in range(100)])

    async def html(request: web.Request) -> web.Response:
        return web.Response(text="<html>maintenance</html>", content_type="text/html")

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently(f"https://example.invalid/?key={SECRET}")

    app = web.Application()
    app.router.add_patch("/v1/pages/p/components/echo", echo_key)
    app.router.add_get("/v1/pages/p/components", same_page)
    app.router.add_get("/v1/pages/p/incidents/unresolved", html)
    app.router.add_get("/v1/pages/p/incidents/active_maintenance", moved)
    return app


@pytest.fixture
async def odd_provider() -> AsyncIterator[StatuspageProvider]:
    async with http_server(odd_app()) as port:
        url = f"http://127.0.0.1:{port}/v1"
        provider = StatuspageProvider(url, "p", SECRET, RateLimiter(FAST))
        yield provider
        await provider.close()


async def test_the_key_is_in_no_message_even_when_the_page_echoes_it(
    odd_provider: StatuspageProvider,
) -> None:
    with pytest.raises(Rejected) as echoed:
        await odd_provider.set_component("echo", Status.OPERATIONAL)
    with pytest.raises(Rejected) as moved:
        await odd_provider.active_maintenance()

    assert "bad OAuth [redacted]" in str(echoed.value)
    assert "redirected to https://example.invalid/?key=***" in str(moved.value)
    for caught in (echoed, moved):
        assert SECRET not in str(caught.value) and SECRET not in repr(caught.value)


async def test_a_server_ignoring_pages_does_not_loop_forever(
    odd_provider: StatuspageProvider,
) -> None:
    assert len(await odd_provider.components()) == 100


async def test_a_2xx_that_is_not_json_is_transient(odd_provider: StatuspageProvider) -> None:
    with pytest.raises(Transient, match="not JSON"):
        await odd_provider.unresolved_incidents()


# -- the fake holds the line for the real API ----------------------------------------------------


@pytest.mark.parametrize(
    ("incident", "reason"),
    [
        ({"status": "investigating"}, "incident name can't be blank"),
        ({"name": "x", "components": ["C"]}, "components must be a map of component id to status"),
        ({"name": "x", "status": "down"}, "status 'down' is not an incident status"),
        ({"name": "x", "components": {"C": "down"}}, "'down' is not a component status"),
        ({"name": "x", "metadata": {"monitor": "x"}}, "every top-level value must be an object"),
        ({"name": "x", "components": {"nope": "major_outage"}}, "unknown component id 'nope'"),
        (
            {"name": "x", "backfilled": True, "backfill_date": "2026-01-02T03:04:05Z"}
            | {"component_ids": ["C"]},
            "components cannot be set on a backfilled incident",
        ),
        ({"name": "x", "backfilled": True, "backfill_date": "yesterday"}, "backfill_date"),
        ({"name": "x", "impact": "major"}, "unknown fields {'impact'}"),
    ],
)
async def test_the_fake_refuses_what_the_api_refuses(
    fake_statuspage: FakeStatuspage, incident: dict[str, Any], reason: str
) -> None:
    remote = fake_statuspage.add_component("Payment API")
    incident = json.loads(json.dumps(incident).replace('"C"', f'"{remote}"'))
    async with aiohttp.ClientSession(headers={"Authorization": f"OAuth {KEY}"}) as session:
        url = f"{fake_statuspage.url}/pages/{PAGE}/incidents"
        async with session.post(url, json={"incident": incident}) as response:
            assert response.status == 422
            assert reason in (await response.json())["message"]
    assert fake_statuspage.incidents() == []


async def test_the_fake_limits_unpaginated_component_lists(
    fake_statuspage: FakeStatuspage,
) -> None:
    async with aiohttp.ClientSession(headers={"Authorization": f"OAuth {KEY}"}) as session:
        url = f"{fake_statuspage.url}/pages/{PAGE}/components"
        statuses = []
        for _ in range(2):
            async with session.get(url) as response:
                statuses.append((response.status, response.headers.get("Retry-After")))
    assert statuses == [(200, None), (420, "60")]


async def test_what_the_page_says_reaches_no_message_with_a_password_or_query_value() -> None:
    """A redirect's Location and a page's error text end up in the log, `monitor status` and
    the database: no password or query value from them may."""

    async def redirect(_: web.Request) -> web.Response:
        location = "http://admin:hunter2@127.0.0.1/v1?token=abc123"
        return web.Response(status=302, headers={"Location": location}, text=location)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", redirect)
    async with http_server(app) as port:
        provider = StatuspageProvider(f"http://127.0.0.1:{port}/v1", PAGE, KEY, RateLimiter(FAST))
        try:
            with pytest.raises(Rejected) as caught:
                await provider.components()
        finally:
            await provider.close()
    message = str(caught.value)
    assert "redirected to http://admin:***@127.0.0.1/v1?token=***" in message
    assert "hunter2" not in message and "abc123" not in message
