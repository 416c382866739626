"""What a public page reads: whole outages through each provider's fake page, with the default
words, and nothing internal (check names, hosts, URLs, addresses, error text) in any request.

`OutagePage` drives the real config, Delivery, writer, SQLite file and provider against a fake
page; tests/test_notify.py uses it too.
"""

from __future__ import annotations

import asyncio
import json
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from monitor.config import ConfigError, parse_config
from monitor.delivery import Delivery
from monitor.incidents import Planner, notify_from, templates_from
from monitor.ledger import SqliteLedger
from monitor.model import Config
from monitor.publishers import publish_targets
from monitor.publishers.base import Provider, RateLimiter
from monitor.publishers.cachet import CachetProvider
from monitor.publishers.instatus import InstatusProvider
from monitor.publishers.statuspage import StatuspageProvider
from monitor.state import Status
from monitor.store import Store
from tests.fake_cachet import fake_cachet_fixture  # noqa: F401
from tests.fake_instatus import fake_instatus_fixture  # noqa: F401
from tests.fake_page import FakePage, Seen
from tests.fake_statuspage import fake_statuspage_fixture  # noqa: F401
from tests.provider_helpers import KEY, WorkerPage, eventually

OP, DEG, PART, MAJ = (
    Status.OPERATIONAL,
    Status.DEGRADED_PERFORMANCE,
    Status.PARTIAL_OUTAGE,
    Status.MAJOR_OUTAGE,
)
KINDS = ("statuspage", "instatus", "cachet")
PUBLIC = "Payment API"
INTERNAL_NAME = "payments-backend k8s eu-west"
# What the checks and their failures are made of: none of it may reach the page.
SECRETS = (
    INTERNAL_NAME,
    "eu-db-primary",  # a check name
    "pay-backend.corp.example",  # a host name
    "https://pay-backend.corp.example:8443/healthz",  # a URL
    "/healthz",
    "10.20.30.40",  # an address
    "connection refused",  # error texts
    "timeout after 5.0 s",
    "certificate verify failed",
    "all 2 checks down",
    "checks down",
)
REASONS = {
    DEG: "1 of 2 checks slow: pay-backend.corp.example:8443/healthz timeout after 5.0 s",
    PART: "1 of 2 checks down: eu-db-primary connection refused (10.20.30.40:5432)",
    MAJ: "all 2 checks down: https://pay-backend.corp.example:8443/healthz certificate verify "
    "failed; eu-db-primary connection refused (10.20.30.40:5432)",
    OP: "all 2 checks up",
}
# The page's statuses in our words, per provider.
INCIDENT_WORDS = {1: "investigating", 2: "identified", 3: "monitoring", 4: "resolved"}
COMPONENT_WORDS = {1: "operational", 2: "degraded_performance", 3: "partial_outage"}
COMPONENT_WORDS |= {4: "major_outage", "DEGRADEDPERFORMANCE": "degraded_performance"}
COMPONENT_WORDS |= {"PARTIALOUTAGE": "partial_outage", "MAJOROUTAGE": "major_outage"}


def config_text(remote_id: str, publisher: str) -> str:
    return f"""
[publisher]
type = "log"
{publisher}

[[component]]
id = "api"
name = "{INTERNAL_NAME}"
public_name = "{PUBLIC}"
remote_id = "{remote_id}"

[[component.check]]
type = "http"
url = "https://pay-backend.corp.example:8443/healthz"

[[component.check]]
type = "tcp"
name = "eu-db-primary"
host = "10.20.30.40"
port = 5432
"""


class OutagePage(WorkerPage):
    """The daemon's side of publishing to one of the fake pages, from a config that gives the
    component a public name: `[publisher]` lines (`notify`, templates) come in `publisher`."""

    def __init__(self, path: Path, fake: FakePage, kind: str, publisher: str = "") -> None:
        super().__init__(path, fake)
        self.kind = self.PUBLISHER = kind
        config = load(config_text(self.target.remote_id, publisher), path.parent / "c.toml")
        self.settings = config.publisher
        self.target = publish_targets(config.components, kind)["api"]

    def provider(self, limiter: RateLimiter) -> Provider:
        if self.kind == "statuspage":
            return StatuspageProvider(self.fake.url, "page1", KEY, limiter, timeout=2.0)
        if self.kind == "instatus":
            return InstatusProvider(self.fake.url, "page1", KEY, limiter, timeout=2.0)
        return CachetProvider(self.fake.url, None, KEY, limiter, timeout=2.0)

    def start(self, monitoring_for: float) -> None:
        limiter = RateLimiter(50.0, clock=self.clock, sleep=self.clock.sleep)
        planner = Planner(monitoring_for, templates_from(self.settings), notify_from(self.settings))
        self.delivery = Delivery(
            self.provider(limiter),
            limiter,
            SqliteLedger(self.writer),
            {"api": self.target},
            planner,
            current=lambda cid: self.status,
            clock=self.clock,
            backoff_base=0.05,
        )
        self.task = asyncio.create_task(self.delivery.run())

    def incidents(self) -> list[dict[str, Any]]:
        """Our incidents on the page, oldest first."""
        return [i for i in self.fake.incidents() if "[monitor" in json.dumps(i) or "metadata" in i]

    def incident_status(self, index: int = -1) -> str | None:
        found = self.incidents()
        if not found or len(found) <= index:
            return None
        status = found[index]["status"]
        return INCIDENT_WORDS[status] if isinstance(status, int) else str(status).lower()

    def component_status(self) -> str:
        status = self.fake.component(self.target.remote_id)["status"]
        return COMPONENT_WORDS.get(status, str(status))

    def step(self, after: Status) -> None:
        self.change(after, REASONS[after])

    async def escalating_outage(self, monitoring_for: float = 600.0) -> None:
        """Degraded, then a major outage, recovery, and resolution after `monitoring_for`."""
        self.start(monitoring_for)
        self.step(DEG)
        await eventually(lambda: self.incident_status() == "investigating", "an incident")
        self.step(MAJ)
        await eventually(lambda: self.component_status() == "major_outage", "the escalation")
        self.step(OP)
        await eventually(lambda: self.incident_status() == "monitoring", "monitoring")
        await self.later(monitoring_for, lambda: self.incident_status() == "resolved", "resolved")
        await eventually(lambda: self.pending() == 0, "the outbox drained")

    async def backfilled_outage(self, monitoring_for: float = 600.0) -> None:
        """A partial outage that begins and ends while no worker runs: published late."""
        before = len(self.incidents())
        await self.crash()
        self.step(PART)
        self.clock.advance(120.0)
        self.step(OP)
        self.clock.advance(monitoring_for + 1)
        self.start(monitoring_for)
        await eventually(lambda: len(self.incidents()) == before + 1, "a backfilled incident")
        await eventually(lambda: self.pending() == 0, "the outbox drained")


def load(text: str, path: Path) -> Config:
    return parse_config(tomllib.loads(text), path)


def sent(fake: FakePage) -> list[Seen]:
    """Every request that changed something on the page."""
    return [seen for seen in fake.requests() if seen.method != "GET"]


def transcript(fake: FakePage) -> list[str]:
    """The page's writes, one line each: method, path and the fields a reader sees."""
    lines = []
    for seen in sent(fake):
        body = seen.json.get("incident", seen.json) if isinstance(seen.json, dict) else {}
        body = body.get("component", body) if isinstance(body, dict) else body
        fields = []
        for key in ("name", "status", "impact_override", "component_status", "components"):
            if key in body:
                fields.append(f"{key}={body[key]!r}")
        for key in ("statuses", "backfilled", "occurred_at", "started"):
            if key in body:
                fields.append(f"{key}={body[key]!r}")
        for key in ("deliver_notifications", "notify"):
            if key in body:
                fields.append(f"{key}={body[key]!r}")
        for key in ("body", "message"):
            if key in body:
                fields.append(f"{key}={body[key]!r}")
        lines.append(f"{seen.method} {seen.path}  " + "  ".join(fields))
    return lines


@pytest.fixture(params=KINDS)
async def page(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[OutagePage]:
    fake = request.getfixturevalue(f"fake_{request.param}")
    page = OutagePage(tmp_path / "m.db", fake, request.param)
    yield page
    await page.close()


def leaks(fake: FakePage) -> list[tuple[str, str]]:
    """(secret, request) for every internal word found in a request sent to the page."""
    found = []
    for seen in fake.requests():
        text = f"{seen.path} {json.dumps(seen.query)} {json.dumps(seen.json)}".lower()
        found += [(secret, text) for secret in SECRETS if secret.lower() in text]
    return found


async def test_a_whole_outage_and_a_late_one_tell_the_page_nothing_internal(
    page: OutagePage,
) -> None:
    await page.escalating_outage()
    await page.backfilled_outage()
    assert len(page.incidents()) == 2 and page.incident_status(0) == "resolved"
    assert page.incident_status(1) == "resolved"
    assert leaks(page.fake) == []
    words = " ".join(transcript(page.fake))
    for plain in (
        "Payment API is experiencing degraded performance.",
        "Payment API is now experiencing an outage. We are investigating.",
        "Payment API has recovered; we are monitoring.",
        "This incident has been resolved.",
        "Payment API had a partial outage from ",
        "'Payment API: degraded performance'",
        "'Payment API: partial outage'",
    ):
        assert plain in words, f"{plain!r} not sent to the {page.kind} page"
    # The internal reason stays ours: in the database, word for word.
    store = Store.open(page.path)
    try:
        reasons = {row[0] for row in store.db.execute("SELECT reason FROM outbox")}
    finally:
        store.close()
    assert set(REASONS.values()) <= reasons


async def test_a_template_that_asks_for_the_reason_gets_it(
    tmp_path: Path, fake_statuspage: FakePage
) -> None:
    publisher = 'body_investigating = "{component} ({status}): {reason}"'
    page = OutagePage(tmp_path / "m.db", fake_statuspage, "statuspage", publisher)
    try:
        page.start(600.0)
        page.step(PART)
        await eventually(lambda: page.incident_status() == "investigating", "an incident")
        (create,) = [s for s in sent(page.fake) if s.method == "POST"]
        assert create.json["incident"]["body"] == f"{PUBLIC} (partial outage): {REASONS[PART]}"
    finally:
        await page.close()


def test_public_name_defaults_to_name_and_is_validated(tmp_path: Path) -> None:
    text = config_text("c1", "").replace(f'public_name = "{PUBLIC}"\n', "")
    (component,) = load(text, tmp_path / "c.toml").components
    assert component.public_name is None and component.shown_name == INTERNAL_NAME
    assert publish_targets([component], "statuspage")["api"].name == INTERNAL_NAME
    for bad, shown in (('""', '""'), ("5", "5"), ('"two\\nlines"', '"two\\nlines"')):
        with pytest.raises(ConfigError) as caught:
            load(config_text("c1", "").replace(f'"{PUBLIC}"', bad), tmp_path / "c.toml")
        assert caught.value.errors == [
            f'{tmp_path / "c.toml"}: component "{INTERNAL_NAME}": public_name: must be one line '
            f'of printable text of 1 to 255 characters, like "Payments", got {shown}'
        ]
    too_long = config_text("c1", "").replace(PUBLIC, "x" * 256)
    with pytest.raises(ConfigError):
        load(too_long, tmp_path / "c.toml")
