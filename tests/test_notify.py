"""Who gets notified: `[publisher] notify` through each provider's fake page, restarts included.

An incident notifies its subscribers when it opens at (or escalates to) a status of `notify`;
from then on every update and its resolution do too; one that never did stays quiet to the end.
"""

from __future__ import annotations

import tomllib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from monitor.config import ConfigError, parse_config
from monitor.model import PublisherSettings
from tests.fake_page import FakePage
from tests.provider_helpers import eventually
from tests.test_public_words import (
    DEG,
    INCIDENT_WORDS,
    KINDS,
    MAJ,
    OP,
    PART,
    OutagePage,
    config_text,
    fake_cachet_fixture,  # noqa: F401
    fake_instatus_fixture,  # noqa: F401
    fake_statuspage_fixture,  # noqa: F401
    sent,
)


def notices(page: OutagePage) -> list[str]:
    """Each incident create or update the page got, as 'status:notify' (notify as sent; for
    Cachet's updates, which take none, as Cachet does: every update of a visible incident)."""
    out = []
    for seen in sent(page.fake):
        body = seen.json
        if page.kind == "statuspage" and "incident" in body:
            body = body["incident"]
            out.append(f"{body['status']}:{body['deliver_notifications']}")
        elif page.kind == "instatus" and "/incidents" in seen.path:
            out.append(f"{body['status'].lower()}:{body['notify']}")
        elif page.kind == "cachet" and seen.path == "/incidents":
            out.append(f"{INCIDENT_WORDS[body['status']]}:{body['notify']}")
        elif page.kind == "cachet" and seen.path.endswith("/updates"):
            assert "notify" not in body, "Cachet 2.x takes no notify on an update"
            out.append(f"{INCIDENT_WORDS[body['status']]}:updates")
    return out


# What each page is sent for an outage that opens degraded and escalates to a major outage,
# with the default notify = ["major_outage", "partial_outage"].
ESCALATION = {
    "statuspage": ["investigating:False", "investigating:True", "monitoring:True", "resolved:True"],
    "instatus": ["investigating:False", "investigating:True", "monitoring:True", "resolved:True"],
    # Cachet 2.x: notify on the create only; it tells subscribers of every later update itself.
    "cachet": ["investigating:False", "investigating:updates", "monitoring:updates"]
    + ["resolved:updates"],
}


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def fake_of(request: pytest.FixtureRequest, kind: str) -> FakePage:
    fake = request.getfixturevalue(f"fake_{kind}")
    assert isinstance(fake, FakePage)
    return fake


@pytest.fixture
async def page(
    request: pytest.FixtureRequest, kind: str, tmp_path: Path
) -> AsyncIterator[OutagePage]:
    page = OutagePage(tmp_path / "m.db", fake_of(request, kind), kind)
    yield page
    await page.close()


async def test_an_outage_that_opens_degraded_notifies_at_the_escalation(page: OutagePage) -> None:
    await page.escalating_outage()
    assert notices(page) == ESCALATION[page.kind]


async def test_an_outage_that_stays_degraded_notifies_nobody(page: OutagePage) -> None:
    page.start(600.0)
    page.step(DEG)
    await eventually(lambda: page.incident_status() == "investigating", "an incident")
    page.step(OP)
    await eventually(lambda: page.incident_status() == "monitoring", "monitoring")
    await page.later(600.0, lambda: page.incident_status() == "resolved", "resolved")
    expected = ["investigating:False", "monitoring:False", "resolved:False"]
    if page.kind == "cachet":
        expected = ["investigating:False", "monitoring:updates", "resolved:updates"]
    assert notices(page) == expected


async def test_whether_it_notified_survives_a_restart(page: OutagePage) -> None:
    """Restarted after the escalation, recovery and resolution still notify; restarted in a
    degraded incident that never notified, they still do not."""
    page.start(600.0)
    page.step(DEG)
    await eventually(lambda: page.incident_status() == "investigating", "an incident")
    await page.crash()
    page.start(600.0)  # a fresh worker reads the saved state
    page.step(OP)
    await eventually(lambda: page.incident_status() == "monitoring", "monitoring")
    await page.crash()
    page.start(600.0)
    await page.later(600.0, lambda: page.incident_status() == "resolved", "resolved")
    quiet = notices(page)

    page.step(PART)
    await eventually(lambda: page.incident_status(1) == "investigating", "a second incident")
    page.step(MAJ)
    await eventually(lambda: page.component_status() == "major_outage", "the escalation")
    await page.crash()
    page.start(600.0)
    page.step(OP)
    await eventually(lambda: page.incident_status(1) == "monitoring", "monitoring")
    await page.crash()
    page.start(600.0)
    await page.later(600.0, lambda: page.incident_status(1) == "resolved", "resolved")
    loud = notices(page)[len(quiet) :]
    if page.kind == "cachet":
        assert quiet == ["investigating:False", "monitoring:updates", "resolved:updates"]
        # Cachet 2.x updates carry no flag: only the creates say, and they do.
        assert loud == ["investigating:True", "investigating:updates"] + [
            "monitoring:updates",
            "resolved:updates",
        ]
    else:
        assert quiet == ["investigating:False", "monitoring:False", "resolved:False"]
        assert loud == [
            "investigating:True",
            "investigating:True",
            "monitoring:True",
            "resolved:True",
        ]


async def test_notify_none_never_notifies(
    request: pytest.FixtureRequest, kind: str, tmp_path: Path
) -> None:
    page = OutagePage(tmp_path / "m.db", fake_of(request, kind), kind, "notify = []")
    try:
        await page.escalating_outage()
        flags = [n.rpartition(":")[2] for n in notices(page)]
        assert flags[0] == "False" and "True" not in flags
    finally:
        await page.close()


async def test_a_backfilled_outage_notifies_nobody(page: OutagePage) -> None:
    page.start(600.0)
    await eventually(lambda: len(page.fake.requests("GET")) >= 2, "the reconcile")
    await page.backfilled_outage()
    assert [n.rpartition(":")[2] for n in notices(page)] == ["False"]


def _publisher(tmp_path: Path, line: str) -> PublisherSettings:
    text = config_text("c1", line)
    return parse_config(tomllib.loads(text), tmp_path / "c.toml").publisher


def test_notify_is_read_and_validated(tmp_path: Path) -> None:
    assert _publisher(tmp_path, "").notify == ("major_outage", "partial_outage")
    assert _publisher(tmp_path, "notify = []").notify == ()
    assert _publisher(tmp_path, 'notify = ["degraded_performance"]').notify == (
        "degraded_performance",
    )
    where = f"{tmp_path / 'c.toml'}: [publisher]: notify:"
    choices = '"major_outage", "partial_outage", "degraded_performance"'
    for line, problem in (
        (
            'notify = "major_outage"',
            f'must be a list of statuses like ["major_outage", '
            f'"partial_outage"] (any of {choices}; [] for none), got "major_outage"',
        ),
        ('notify = ["operational"]', f'must list only {choices}, got "operational"'),
        ('notify = ["under_maintenance"]', f'must list only {choices}, got "under_maintenance"'),
        ('notify = ["major_outage", "major_outage"]', 'lists "major_outage" twice'),
        ("notify = [3]", f"must list only {choices}, got 3"),
    ):
        with pytest.raises(ConfigError) as caught:
            _publisher(tmp_path, line)
        assert caught.value.errors == [f"{where} {problem}"], line
