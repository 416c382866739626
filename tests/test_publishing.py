"""Delivery to a fake Statuspage: the real worker, writer, SQLite file and provider, in-process."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from monitor.delivery import Delivery
from monitor.incidents import Planner, Target
from monitor.ledger import SqliteLedger
from monitor.publishers.base import MAX_PAUSE, RateLimiter
from monitor.publishers.statuspage import StatuspageProvider
from monitor.publishing import PageMaintenance, publish
from monitor.state import ComponentStatus, ComponentTransition, Status
from monitor.store import Store, save_outbox_entry
from monitor.writer import Writer

from .fake_statuspage import FakeStatuspage, fake_statuspage_fixture  # noqa: F401
from .provider_helpers import eventually

OP, DEG, PART, MAJ = (
    Status.OPERATIONAL,
    Status.DEGRADED_PERFORMANCE,
    Status.PARTIAL_OUTAGE,
    Status.MAJOR_OUTAGE,
)


class Page:
    """The daemon's side of publishing: a writer, an engine's statuses, and the worker."""

    def __init__(self, path: Path, fake: FakeStatuspage, names: list[str]) -> None:
        self.fake = fake
        self.path = path
        self.writer = Writer(path, flush_interval=0.01)
        self.writer.start()
        self.targets = {n: Target(n, n.title(), fake.add_component(n.title())) for n in names}
        self.statuses = {n: ComponentStatus(OP, 0.0, "") for n in names}
        self.delivery: Delivery | None = None
        self.task: asyncio.Task[None] | None = None
        self.maintenance: list[set[str]] = []

    def start(
        self,
        *,
        monitoring_for: float = 600.0,
        rate: float = 50.0,
        key: str = "test-key",
        maintenance_poll: float = 0.0,
    ) -> Delivery:
        limiter = RateLimiter(rate)
        provider = StatuspageProvider(self.fake.url, "page1", key, limiter, timeout=2.0)
        self.delivery = Delivery(
            provider,
            limiter,
            SqliteLedger(self.writer),
            self.targets,
            Planner(monitoring_for),
            current=lambda cid: self.statuses[cid],
            backoff_base=0.05,
        )
        maintenance = None
        if maintenance_poll > 0:
            maintenance = PageMaintenance(
                provider, self.targets, self.maintenance.append, maintenance_poll
            )
        self.task = asyncio.create_task(publish(self.delivery, maintenance))
        return self.delivery

    async def crash(self) -> None:
        """The worker dies where it stands, as in a kill -9: nothing more is saved."""
        assert self.task is not None and self.delivery is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.delivery.provider.close()

    def change(self, name: str, after: Status, reason: str = "checks down") -> None:
        before = self.statuses[name].status
        now = time.time()
        self.statuses[name] = ComponentStatus(after, now, reason)
        self.writer.submit(
            save_outbox_entry("statuspage", name, ComponentTransition(now, before, after, reason))
        )
        if self.delivery is not None:
            self.delivery.wake()

    def ours(self) -> list[dict[str, object]]:
        return [i for i in self.fake.incidents() if i.get("metadata")]

    def pending(self) -> int:
        store = Store.open(self.path)
        try:
            return int(
                store.db.execute("SELECT count(*) FROM outbox WHERE state = 0").fetchone()[0]
            )
        finally:
            store.close()


@pytest.fixture
async def page(tmp_path: Path, fake_statuspage: FakeStatuspage) -> AsyncIterator[Page]:
    page = Page(tmp_path / "m.db", fake_statuspage, ["api"])
    yield page
    if page.task is not None and not page.task.done():
        await page.crash()
    page.writer.stop()


def component_status(page: Page, name: str) -> str:
    return str(page.fake.component(page.targets[name].remote_id)["status"])


async def test_a_full_outage_cycle_makes_one_incident(page: Page) -> None:
    page.start(monitoring_for=1.0)
    remote_id = page.targets["api"].remote_id
    page.change("api", PART, "1 of 2 checks down: eu timeout after 5.0 s")
    await eventually(lambda: len(page.ours()) == 1, "an incident")
    (incident,) = page.ours()
    assert incident["name"] == "Api: partial outage"
    assert incident["status"] == "investigating" and incident["impact_override"] == "major"
    assert incident["metadata"] == {
        "monitor": {"component": "api", "key": incident["metadata"]["monitor"]["key"]}
    }  # type: ignore[index]
    assert component_status(page, "api") == "partial_outage"
    first = incident["updates"][0]  # type: ignore[index]
    assert first["body"] == "We are investigating a partial outage of Api."
    assert first["components"] == {remote_id: "partial_outage"}

    page.change("api", MAJ, "all 2 checks down")
    await eventually(lambda: component_status(page, "api") == "major_outage", "escalation")
    (incident,) = page.ours()
    assert incident["impact_override"] == "critical" and incident["status"] == "investigating"

    page.change("api", OP, "all 2 checks up")
    await eventually(lambda: page.ours()[0]["status"] == "monitoring", "monitoring")
    assert component_status(page, "api") == "operational", "operational at once on recovery"
    await eventually(lambda: page.ours()[0]["status"] == "resolved", "resolution", timeout=5)
    assert len(page.ours()) == 1
    statuses = [u["status"] for u in page.ours()[0]["updates"]]  # type: ignore[union-attr]
    assert statuses == ["investigating", "investigating", "monitoring", "resolved"]
    assert page.pending() == 0


async def test_zero_monitoring_resolves_at_once_and_a_relapse_reuses_the_incident(
    page: Page,
) -> None:
    page.start(monitoring_for=0.0)
    page.change("api", MAJ)
    await eventually(lambda: len(page.ours()) == 1, "an incident")
    page.change("api", OP)
    await eventually(lambda: page.ours()[0]["status"] == "resolved", "resolved at once")
    assert [u["status"] for u in page.ours()[0]["updates"]] == ["investigating", "resolved"]  # type: ignore[union-attr]


async def test_a_relapse_while_monitoring_updates_the_same_incident(page: Page) -> None:
    page.start(monitoring_for=30.0)
    page.change("api", MAJ)
    await eventually(lambda: len(page.ours()) == 1, "an incident")
    page.change("api", OP)
    await eventually(lambda: page.ours()[0]["status"] == "monitoring", "monitoring")
    page.change("api", MAJ, "down again")
    await eventually(lambda: page.ours()[0]["status"] == "investigating", "re-escalated")
    assert len(page.ours()) == 1
    assert component_status(page, "api") == "major_outage"


async def test_twenty_429s_then_success_delivers_once_at_the_pace_asked(page: Page) -> None:
    page.start(rate=20.0)
    await eventually(lambda: len(page.fake.requests("GET")) >= 2, "the reconcile")
    page.fake.fail_next(20, status=429, retry_after="0.2", method="POST", path="*/incidents")
    page.change("api", MAJ)
    await eventually(lambda: len(page.ours()) == 1, "the incident", timeout=20)
    posts = page.fake.requests("POST")
    assert len(posts) == 21
    gaps = [b.at - a.at for a, b in zip(posts, posts[1:], strict=False)]
    # Measured where the requests arrive: one gap can shrink by the server's own scheduling
    # jitter (it lags one arrival, not the next), the sum of the gaps cannot.
    assert min(gaps) >= 0.2 - 0.1, f"Retry-After honoured: {min(gaps):.3f}"
    assert posts[-1].at - posts[0].at >= 20 * 0.2 - 0.05, "and honoured every time"
    everything = page.fake.requests()
    span = everything[-1].at - everything[0].at
    assert span >= (len(everything) - 1) * 0.05 - 0.05, "never faster than the limit"
    # The page answered before delivery marks the entry done: wait for that, with a deadline.
    await eventually(lambda: page.pending() == 0, "the entry marked delivered")


async def test_an_outage_while_the_page_was_down_is_backfilled(page: Page) -> None:
    page.start(monitoring_for=0.3)
    await eventually(lambda: len(page.fake.requests("GET")) >= 2, "the reconcile")
    page.fake.fail_next(8, status=503)
    page.change("api", MAJ, "all checks down")
    await asyncio.sleep(0.05)  # the outage lasts a little while
    page.change("api", OP, "all checks up")
    await eventually(lambda: len(page.ours()) == 1, "a backfilled incident", timeout=20)
    (incident,) = page.ours()
    assert incident["backfilled"] is True and incident["status"] == "resolved"
    assert incident["backfill_date"]
    assert incident["name"] == "Api: major outage"
    assert incident["updates"][0]["body"].startswith("Api had an outage from")  # type: ignore[index]
    assert component_status(page, "api") == "operational"
    # The page answered before delivery marks the entries done: wait for that, with a deadline.
    await eventually(lambda: page.pending() == 0, "the entries marked delivered")


async def test_a_crash_after_the_page_accepted_the_post_adopts_instead_of_doubling(
    page: Page,
) -> None:
    page.start(monitoring_for=0.0)
    await eventually(lambda: len(page.fake.requests("GET")) >= 2, "the reconcile")
    page.fake.hang_next(1, accept=True, method="POST", path="*/incidents")
    page.change("api", MAJ)
    await asyncio.to_thread(page.fake.wait_held, 1)
    await page.crash()  # the page has the incident; we never saw its id
    assert len(page.ours()) == 1
    page.fake.release()

    page.start(monitoring_for=0.0)  # the restart
    page.change("api", OP)
    await eventually(lambda: page.ours()[0]["status"] == "resolved", "the adopted one resolved")
    assert len(page.ours()) == 1, "adopted, not doubled"


async def test_an_incident_resolved_by_hand_is_not_reopened(page: Page) -> None:
    page.start()
    page.change("api", MAJ)
    await eventually(lambda: len(page.ours()) == 1, "an incident")
    incident_id = str(page.ours()[0]["id"])
    await page.crash()
    page.fake.resolve(incident_id)
    page.start()
    await eventually(lambda: len(page.fake.requests("GET", "*/incidents/*")) >= 1, "a look at it")
    page.change("api", PART, "better")
    await eventually(lambda: page.pending() == 0, "the change consumed")
    assert len(page.ours()) == 1 and page.ours()[0]["status"] == "resolved"


async def test_a_component_changed_by_hand_is_corrected(page: Page) -> None:
    remote_id = page.targets["api"].remote_id
    with page.fake.lock:
        page.fake._components[remote_id]["status"] = "major_outage"
    page.start()
    await eventually(lambda: component_status(page, "api") == "operational", "the correction")


async def test_a_bad_key_keeps_everything_and_delivers_once_fixed(page: Page) -> None:
    delivery = page.start(key="wrong-key")
    page.change("api", MAJ)
    await eventually(lambda: delivery.error is not None, "the error")
    assert "401" in delivery.error  # type: ignore[operator]
    assert "wrong-key" not in delivery.error  # type: ignore[operator]
    store = Store.open(page.path)
    _, queued, error = store.publishing("statuspage")
    store.close()
    assert error == delivery.error
    assert page.pending() == 1 and page.ours() == []
    await page.crash()
    page.start(key="test-key")  # the reload or restart with the key fixed
    await eventually(lambda: len(page.ours()) == 1, "delivery after the fix")
    assert page.pending() == 0


async def test_ten_components_at_once_in_order_at_the_default_rate(
    tmp_path: Path, fake_statuspage: FakeStatuspage
) -> None:
    names = [f"c{i}" for i in range(10)]
    page = Page(tmp_path / "m.db", fake_statuspage, names)
    page.start(rate=1.0)
    try:
        await eventually(lambda: len(fake_statuspage.requests("GET")) >= 2, "the reconcile")
        for name in names:
            page.change(name, MAJ)
        await eventually(lambda: len(page.ours()) == 10, "ten incidents", timeout=30)
    finally:
        await page.crash()
        page.writer.stop()
    posts = fake_statuspage.requests("POST")
    order = [p.json["incident"]["metadata"]["monitor"]["component"] for p in posts]  # type: ignore[index]
    assert order == names, "in the order of their transitions, none twice"
    everything = fake_statuspage.requests()
    spacing = [b.at - a.at for a, b in zip(everything, everything[1:], strict=False)]
    # Measured at arrival: each gap may lose a little to delivery jitter, the whole run may not.
    assert min(spacing) >= 1.0 - 0.1, "never faster than 1 request a second"
    assert everything[-1].at - everything[0].at >= (len(everything) - 1) * 1.0 - 0.05


async def test_maintenance_on_the_page_is_reported(page: Page) -> None:
    page.fake.add_maintenance([page.targets["api"].remote_id])
    page.start(maintenance_poll=0.1)
    await eventually(lambda: {"api"} in page.maintenance, "the maintenance")


# -- Retry-After, whatever the page sends ---------------------------------------------------------


def http_date(seconds_from_now: float) -> str:
    return email.utils.formatdate(time.time() + seconds_from_now, usegmt=True)


@pytest.mark.parametrize(
    "header", ["1000000000", "86401", "Fri, 31 Dec 9999 23:59:59 GMT", "in-a-day"], ids=str
)
async def test_a_huge_retry_after_pauses_an_hour_at_most_and_warns_once(
    page: Page, caplog: pytest.LogCaptureFixture, header: str
) -> None:
    if header == "in-a-day":
        header = http_date(86400 * 2)
    delivery = page.start()
    await eventually(lambda: len(page.fake.requests("GET")) >= 2, "the reconcile")
    page.fake.fail_next(1, status=429, retry_after=header, method="POST", path="*/incidents")
    with caplog.at_level(logging.INFO, logger="monitor"):
        page.change("api", MAJ)
        await eventually(lambda: delivery.limiter.pause_left() > 60, "the pause")
        pause = delivery.limiter.pause_left()
        assert MAX_PAUSE - 30 < pause <= MAX_PAUSE, pause
    assert len(page.fake.requests("POST")) == 1, "nothing sent during the pause"
    capped = [r for r in caplog.records if "Retry-After" in r.getMessage()]
    assert [r.levelno for r in capped] == [logging.WARNING], [r.getMessage() for r in capped]
    assert "waiting 3600 s instead" in capped[0].getMessage()


@pytest.mark.parametrize(
    ("header", "least", "most"),
    [
        ("soon", 0.0, 5.0),  # not seconds nor a date: our own backoff
        ("-5", 0.0, 5.0),
        ("", 0.0, 5.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0, 5.0),  # a date gone by: at once
        ("in-3s", 1.0, 10.0),  # a date ahead: until then, not our own backoff
        ("1.5", 1.3, 10.0),
    ],
    ids=str,
)
async def test_other_retry_afters_are_obeyed_sanely(
    page: Page, caplog: pytest.LogCaptureFixture, header: str, least: float, most: float
) -> None:
    if header == "in-3s":
        header = http_date(3.5)  # in whole seconds: 2.5 to 3.5 s from now, less the way there
    page.start()
    await eventually(lambda: len(page.fake.requests("GET")) >= 2, "the reconcile")
    page.fake.fail_next(1, status=429, retry_after=header, method="POST", path="*/incidents")
    with caplog.at_level(logging.WARNING, logger="monitor"):
        page.change("api", MAJ)
        await eventually(lambda: len(page.ours()) == 1, "the incident", timeout=most + 5)
    first, second = page.fake.requests("POST")
    assert least - 0.1 <= second.at - first.at <= most, second.at - first.at
    assert not [r for r in caplog.records if "Retry-After" in r.getMessage()]


async def test_a_stop_that_comes_with_a_wake_still_stops(page: Page) -> None:
    """A stop in the same loop turn as a new outbox entry's wake-up: Python 3.11's `wait_for`
    would swallow the cancel and sleep on, up to an hour."""
    delivery = page.start()
    await eventually(lambda: bool(delivery.remotes), "the first turn, then sleep")
    assert page.task is not None
    for _ in range(3):  # the turn after a wake is an idle turn: settle into the sleep again
        await asyncio.sleep(0)
    delivery.wake()
    page.task.cancel()
    done, _ = await asyncio.wait({page.task}, timeout=5)
    assert page.task in done and page.task.cancelled(), "the stop was lost"
