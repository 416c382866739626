"""The Statuspage provider against the fake Statuspage on loopback, and the fake against the API
facts it enforces (so a provider test that passes means the real API would accept the request)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from monitor.publishers.base import (
    IncidentRequest,
    IncidentStatus,
    NotFound,
    PublishError,
    RateLimited,
    RateLimiter,
    Rejected,
    RemoteComponent,
    RemoteIncident,
    Transient,
    Unauthorized,
)
from monitor.publishers.statuspage import StatuspageProvider
from monitor.state import Status
from tests.fake_statuspage import FakeStatuspage, fake_statuspage_fixture  # noqa: F401
from tests.probe_servers import closed_port, http_server
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


@pytest.mark.parametrize(
    ("status", "header", "retry_after"),
    [(420, 7, 7.0), (429, 0.25, 0.25), (429, None, None), (429, "Wed, 21 Oct 2026", None)],
)
async def test_rate_limits_carry_retry_after(
    fake_statuspage: FakeStatuspage,
    provider: StatuspageProvider,
    status: int,
    header: float | str | None,
    retry_after: float | None,
) -> None:
    fake_statuspage.fail_next(status=status, retry_after=header)

    with pytest.raises(RateLimited) as caught:
        await provider.set_component(fake_statuspage.add_component("x"), Status.OPERATIONAL)

    assert (caught.value.status, caught.value.retry_after) == (status, retry_after)


async def test_a_rate_limit_pauses_everyone_on_the_key(fake_statuspage: FakeStatuspage) -> None:
    limiter = RateLimiter(FAST)
    first = StatuspageProvider(fake_statuspage.url, PAGE, KEY, limiter)
    second = StatuspageProvider(fake_statuspage.url, PAGE, KEY, limiter)
    fake_statuspage.fail_next(status=429, retry_after=0.3)
    try:
        with pytest.raises(RateLimited):
            await first.components()
        await second.components()
    finally:
        await first.close()
        await second.close()

    limited, after = fake_statuspage.requests()
    assert after.at - limited.at >= 0.29


@pytest.mark.parametrize(
    ("status", "error"),
    [(500, Transient), (503, Transient), (401, Unauthorized), (403, Unauthorized)]
    + [(404, NotFound), (400, Rejected), (422, Rejected)],
)
async def test_status_codes_map_to_typed_errors(
    fake_statuspage: FakeStatuspage,
    provider: StatuspageProvider,
    status: int,
    error: type[PublishError],
) -> None:
    fake_statuspage.fail_next(status=status, path="*/incidents/unresolved")

    with pytest.raises(PublishError) as caught:
        await provider.unresolved_incidents()

    assert type(caught.value) is error
    assert caught.value.status == status


async def test_a_bad_key_is_unauthorized(
    fake_statuspage: FakeStatuspage, provider: StatuspageProvider
) -> None:
    fake_statuspage.api_key = "rotated"

    with pytest.raises(Unauthorized, match="401: Could not authenticate"):
        await provider.components()


async def test_a_wrong_page_is_not_found(fake_statuspage: FakeStatuspage) -> None:
    provider = StatuspageProvider(fake_statuspage.url, "other", KEY, RateLimiter(FAST))
    try:
        with pytest.raises(NotFound):
            await provider.components()
    finally:
        await provider.close()


async def test_a_refusal_carries_the_pages_message(
    fake_statuspage: FakeStatuspage, provider: StatuspageProvider
) -> None:
    with pytest.raises(Rejected) as caught:
        await provider.create_incident(request("nosuchcomponent"))

    assert caught.value.status == 422
    assert "unknown component id 'nosuchcomponent'" in str(caught.value)
    assert not isinstance(caught.value, NotFound)


async def test_a_server_that_never_answers_is_transient_within_the_timeout(
    fake_statuspage: FakeStatuspage,
) -> None:
    provider = StatuspageProvider(fake_statuspage.url, PAGE, KEY, RateLimiter(FAST), timeout=0.3)
    fake_statuspage.hang_next()
    started = time.monotonic()
    try:
        with pytest.raises(Transient, match="no answer within 0.3 s"):
            await provider.components()
    finally:
        await provider.close()
    assert time.monotonic() - started < 2.0


async def test_a_refused_connection_is_transient() -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    provider = StatuspageProvider(url, PAGE, KEY, RateLimiter(FAST))
    try:
        with pytest.raises(Transient) as caught:
            await provider.components()
    finally:
        await provider.close()
    assert caught.value.status is None


async def test_the_limiter_spaces_every_request_including_pages(
    fake_statuspage: FakeStatuspage,
) -> None:
    for n in range(150):
        fake_statuspage.add_component(f"c{n}")
    provider = StatuspageProvider(fake_statuspage.url, PAGE, KEY, RateLimiter(20))  # 50 ms
    try:
        await provider.components()
        await provider.set_component(fake_statuspage.add_component("x"), Status.OPERATIONAL)
        await provider.unresolved_incidents()
    finally:
        await provider.close()

    times = [seen.at for seen in fake_statuspage.requests()]
    assert len(times) == 4
    assert min(b - a for a, b in zip(times, times[1:], strict=False)) >= 0.045


async def test_accept_then_hang_leaves_an_incident_findable_by_its_key(
    fake_statuspage: FakeStatuspage,
) -> None:
    """The crash window of a create: the page has it, we never heard its id."""
    remote = fake_statuspage.add_component("Payment API")
    provider = StatuspageProvider(fake_statuspage.url, PAGE, KEY, RateLimiter(FAST), timeout=0.3)
    fake_statuspage.hang_next(accept=True, method="POST")
    try:
        with pytest.raises(Transient):
            await provider.create_incident(request(remote))
        found = await provider.unresolved_incidents()
    finally:
        await provider.close()

    assert [(i.component, i.key) for i in found] == [("payment-api", request("").key)]
    assert fake_statuspage.holds == 1


async def test_a_slow_answer_within_the_deadline_is_fine(
    fake_statuspage: FakeStatuspage, provider: StatuspageProvider
) -> None:
    fake_statuspage.add_component("Payment API")
    fake_statuspage.delay_next(1, 0.2)
    started = time.monotonic()

    assert [c.name for c in await provider.components()] == ["Payment API"]
    assert time.monotonic() - started >= 0.2


async def test_a_held_request_released_without_effect_is_a_503(
    fake_statuspage: FakeStatuspage, provider: StatuspageProvider
) -> None:
    remote = fake_statuspage.add_component("Payment API")
    fake_statuspage.hang_next(method="PATCH")
    call = asyncio.create_task(provider.set_component(remote, Status.MAJOR_OUTAGE))
    await asyncio.to_thread(fake_statuspage.wait_held, 1)
    assert not call.done()

    fake_statuspage.release()

    with pytest.raises(Transient) as caught:
        await call
    assert caught.value.status == 503
    assert fake_statuspage.component(remote)["status"] == "operational"


def test_usable_from_sync_code(fake_statuspage: FakeStatuspage) -> None:
    """Built outside any loop (as the CLI does), used inside one."""
    provider = StatuspageProvider(fake_statuspage.url, PAGE, KEY, RateLimiter(FAST))
    fake_statuspage.add_component("Payment API")

    async def main() -> list[RemoteComponent]:
        try:
            return await provider.components()
        finally:
            await provider.close()

    assert [c.name for c in asyncio.run(main())] == ["Payment API"]
    assert len(fake_statuspage.wait_requests(1, path="*/components")) == 1


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


async def test_the_key_is_in_no_message_of_any_fake_failure(
    fake_statuspage: FakeStatuspage,
) -> None:
    provider = StatuspageProvider(fake_statuspage.url, PAGE, SECRET, RateLimiter(FAST), timeout=0.3)
    messages = []
    try:
        for status in (401, 404, 420, 422, 500, None):
            if status is None:
                fake_statuspage.hang_next()
            else:
                fake_statuspage.fail_next(status=status, retry_after=0)
            with pytest.raises(PublishError) as caught:
                await provider.components()
            messages.append(str(caught.value))
    finally:
        await provider.close()

    assert len(messages) == 6
    assert not any(SECRET in message for message in messages)


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
