"""What every provider does alike over HTTP, run once per fake page (Statuspage, Instatus,
Cachet): rate limits and Retry-After, status codes, a bad key, a wrong page, refusals, no answer,
no server, the limiter's pace, a create accepted then lost, the key in no message. Each
provider's own requests and answers are in its file (test_statuspage_provider.py, ...).

Waits that the limiter makes are on a `Clock` the test moves, not in real seconds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from monitor.publishers.base import (
    NotFound,
    Provider,
    PublishError,
    RateLimited,
    RateLimiter,
    Rejected,
    RemoteComponent,
    Transient,
    Unauthorized,
)
from monitor.publishers.cachet import CachetProvider
from monitor.publishers.instatus import InstatusProvider
from monitor.publishers.statuspage import StatuspageProvider
from monitor.state import Status
from tests.fake_cachet import FakeCachet
from tests.fake_instatus import FakeInstatus
from tests.fake_page import FakePage
from tests.fake_statuspage import FakeStatuspage
from tests.probe_servers import closed_port
from tests.provider_helpers import FAST, KEY, Clock, incident_request

SECRET = "sk-live-0123456789abcdef"
OUR_KEY = "payment-api:1767225600000"


@dataclass(frozen=True)
class Kind:
    """One provider and its fake page, and the little that differs between them here."""

    name: str
    fake: Callable[[], FakePage]
    provider: Callable[..., Provider]  # (url, page_id, key, limiter, *, timeout)
    page_id: str | None
    api_path: str  # below the server's root, for a url of our own
    unresolved_path: str  # the first request of unresolved_incidents(), as messages name it
    scripted: str  # the page's words for a scripted failure
    unauthorized: str  # ... for a bad key
    unknown_component: str  # a component id the page does not have
    refused: tuple[int, str]  # a create for it: the status and the page's words
    set_method: str  # of set_component
    untouched: Any  # a new component's status on the fake
    paced_requests: int  # what test_the_limiter_spaces_every_request_including_pages sends

    def wrong_page(self, fake: FakePage) -> tuple[str, str | None]:
        """A url and page id that reach the fake but no page on it."""
        if self.page_id is None:  # Cachet has no page id: another API version's base
            return fake.url.replace("/api/v1", "/api/v2"), None
        return fake.url, "other"


KINDS = {
    "statuspage": Kind(
        name="statuspage",
        fake=FakeStatuspage,
        provider=StatuspageProvider,
        page_id="page1",
        api_path="/v1",
        unresolved_path="/incidents/unresolved",
        scripted="scripted failure",
        unauthorized="Could not authenticate",
        unknown_component="nosuchcomponent",
        refused=(422, "unknown component id 'nosuchcomponent'"),
        set_method="PATCH",
        untouched="operational",
        paced_requests=4,  # components: 2 pages; set; unresolved: 1 page
    ),
    "instatus": Kind(
        name="instatus",
        fake=FakeInstatus,
        provider=InstatusProvider,
        page_id="page1",
        api_path="",
        unresolved_path="/incidents",
        scripted="scripted failure (TEST)",
        unauthorized="Invalid or missing API key",
        unknown_component="nosuchcomponent",
        refused=(400, "unknown component 'nosuchcomponent' (VALIDATION_ERROR)"),
        set_method="PUT",
        untouched="OPERATIONAL",
        paced_requests=4,  # components: 2 pages; set; unresolved: 1 page
    ),
    "cachet": Kind(
        name="cachet",
        fake=FakeCachet,
        provider=CachetProvider,
        page_id=None,
        api_path="/api/v1",
        unresolved_path="/incidents",
        scripted="scripted failure",
        unauthorized="You are not authorized",
        unknown_component="12345",
        refused=(400, "no component 12345"),
        set_method="PUT",
        untouched=1,
        paced_requests=7,  # components: 2 pages, groups; set; unresolved: one per status
    ),
}


@pytest.fixture(params=list(KINDS))
def kind(request: pytest.FixtureRequest) -> Kind:
    return KINDS[request.param]


@pytest.fixture
def fake(kind: Kind) -> Iterator[FakePage]:
    page = kind.fake().start()
    yield page
    page.stop()


def make(
    kind: Kind,
    fake: FakePage,
    *,
    key: str = KEY,
    limiter: RateLimiter | None = None,
    timeout: float = 2.0,
) -> Provider:
    limiter = limiter or RateLimiter(FAST)
    return kind.provider(fake.url, kind.page_id, key, limiter, timeout=timeout)


@asynccontextmanager
async def opened(*providers: Provider) -> AsyncIterator[None]:
    try:
        yield
    finally:
        for provider in providers:
            await provider.close()


@pytest.fixture
async def provider(kind: Kind, fake: FakePage) -> AsyncIterator[Provider]:
    made = make(kind, fake)
    async with opened(made):
        yield made


# -- rate limits -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "header", "retry_after"),
    [(420, 7, 7.0), (429, 0.25, 0.25), (429, None, None)]
    + [(429, "Wed, 21 Oct 2026", None), (429, "Wed, 21 Oct", None)],
)
async def test_rate_limits_carry_retry_after(
    fake: FakePage,
    provider: Provider,
    status: int,
    header: float | str | None,
    retry_after: float | None,
) -> None:
    fake.fail_next(status=status, retry_after=header)

    with pytest.raises(RateLimited) as caught:
        await provider.set_component(fake.add_component("x"), Status.OPERATIONAL)

    assert (caught.value.status, caught.value.retry_after) == (status, retry_after)


async def test_a_rate_limit_pauses_everyone_on_the_key(kind: Kind, fake: FakePage) -> None:
    clock = Clock()
    fake.clock = clock
    limiter = RateLimiter(FAST, clock=clock, sleep=clock.sleep)
    first, second = make(kind, fake, limiter=limiter), make(kind, fake, limiter=limiter)
    remote = fake.add_component("x")
    fake.fail_next(status=429, retry_after=30)
    async with opened(first, second):
        with pytest.raises(RateLimited):
            await first.set_component(remote, Status.OPERATIONAL)
        await second.set_component(remote, Status.OPERATIONAL)

    limited, after = fake.requests()
    assert after.at - limited.at >= 30


async def test_the_limiter_spaces_every_request_including_pages(kind: Kind, fake: FakePage) -> None:
    clock = Clock()
    fake.clock = clock
    for n in range(150):
        fake.add_component(f"c{n}")
    provider = make(kind, fake, limiter=RateLimiter(0.1, clock=clock, sleep=clock.sleep))
    async with opened(provider):
        await provider.components()
        await provider.set_component(fake.add_component("x"), Status.OPERATIONAL)
        await provider.unresolved_incidents()

    times = [seen.at for seen in fake.requests()]
    assert len(times) == kind.paced_requests
    assert min(b - a for a, b in zip(times, times[1:], strict=False)) >= 9.5  # 10 s apart


class LeaseLost(Exception):
    """What a cluster node's gate raises when its lease would not outlive the request."""


async def test_a_gate_that_raises_stops_the_request(kind: Kind, fake: FakePage) -> None:
    clock = Clock()
    limiter = RateLimiter(0.1, clock=clock, sleep=clock.sleep)  # a turn every 10 s
    provider = make(kind, fake, limiter=limiter)
    remote = fake.add_component("x")
    asked: list[str] = []

    def gate() -> None:
        asked.append("asked")
        raise LeaseLost("the lease ends before the request's timeout")

    limiter.gate = gate
    async with opened(provider):
        with pytest.raises(LeaseLost, match="the lease ends"):
            await provider.set_component(remote, Status.OPERATIONAL)
        stopped = (fake.requests(), limiter.pause_left())
        limiter.gate = None
        await provider.set_component(remote, Status.OPERATIONAL)

    assert asked == ["asked"]
    assert stopped == ([], 0.0)  # nothing reached the page, and the turn was not taken
    assert [seen.method for seen in fake.requests()] == [kind.set_method]
    assert limiter.pause_left() > 9  # the request that went took its turn


# -- what the page says ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error"),
    [(500, Transient), (502, Transient), (503, Transient), (408, Transient)]
    + [(401, Unauthorized), (403, Unauthorized), (404, NotFound)]
    + [(400, Rejected), (409, Rejected), (422, Rejected)],
)
async def test_status_codes_map_to_typed_errors(
    kind: Kind, fake: FakePage, provider: Provider, status: int, error: type[PublishError]
) -> None:
    fake.fail_next(status=status)

    with pytest.raises(PublishError) as caught:
        await provider.unresolved_incidents()

    assert type(caught.value) is error
    assert caught.value.status == status
    where = f"{kind.name}: GET {kind.unresolved_path}"
    assert f"{where}: {status}: {kind.scripted}" in str(caught.value)


async def test_a_bad_key_is_unauthorized(kind: Kind, fake: FakePage, provider: Provider) -> None:
    fake.api_key = "rotated"

    with pytest.raises(Unauthorized, match=f"401: {kind.unauthorized}"):
        await provider.components()


async def test_a_wrong_page_is_not_found(kind: Kind, fake: FakePage) -> None:
    url, page_id = kind.wrong_page(fake)
    provider = kind.provider(url, page_id, KEY, RateLimiter(FAST))
    async with opened(provider):
        with pytest.raises(NotFound):
            await provider.components()


async def test_a_refusal_carries_the_pages_message(
    kind: Kind, fake: FakePage, provider: Provider
) -> None:
    with pytest.raises(Rejected) as caught:
        await provider.create_incident(incident_request(kind.unknown_component, OUR_KEY))

    status, words = kind.refused
    assert caught.value.status == status
    assert words in str(caught.value)
    assert not isinstance(caught.value, NotFound)
    assert fake.incidents() == []


# -- no answer, no server --------------------------------------------------------------------


async def test_a_server_that_never_answers_is_transient_within_the_timeout(
    kind: Kind, fake: FakePage
) -> None:
    provider = make(kind, fake, timeout=0.3)
    fake.hang_next()
    started = time.monotonic()
    async with opened(provider):
        with pytest.raises(Transient, match="no answer within 0.3 s"):
            await provider.components()
    assert time.monotonic() - started < 2.0


async def test_a_refused_connection_is_transient(kind: Kind) -> None:
    url = f"http://127.0.0.1:{closed_port()}{kind.api_path}"
    provider = kind.provider(url, kind.page_id, KEY, RateLimiter(FAST))
    async with opened(provider):
        with pytest.raises(Transient) as caught:
            await provider.components()
    assert caught.value.status is None


async def test_a_slow_answer_within_the_deadline_is_fine(
    fake: FakePage, provider: Provider
) -> None:
    fake.add_component("Payment API")
    fake.delay_next(1, 0.2)
    started = time.monotonic()

    assert [c.name for c in await provider.components()] == ["Payment API"]
    assert time.monotonic() - started >= 0.2


async def test_accept_then_hang_leaves_an_incident_findable_by_its_key(
    kind: Kind, fake: FakePage
) -> None:
    """The crash window of a create: the page has it, we never heard its id."""
    remote = fake.add_component("Payment API")
    creator = make(kind, fake, timeout=0.3)
    reader = make(kind, fake)
    fake.hang_next(accept=True, method="POST")
    async with opened(creator, reader):
        with pytest.raises(Transient):
            await creator.create_incident(incident_request(remote, OUR_KEY))
        found = await reader.unresolved_incidents()

    assert [(i.component, i.key) for i in found] == [("payment-api", OUR_KEY)]
    assert fake.holds == 1


async def test_a_held_request_released_without_effect_is_a_503(
    kind: Kind, fake: FakePage, provider: Provider
) -> None:
    remote = fake.add_component("Payment API")
    fake.hang_next(method=kind.set_method)
    call = asyncio.create_task(provider.set_component(remote, Status.MAJOR_OUTAGE))
    await asyncio.to_thread(fake.wait_held, 1)
    assert not call.done()

    fake.release()

    with pytest.raises(Transient) as caught:
        await call
    assert caught.value.status == 503
    assert fake.component(remote)["status"] == kind.untouched


def test_usable_from_sync_code(kind: Kind, fake: FakePage) -> None:
    """Built outside any loop (as the CLI does), used inside one."""
    provider = make(kind, fake)
    fake.add_component("Payment API")

    async def main() -> list[RemoteComponent]:
        async with opened(provider):
            return await provider.components()

    assert [c.name for c in asyncio.run(main())] == ["Payment API"]
    assert len(fake.wait_requests(1, path="*/components")) == 1


# -- the key ---------------------------------------------------------------------------------


async def test_the_key_is_in_no_message_of_any_fake_failure(kind: Kind, fake: FakePage) -> None:
    fake.api_key = SECRET
    provider = make(kind, fake, key=SECRET, timeout=0.3)
    messages = []
    async with opened(provider):
        for status in (401, 404, 420, 429, 400, 422, 500, None):
            if status is None:
                fake.hang_next()
            else:
                fake.fail_next(status=status, retry_after=0)
            with pytest.raises(PublishError) as caught:
                await provider.components()
            messages.append(str(caught.value))
        with pytest.raises(Rejected) as refused:
            await provider.create_incident(incident_request(kind.unknown_component, OUR_KEY))
        messages.append(str(refused.value))

    assert len(messages) == 9
    assert not any(SECRET in message for message in messages)
