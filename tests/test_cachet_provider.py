"""The Cachet 2.x provider against the fake Cachet on loopback, and through the real delivery
worker (writer, SQLite file, planner) for a whole outage and a crash after the create. What
every provider does alike over HTTP is tested once for all three in test_provider_http.py."""

from __future__ import annotations

import asyncio
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
)
from monitor.publishers.cachet import CachetProvider, marker, version_from_url
from monitor.state import Status
from tests.fake_cachet import FakeCachet, fake_cachet_fixture  # noqa: F401
from tests.probe_servers import http_server
from tests.provider_helpers import FAST, KEY, WorkerPage, eventually, incident_request

OURS = "[monitor]: # (payment-api payment-api:1767225600000)"


def request(remote: str, **changes: Any) -> IncidentRequest:
    return incident_request(remote, "payment-api:1767225600000", **changes)


@pytest.fixture
async def provider(fake_cachet: FakeCachet) -> AsyncIterator[CachetProvider]:
    p = CachetProvider(fake_cachet.url, None, KEY, RateLimiter(FAST), timeout=2.0)
    yield p
    await p.close()


def test_the_url_tells_the_version() -> None:
    assert version_from_url("https://status.example.com/api/v1") == 2
    assert version_from_url("https://status.example.com/api/v1/") == 2
    assert version_from_url("https://status.example.com/api") == 3
    with pytest.raises(ValueError, match="ends in /api/v1"):
        version_from_url("https://status.example.com/")
    with pytest.raises(ValueError, match="3.x is not supported yet"):
        CachetProvider("https://status.example.com/api", None, KEY, RateLimiter(1), version=3)


async def test_create_sends_numbers_the_component_and_our_marker(
    fake_cachet: FakeCachet, provider: CachetProvider
) -> None:
    remote = fake_cachet.add_component("Payment API")

    incident_id = await provider.create_incident(request(remote, notify=False))

    [seen] = fake_cachet.requests()
    assert (seen.method, seen.path, seen.token) == ("POST", "/incidents", KEY)
    assert seen.json == {
        "name": "Payment API: partial outage",
        "message": f"healthz fails: connection refused\n\n{OURS}",
        "status": 1,
        "visible": 1,
        "notify": False,
        "component_id": int(remote),
        "component_status": 3,
    }
    assert fake_cachet.incident(incident_id)["status"] == 1
    assert fake_cachet.component(remote)["status"] == 3


async def test_a_long_name_is_cut_to_255(fake_cachet: FakeCachet, provider: CachetProvider) -> None:
    remote = fake_cachet.add_component("Payment API")

    incident_id = await provider.create_incident(request(remote, name="n" * 300))

    assert len(fake_cachet.incident(incident_id)["name"]) == 255


async def test_backfill_is_fixed_dated_quiet_and_has_no_component(
    fake_cachet: FakeCachet, provider: CachetProvider
) -> None:
    remote = fake_cachet.add_component("Payment API")

    incident_id = await provider.create_incident(request(remote, backfill_date=1767323045.0))

    [seen] = fake_cachet.requests()
    assert seen.json["status"] == 4 and seen.json["notify"] is False
    assert seen.json["occurred_at"] == "2026-01-02 03:04"  # UTC
    assert "component_id" not in seen.json and "component_status" not in seen.json
    assert seen.json["message"].endswith(OURS)
    assert fake_cachet.incident(incident_id)["status"] == 4
    assert fake_cachet.component(remote)["status"] == 1  # history, not now


async def test_update_sets_the_component_then_posts_an_update(
    fake_cachet: FakeCachet, provider: CachetProvider
) -> None:
    remote = fake_cachet.add_component("Payment API")
    incident_id = await provider.create_incident(request(remote))

    recovered = request(
        remote,
        name="a different title",
        status=IncidentStatus.MONITORING,
        body="recovered",
        component_status=Status.OPERATIONAL,
    )
    await provider.update_incident(incident_id, recovered)

    put, post = fake_cachet.requests()[1:]
    assert (put.method, put.path, put.json) == ("PUT", f"/components/{remote}", {"status": 1})
    assert (post.method, post.path) == ("POST", f"/incidents/{incident_id}/updates")
    assert post.json == {"status": 3, "message": "recovered"}
    stored = fake_cachet.incident(incident_id)
    assert stored["name"] == "Payment API: partial outage" and stored["status"] == 3
    assert stored["updates"] == [{"status": 3, "message": "recovered", "notify": True}]
    assert fake_cachet.component(remote)["status"] == 1


@pytest.mark.parametrize(
    ("status", "code"),
    [(Status.OPERATIONAL, 1), (Status.DEGRADED_PERFORMANCE, 2), (Status.PARTIAL_OUTAGE, 3)]
    + [(Status.MAJOR_OUTAGE, 4), (Status.UNDER_MAINTENANCE, 1)],
)
async def test_set_component_maps_our_statuses(
    fake_cachet: FakeCachet, provider: CachetProvider, status: Status, code: int
) -> None:
    remote = fake_cachet.add_component("Payment API", status=4)

    await provider.set_component(remote, status)

    [seen] = fake_cachet.requests()
    assert (seen.method, seen.path, seen.json) == ("PUT", f"/components/{remote}", {"status": code})
    assert fake_cachet.component(remote)["status"] == code


async def test_unresolved_reads_every_page_and_knows_ours_by_the_marker(
    fake_cachet: FakeCachet, provider: CachetProvider
) -> None:
    for n in range(148):
        fake_cachet.add_incident(f"by hand {n}")
    ours = fake_cachet.add_incident("ours", status=3, message=f"It broke.\n\n{OURS}")
    quoted = fake_cachet.add_incident("in a quote", status=2, message=f"see `{OURS}`")
    fake_cachet.add_incident("old", status=4, message=f"It broke.\n\n{OURS}")

    found = await provider.unresolved_incidents()

    assert len(found) == 150
    by_id = {incident.id: incident for incident in found}
    key = "payment-api:1767225600000"
    assert by_id[ours] == RemoteIncident(ours, "ours", "monitoring", "payment-api", key)
    assert (by_id[quoted].component, by_id[quoted].status) == (None, "identified")
    assert all(i.component is None for i in found if i.id != ours)
    assert [s.query for s in fake_cachet.requests()] == [
        {"status": str(status), "page": str(page), "per_page": "100"}
        for status, page in ((1, 1), (1, 2), (2, 1), (3, 1))
    ]


def test_the_marker_round_trips_any_component_id() -> None:
    from monitor.publishers.cachet import _ours

    line = marker("db (eu) #1", "db (eu) #1:1767225600000")
    assert "\n" not in line and line.count(" ") == 3
    assert _ours(f"Down.\n\n{line}\n") == ("db (eu) #1", "db (eu) #1:1767225600000")
    assert _ours("[monitor] by hand") == (None, None)


@pytest.mark.parametrize(
    ("code", "word"),
    [(1, "investigating"), (2, "identified"), (3, "monitoring"), (4, "resolved"), (9, "unknown")],
)
async def test_get_incident_speaks_our_words(
    fake_cachet: FakeCachet, provider: CachetProvider, code: int, word: str
) -> None:
    incident_id = fake_cachet.add_incident("x", status=code, message=OURS)

    got = await provider.get_incident(incident_id)

    assert got == RemoteIncident(incident_id, "x", word, "payment-api", "payment-api:1767225600000")


async def test_a_missing_incident_is_not_found(provider: CachetProvider) -> None:
    with pytest.raises(NotFound) as caught:
        await provider.get_incident("999")
    assert caught.value.status == 404


async def test_components_reads_every_page_and_names_groups(
    fake_cachet: FakeCachet, provider: CachetProvider
) -> None:
    backend = fake_cachet.add_group("Backend")
    for n in range(249):
        fake_cachet.add_component(f"s{n}", group_id=backend if n % 2 else None, status=n % 4 + 1)

    found = await provider.components()

    assert len(found) == 249
    assert found[:2] == [
        RemoteComponent(str(int(backend) + 1), "s0", "operational", None),
        RemoteComponent(str(int(backend) + 2), "s1", "degraded_performance", "Backend"),
    ]
    assert [c.status for c in found[2:4]] == ["partial_outage", "major_outage"]
    assert [(s.path, s.query["page"]) for s in fake_cachet.requests()] == [
        ("/components", "1"),
        ("/components", "2"),
        ("/components", "3"),
        ("/components/groups", "1"),
    ]


async def test_active_maintenance_is_the_components_of_schedules_in_progress(
    fake_cachet: FakeCachet, provider: CachetProvider
) -> None:
    a, b, c = (fake_cachet.add_component(name) for name in "abc")
    fake_cachet.add_schedule([a, b])
    fake_cachet.add_schedule([c], status=0)  # upcoming
    fake_cachet.add_schedule([c], status=2)  # complete

    assert await provider.active_maintenance() == {a, b}
    [seen] = fake_cachet.requests()
    assert (seen.path, seen.query) == (
        "/schedules",
        {"status": "1", "page": "1", "per_page": "100"},
    )


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"component_id": "C"}, "component_id and component_status go together"),
        ({"component_status": 3}, "component_id and component_status go together"),
        ({"component_id": "C", "component_status": 5}, "component_status must be an integer"),
        ({"status": 0}, "status must be an integer from 1 to 4"),
        ({"occurred_at": "2026-01-02T03:04:05Z"}, "Unable to pass timestamp"),
        ({"metadata": {}}, "unknown fields {'metadata'}"),
    ],
)
async def test_the_fake_refuses_what_cachet_refuses(
    fake_cachet: FakeCachet, body: dict[str, Any], reason: str
) -> None:
    remote = int(fake_cachet.add_component("Payment API"))
    sent = {"name": "x", "message": "y", "status": 1} | body
    sent = {k: remote if v == "C" else v for k, v in sent.items()}
    async with (
        aiohttp.ClientSession(headers={"X-Cachet-Token": KEY}) as session,
        session.post(f"{fake_cachet.url}/incidents", json=sent) as response,
    ):
        assert response.status == 400
        assert reason in (await response.json())["errors"][0]["detail"]
    assert fake_cachet.incidents() == []


# -- the key is in no message ----------------------------------------------------------------

SECRET = "ct-live-0123456789abcdef"


def odd_app() -> web.Application:
    async def echo_token(request: web.Request) -> web.Response:
        detail = f"bad token {request.headers['X-Cachet-Token']}"
        return web.json_response({"errors": [{"status": 422, "detail": detail}]}, status=422)

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently(f"https://example.invalid/?token={SECRET}")

    app = web.Application()
    app.router.add_put("/api/v1/components/1", echo_token)
    app.router.add_get("/api/v1/schedules", moved)
    return app


async def test_the_key_is_in_no_message_even_when_the_page_echoes_it() -> None:
    async with http_server(odd_app()) as port:
        odd = CachetProvider(f"http://127.0.0.1:{port}/api/v1", None, SECRET, RateLimiter(FAST))
        try:
            with pytest.raises(Rejected) as echoed:
                await odd.set_component("1", Status.OPERATIONAL)
            with pytest.raises(Rejected) as moved:
                await odd.active_maintenance()
        finally:
            await odd.close()

    assert "422: bad token [redacted]" in str(echoed.value)
    assert "redirected to https://example.invalid/?token=***" in str(moved.value)
    for caught in (echoed, moved):
        assert SECRET not in str(caught.value) and SECRET not in repr(caught.value)


# -- through the delivery worker ---------------------------------------------------------------

OP, PART, MAJ = Status.OPERATIONAL, Status.PARTIAL_OUTAGE, Status.MAJOR_OUTAGE


class Page(WorkerPage):
    """The daemon's side of publishing to Cachet."""

    PUBLISHER = "cachet"

    def provider(self, limiter: RateLimiter) -> CachetProvider:
        return CachetProvider(self.fake.url, None, KEY, limiter, timeout=2.0)

    async def reconciled(self) -> None:
        await eventually(lambda: len(self.fake.requests("GET", "/components/groups")) > 0, "sync")

    def ours(self) -> list[dict[str, Any]]:
        return [i for i in self.fake.incidents() if "[monitor]: # (api " in i["message"]]

    def component(self) -> int:
        return int(self.fake.component(self.target.remote_id)["status"])


@pytest.fixture
async def page(tmp_path: Path, fake_cachet: FakeCachet) -> AsyncIterator[Page]:
    page = Page(tmp_path / "m.db", fake_cachet)
    yield page
    await page.close()


async def test_a_full_outage_cycle_makes_one_incident(page: Page) -> None:
    page.start(monitoring_for=600.0)
    page.change(PART, "1 of 2 checks down")
    await eventually(lambda: len(page.ours()) == 1, "an incident")
    (incident,) = page.ours()
    assert incident["name"] == "Api: partial outage" and incident["status"] == 1
    assert incident["message"].startswith("We are investigating a partial outage of Api.")
    assert page.component() == 3

    page.change(MAJ, "all 2 checks down")
    await eventually(lambda: page.component() == 4, "escalation")
    page.change(OP, "all 2 checks up")
    await eventually(lambda: page.ours()[0]["status"] == 3, "watching")
    assert page.component() == 1, "operational at once on recovery"
    await page.later(600.0, lambda: page.ours()[0]["status"] == 4, "fixed")

    (incident,) = page.ours()
    assert [u["status"] for u in incident["updates"]] == [1, 3, 4]
    assert incident["updates"][-1]["message"] == "This incident has been resolved."
    assert page.pending() == 0


async def test_a_crash_after_the_page_took_the_post_adopts_instead_of_doubling(
    page: Page,
) -> None:
    page.start(monitoring_for=0.0)
    await page.reconciled()
    page.fake.hang_next(1, accept=True, method="POST", path="/incidents")
    page.change(MAJ)
    await asyncio.to_thread(page.fake.wait_held, 1)
    await page.crash()  # the page has the incident; we never saw its id
    assert len(page.ours()) == 1
    page.fake.release()

    page.start(monitoring_for=0.0)  # the restart
    page.change(OP)
    await eventually(lambda: page.ours()[0]["status"] == 4, "the adopted one fixed")
    assert len(page.ours()) == 1, "adopted, not doubled"
    assert [u["status"] for u in page.ours()[0]["updates"]] == [4]
    assert page.component() == 1
