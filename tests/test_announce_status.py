"""`monitor status`, `--json` and /status.json list the upcoming announced maintenance of each
component, from one function (views.upcoming_maintenance): [] when none."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import main
from monitor.publishers.base import Provider, RateLimiter
from monitor.publishers.statuspage import StatuspageProvider
from monitor.views import upcoming_maintenance
from tests.announce_helpers import DAY, AnnouncePage, nightly
from tests.conftest import write_config
from tests.fake_page import FakePage
from tests.fake_statuspage import FakeStatuspage, fake_statuspage_fixture  # noqa: F401
from tests.provider_helpers import KEY


def make(fake: FakePage, limiter: RateLimiter) -> Provider:
    return StatuspageProvider(fake.url, "page1", KEY, limiter, timeout=2.0)


@pytest.fixture
async def page(tmp_path: Path, fake_statuspage: FakeStatuspage) -> AsyncIterator[AnnouncePage]:
    # `monitor status` reads the real clock: the windows are years ahead of it
    page = AnnouncePage(
        tmp_path / "monitor.db", fake_statuspage, "statuspage", make, now="2030-06-01T12:00:00"
    )
    yield page
    await page.close()


def status(page: AnnouncePage, *args: str) -> str:
    config = write_config(
        page.path.parent,
        f"""
[monitor]
database = "monitor.db"
[publisher]
type = "statuspage"
url = "{page.fake.url}"
page_id = "page1"
api_key_env = "STATUSPAGE_TEST_KEY"
[[component]]
name = "Payment API"
id = "api"
remote_id = "{page.target.remote_id}"
  [[component.check]]
  type = "tcp"
  host = "127.0.0.1"
  port = 9
[[component]]
name = "Website"
id = "web"
  [[component.check]]
  type = "tcp"
  host = "127.0.0.1"
  port = 9
""",
    )
    result = CliRunner().invoke(main, ["status", "-c", str(config), *args])
    assert result.exit_code in (0, 1), result.output
    return result.output


async def test_status_lists_the_upcoming_announced_windows(page: AnnouncePage) -> None:
    page.start([nightly(title="Database upgrade")])
    await page.settle(lambda: len(page.recorded()) == 2, "two nights announced")
    ids = sorted(i["id"] for i in page.fake.incidents())
    document = json.loads(status(page, "--json"))
    api, web = document["components"]
    assert api["maintenance"] == [
        {
            "start": "2030-06-02T02:00:00Z",
            "end": "2030-06-02T03:00:00Z",
            "title": "Database upgrade",
            "page_id": ids[0],
        },
        {
            "start": "2030-06-03T02:00:00Z",
            "end": "2030-06-03T03:00:00Z",
            "title": "Database upgrade",
            "page_id": ids[1],
        },
    ]
    assert web["maintenance"] == []
    # /status.json: the same function over what the worker saw on its last turn
    assert page.delivery is not None
    now = page.clock()
    assert upcoming_maintenance(page.delivery.announced, now)["api"] == api["maintenance"]
    text = status(page)
    assert text.count("api: maintenance announced ") == 2
    assert f"Database upgrade ({ids[0]})" in text
    # ended windows are not upcoming
    assert upcoming_maintenance(page.delivery.announced, now + 3 * DAY) == {}


async def test_an_empty_list_when_nothing_was_announced(page: AnnouncePage) -> None:
    page.start([])
    await page.settle(lambda: len(page.fake.requests("GET")) >= 3, "the reconcile")
    document = json.loads(status(page, "--json"))
    assert [c["maintenance"] for c in document["components"]] == [[], []]
    assert "maintenance" not in status(page)
