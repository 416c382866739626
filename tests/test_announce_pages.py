"""Scheduled maintenance announced on a fake Instatus (its maintenances) and a fake Cachet 2.x
(its schedules) by the real delivery worker: created ahead with the window's words and times and
our marker, updated when the window changes, deleted when it is removed before it starts, and
found again by the marker after a crash instead of doubled; 429s and a page down lose nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from monitor.model import Maintenance
from monitor.publishers.base import Provider, RateLimiter
from monitor.publishers.cachet import CachetProvider
from monitor.publishers.instatus import InstatusProvider
from tests.announce_helpers import HOUR, AnnouncePage, nightly
from tests.fake_cachet import FakeCachet
from tests.fake_instatus import FakeInstatus
from tests.fake_page import FakePage
from tests.provider_helpers import KEY


def instatus(fake: FakePage, limiter: RateLimiter) -> Provider:
    return InstatusProvider(fake.url, "page1", KEY, limiter, timeout=2.0)


def cachet(fake: FakePage, limiter: RateLimiter) -> Provider:
    return CachetProvider(fake.url, None, KEY, limiter, timeout=2.0)


def instatus_upcoming(fake: FakePage) -> list[dict[str, Any]]:
    found = [m for m in fake._maintenances.values() if m["status"] == "NOTSTARTEDYET"]  # type: ignore[attr-defined]
    return sorted(
        (
            {
                "id": m["id"],
                "name": m["name"],
                "start": m["start"],
                "end": m["end"],
                "message": m["updates"][-1]["message"],
                "components": [c["id"] for c in m["components"]],
            }
            for m in found
        ),
        key=lambda m: m["start"],
    )


def cachet_upcoming(fake: FakePage) -> list[dict[str, Any]]:
    found = [s for s in fake._schedules.values() if s["status"] == 0]  # type: ignore[attr-defined]
    return sorted(
        (
            {
                "id": str(s["id"]),
                "name": s["name"],
                "start": s["scheduled_at"],
                "end": s["completed_at"],
                "message": s["message"],
                "components": [str(c["component_id"]) for c in s["components"]],
            }
            for s in found
        ),
        key=lambda s: s["start"],
    )


PROVIDERS = {
    "instatus": (
        FakeInstatus,
        instatus,
        instatus_upcoming,
        ["2026-12-02T02:00:00.000Z", "2026-12-03T02:00:00.000Z"],
        ["2026-12-02T03:00:00.000Z", "2026-12-03T03:00:00.000Z"],
        "[monitor-maintenance:api@2026-12-02T02:00:00Z]",
    ),
    "cachet": (
        FakeCachet,
        cachet,
        cachet_upcoming,
        ["2026-12-02 02:00", "2026-12-03 02:00"],
        ["2026-12-02 03:00", "2026-12-03 03:00"],
        "[monitor-maintenance]: # (api@2026-12-02T02:00:00Z)",
    ),
}


class Case:
    def __init__(self, name: str, page: AnnouncePage) -> None:
        self.name, self.page = name, page
        _, _, self.read, self.starts, self.ends, self.marker = PROVIDERS[name]

    def upcoming(self) -> list[dict[str, Any]]:
        with self.page.fake.lock:
            return self.read(self.page.fake)


@pytest.fixture(params=sorted(PROVIDERS))
async def case(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Case]:
    fake_type, make, *_ = PROVIDERS[request.param]
    fake = fake_type().start()
    page = AnnouncePage(tmp_path / "m.db", fake, request.param, make)
    yield Case(request.param, page)
    await page.close()
    fake.stop()


def writes(fake: FakePage) -> list[str]:
    return [f"{s.method} {s.path}" for s in fake.requests() if s.method != "GET"]


async def test_announced_changed_and_removed(case: Case) -> None:
    page = case.page
    page.start([nightly()])
    await page.settle(lambda: len(case.upcoming()) == 2, "two nights announced")
    first, second = case.upcoming()
    assert [first["start"], second["start"]] == case.starts
    assert [first["end"], second["end"]] == case.ends
    assert first["name"] == "Scheduled maintenance: Payment API"
    assert first["message"] == (
        f"We will be performing scheduled maintenance on Payment API.\n\n{case.marker}"
    )
    assert first["components"] == [page.target.remote_id]
    ids = [first["id"], second["id"]]

    await page.restart([nightly(title="Database upgrade", message="Payments may be slow.")])
    await page.settle(
        lambda: {m["name"] for m in case.upcoming()} == {"Database upgrade"}, "both updated"
    )
    assert [m["id"] for m in case.upcoming()] == ids, "updated in place"
    assert case.upcoming()[0]["message"].startswith("Payments may be slow.\n\n")

    later = Maintenance(components=("api",), cron="0 3 * * *", duration=HOUR)
    await page.restart([later])
    await page.settle(lambda: case.upcoming()[0]["start"] != case.starts[0], "moved")
    assert [m["id"] for m in case.upcoming()] == ids

    await page.restart([])
    await page.settle(lambda: not case.upcoming(), "both deleted")
    assert [w.split()[0] for w in writes(page.fake)] == ["POST"] * 2 + ["PUT"] * 4 + ["DELETE"] * 2
    assert page.recorded() == {}


async def test_a_crash_after_the_page_accepted_adopts_instead_of_doubling(case: Case) -> None:
    page = case.page
    page.fake.hang_next(1, accept=True, method="POST")
    page.start([nightly()])
    await page.settle(lambda: page.fake.holds >= 1, "the first POST held")
    await page.crash()
    page.fake.release()
    assert page.recorded() == {}
    page.start([nightly()])
    await page.settle(lambda: len(page.recorded()) == 2, "adopted, and the second announced")
    assert len(case.upcoming()) == 2
    assert len(page.fake.requests("POST")) == 2, "not doubled"


@pytest.mark.parametrize("status", [429, 503])
async def test_rate_limits_and_a_page_down_lose_nothing(case: Case, status: int) -> None:
    page = case.page
    page.fake.fail_next(5, status=status, retry_after="0.05", method="POST")
    page.start([nightly()])
    await page.settle(lambda: len(case.upcoming()) == 2, "two nights announced")
    assert len(page.fake.requests("POST")) == 5 + 2
