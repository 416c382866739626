"""Scheduled maintenance announced on a fake Statuspage by the real delivery worker: created
ahead as scheduled incidents with every field, updated when the window changes, deleted when it
is removed before it starts, and neither lost nor doubled by crashes, 429s or a page down."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from monitor.model import Maintenance
from monitor.publishers.base import Provider, RateLimiter
from monitor.publishers.statuspage import StatuspageProvider
from tests.announce_helpers import DAY, HOUR, AnnouncePage, nightly, utc
from tests.fake_page import FakePage
from tests.fake_statuspage import FakeStatuspage, fake_statuspage_fixture  # noqa: F401
from tests.provider_helpers import KEY


def make(fake: FakePage, limiter: RateLimiter) -> Provider:
    return StatuspageProvider(fake.url, "page1", KEY, limiter, timeout=2.0)


@pytest.fixture
async def page(tmp_path: Path, fake_statuspage: FakeStatuspage) -> AsyncIterator[AnnouncePage]:
    page = AnnouncePage(tmp_path / "m.db", fake_statuspage, "statuspage", make)
    yield page
    await page.close()


def scheduled(page: AnnouncePage) -> list[dict[str, Any]]:
    return sorted(
        (i for i in page.fake.incidents() if i["status"] == "scheduled"),
        key=lambda i: i["scheduled_for"],
    )


def writes(page: AnnouncePage) -> list[tuple[str, str, Any]]:
    return [(s.method, s.path, s.json) for s in page.fake.requests() if s.method != "GET"]


async def test_a_cron_window_is_announced_ahead_with_every_field(page: AnnouncePage) -> None:
    page.start([nightly()])
    await page.settle(lambda: len(scheduled(page)) == 2, "two nights announced")
    first, second = scheduled(page)
    assert first["scheduled_for"] == "2026-12-02T02:00:00Z"
    assert first["scheduled_until"] == "2026-12-02T03:00:00Z"
    assert second["scheduled_for"] == "2026-12-03T02:00:00Z"
    [post, _] = [json for method, _, json in writes(page) if method == "POST"]
    assert post == {
        "incident": {
            "status": "scheduled",
            "name": "Scheduled maintenance: Payment API",
            "body": "We will be performing scheduled maintenance on Payment API.",
            "scheduled_for": "2026-12-02T02:00:00Z",
            "scheduled_until": "2026-12-02T03:00:00Z",
            "component_ids": [page.target.remote_id],
            "scheduled_remind_prior": True,
            "scheduled_auto_in_progress": True,
            "scheduled_auto_completed": True,
            "metadata": {"monitor": {"maintenance": "api@2026-12-02T02:00:00Z"}},
        }
    }
    assert page.fake.component(page.target.remote_id)["status"] == "operational"
    assert set(page.recorded()) == {"api@2026-12-02T02:00:00Z", "api@2026-12-03T02:00:00Z"}
    # a day later the next night comes within the horizon: one more, never the whole cron
    await page.later(DAY)
    await page.settle(lambda: len(page.fake.requests("POST")) == 3, "the third night")
    assert [i["scheduled_for"] for i in scheduled(page)][-1] == "2026-12-04T02:00:00Z"
    assert len(page.recorded()) == 2  # the first night ended and is forgotten
    assert len(page.fake.requests("POST")) == 3


async def test_a_changed_window_updates_and_a_removed_one_is_deleted(page: AnnouncePage) -> None:
    page.start([nightly()])
    await page.settle(lambda: len(scheduled(page)) == 2, "two nights announced")
    ids = [i["id"] for i in scheduled(page)]
    await page.restart([nightly(title="Database upgrade", message="Payments may be slow.")])
    await page.settle(lambda: len(page.fake.requests("PATCH")) == 2, "both updated")
    assert [i["id"] for i in scheduled(page)] == ids, "updated in place, none added"
    assert {i["name"] for i in scheduled(page)} == {"Database upgrade"}
    assert len(page.fake.requests("POST")) == 2
    # moved an hour later: the same two incidents, moved, with their new marker
    later = Maintenance(components=("api",), cron="0 3 * * *", duration=HOUR)
    await page.restart([later])
    await page.settle(lambda: len(page.fake.requests("PATCH")) == 4, "both moved")
    assert [i["scheduled_for"] for i in scheduled(page)] == [
        "2026-12-02T03:00:00Z",
        "2026-12-03T03:00:00Z",
    ]
    assert [i["id"] for i in scheduled(page)] == ids
    assert set(page.recorded()) == {"api@2026-12-02T03:00:00Z", "api@2026-12-03T03:00:00Z"}
    await page.restart([])
    await page.settle(lambda: not scheduled(page), "both deleted")
    assert [(m, p) for m, p, _ in writes(page)][-2:] == [
        ("DELETE", f"/pages/page1/incidents/{ids[0]}"),
        ("DELETE", f"/pages/page1/incidents/{ids[1]}"),
    ]
    assert page.recorded() == {}


async def test_a_removed_window_that_started_is_left_to_finish(page: AnnouncePage) -> None:
    page.start([nightly()])
    await page.settle(lambda: len(scheduled(page)) == 2, "two nights announced")
    await page.crash()
    page.clock.advance(utc("2026-12-02T02:10:00") - page.clock())  # ten minutes into the first
    page.start([])
    await page.settle(lambda: len(scheduled(page)) == 1, "the second night deleted")
    [delete] = page.fake.requests("DELETE")
    assert delete.path.endswith(scheduled(page)[0]["id"]) is False
    assert scheduled(page)[0]["scheduled_for"] == "2026-12-02T02:00:00Z", "the started one stays"


async def test_a_crash_after_the_page_accepted_the_post_adopts_instead_of_doubling(
    page: AnnouncePage,
) -> None:
    page.fake.hang_next(1, accept=True, method="POST", path="*/incidents")
    page.start([nightly()])
    await page.settle(lambda: page.fake.holds >= 1, "the first POST held")
    await page.crash()  # the page has it; we never saw its id
    page.fake.release()
    assert page.recorded() == {}
    page.start([nightly(title="Renamed")])
    await page.settle(
        lambda: len(scheduled(page)) == 2 and {i["name"] for i in scheduled(page)} == {"Renamed"},
        "adopted, updated, and the second night announced",
    )
    assert len(page.fake.requests("POST")) == 2, "not doubled"
    assert len(page.recorded()) == 2


@pytest.mark.parametrize("status", [429, 420, 503])
async def test_rate_limits_and_a_page_down_neither_lose_nor_double(
    page: AnnouncePage, status: int
) -> None:
    page.fake.fail_next(6, status=status, retry_after="0.05", method="POST")
    page.start([nightly()])
    await page.settle(lambda: len(scheduled(page)) == 2, "two nights announced")
    assert len(page.fake.requests("POST")) == 6 + 2
    assert len(page.recorded()) == 2


async def test_a_refused_announcement_is_not_retried_and_holds_nothing_up(
    page: AnnouncePage,
) -> None:
    page.fake.fail_next(1, status=422, method="POST")
    page.start([nightly()])
    await page.settle(lambda: len(scheduled(page)) == 1, "the second night announced")
    await page.later(60.0)
    await page.settle(lambda: len(page.fake.requests("POST")) == 2, "no retry of the first")
    assert scheduled(page)[0]["scheduled_for"] == "2026-12-03T02:00:00Z"


async def test_announce_ahead_zero_announces_nothing(page: AnnouncePage) -> None:
    page.start([nightly()], ahead=0.0)
    await page.settle(lambda: len(page.fake.requests("GET")) >= 3, "the reconcile")
    await page.later(DAY)
    await page.settle(lambda: len(page.fake.requests("GET")) >= 3, "a turn")
    assert writes(page) == []
