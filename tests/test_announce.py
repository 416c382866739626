"""The announcement planner in tables: which occurrences of the config's [[maintenance]] windows
the page should show, and the steps from what it has to that; and the keys that set it up."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from monitor.announce import Announced, Announcement, Move, marker, steps, wanted
from monitor.config import ConfigError, parse_config
from monitor.incidents import Target
from monitor.model import Maintenance

HOUR = 3600.0
TARGETS = {
    "api": Target("api", "Payment API", "c-api"),
    "web": Target("web", "Website", "c-web"),
}


def utc(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


NIGHTLY = Maintenance(components=("api",), cron="0 2 * * *", duration=HOUR)
ONCE = Maintenance(
    components=("web", "api", "db"), start=at("2026-12-05T01:00"), end=at("2026-12-05T03:00")
)


@pytest.mark.parametrize(
    ("window", "now", "ahead", "starts"),
    [
        # a nightly cron, 48 h ahead: the two nights inside the horizon, never more
        (NIGHTLY, "2026-12-01T12:00", 48 * HOUR, ["2026-12-02T02:00", "2026-12-03T02:00"]),
        (NIGHTLY, "2026-12-01T01:59", 48 * HOUR, ["2026-12-01T02:00", "2026-12-02T02:00"]),
        (
            NIGHTLY,
            "2026-12-01T02:00",
            48 * HOUR,
            ["2026-12-01T02:00", "2026-12-02T02:00", "2026-12-03T02:00"],
        ),
        # the one in progress stays wanted until it ends
        (NIGHTLY, "2026-12-01T02:30", 1 * HOUR, ["2026-12-01T02:00"]),
        (NIGHTLY, "2026-12-01T03:00", 1 * HOUR, []),
        (NIGHTLY, "2026-12-01T12:00", 13 * HOUR, []),
        (NIGHTLY, "2026-12-01T12:00", 14 * HOUR, ["2026-12-02T02:00"]),
        # "0s" turns announcing off
        (NIGHTLY, "2026-12-01T12:00", 0.0, []),
        (ONCE, "2026-12-03T00:59", 48 * HOUR, []),
        (ONCE, "2026-12-03T01:00", 48 * HOUR, ["2026-12-05T01:00"]),
        (ONCE, "2026-12-05T03:00", 48 * HOUR, []),
        # a cron on a zone's wall clock: 02:00 Berlin is 01:00 UTC in winter
        (
            Maintenance(
                components=("api",), cron="0 2 * * sun", duration=HOUR, timezone="Europe/Berlin"
            ),
            "2026-12-01T00:00",
            7 * 24 * HOUR,
            ["2026-12-06T01:00"],
        ),
    ],
)
def test_occurrences_within_the_horizon_are_wanted(
    window: Maintenance, now: str, ahead: float, starts: list[str]
) -> None:
    found = wanted([window], TARGETS, utc(now), ahead)
    assert [a.start for a in found] == [utc(s) for s in starts]
    for a in found:
        assert a.end == a.start + (window.duration or 2 * HOUR)


def test_only_components_on_the_page_and_plain_default_words() -> None:
    [one] = wanted([ONCE], TARGETS, utc("2026-12-04T00:00"), 48 * HOUR)
    assert one.components == ("api", "web")  # "db" has no remote_id: not a target
    assert one.remote_ids == ("c-api", "c-web")
    assert one.key == "api+web@2026-12-05T01:00:00Z" == marker(("api", "web"), one.start)
    assert one.title == "Scheduled maintenance: Payment API, Website"
    assert one.message == "We will be performing scheduled maintenance on Payment API, Website."
    assert (one.remind, one.auto_start, one.auto_complete) == (True, True, True)
    hidden = Maintenance(components=("db",), start=ONCE.start, end=ONCE.end)
    assert wanted([hidden], TARGETS, utc("2026-12-04T00:00"), 48 * HOUR) == []


def test_the_window_keys_reach_the_announcement() -> None:
    window = Maintenance(
        components=("api",),
        cron="0 2 * * *",
        duration=HOUR,
        title="DB upgrade",
        message="Payments may be slow.",
        remind=False,
        auto_start=False,
        auto_complete=False,
    )
    [one] = wanted([window], TARGETS, utc("2026-12-01T12:00"), 24 * HOUR)
    assert (one.title, one.message) == ("DB upgrade", "Payments may be slow.")
    assert (one.remind, one.auto_start, one.auto_complete) == (False, False, False)


def announced(want: Announcement, page_id: str = "p1", **changes: Any) -> Announced:
    fields = {
        "key": want.key,
        "page_id": page_id,
        "components": want.components,
        "start": want.start,
        "end": want.end,
        "title": want.title,
        "fingerprint": want.fingerprint,
    } | changes
    return Announced(**fields)


NOW = utc("2026-12-01T12:00")
TWO = wanted([NIGHTLY], TARGETS, NOW, 48 * HOUR)


def moves(want: list[Announcement], have: list[Announced], now: float = NOW) -> list[tuple]:
    plan = steps(want, {a.key: a for a in have}, now)
    return [(s.move, s.want.key if s.want else None, s.have.key if s.have else None) for s in plan]


def test_steps_create_what_is_missing_and_nothing_twice() -> None:
    first, second = TWO
    assert moves(TWO, []) == [(Move.CREATE, first.key, None), (Move.CREATE, second.key, None)]
    assert moves(TWO, [announced(first)]) == [(Move.CREATE, second.key, None)]
    assert moves(TWO, [announced(first), announced(second, "p2")]) == []


def test_a_changed_window_updates_and_a_removed_one_is_cancelled_until_it_starts() -> None:
    first, second = TWO
    have = [announced(first), announced(second, "p2")]
    retitled = wanted(
        [Maintenance(components=("api",), cron="0 2 * * *", duration=HOUR, title="New")],
        TARGETS,
        NOW,
        48 * HOUR,
    )
    assert moves(retitled, have) == [
        (Move.UPDATE, first.key, first.key),
        (Move.UPDATE, second.key, second.key),
    ]
    moved = wanted(
        [Maintenance(components=("api",), cron="0 3 * * *", duration=HOUR)],
        TARGETS,
        NOW,
        48 * HOUR,
    )
    assert moves(moved, have) == [
        (Move.UPDATE, moved[0].key, first.key),
        (Move.UPDATE, moved[1].key, second.key),
    ]
    assert moves([], have) == [(Move.CANCEL, None, first.key), (Move.CANCEL, None, second.key)]
    # once begun it is left to finish (and forgotten), and an ended one is forgotten
    during = utc("2026-12-02T02:30")
    assert moves([], have, during) == [
        (Move.FORGET, None, first.key),
        (Move.CANCEL, None, second.key),
    ]
    wanted_during = wanted([NIGHTLY], TARGETS, during, 48 * HOUR)
    assert moves(wanted_during, have, during) == [(Move.CREATE, wanted_during[-1].key, None)]
    assert moves([], have, utc("2026-12-03T03:00")) == [
        (Move.FORGET, None, first.key),
        (Move.FORGET, None, second.key),
    ]


def parsed(window: dict[str, Any], publisher: dict[str, Any] | None = None) -> Any:
    data: dict[str, Any] = {
        "component": [{"name": "Web", "check": [{"type": "tcp", "host": "db", "port": 5432}]}],
        "maintenance": [{"components": ["web"], "cron": "0 2 * * *", "duration": "1h"} | window],
    }
    if publisher is not None:
        data["publisher"] = publisher
    return parse_config(data, Path("checks.toml"))


def test_the_keys_are_read_with_their_defaults() -> None:
    config = parsed({})
    window = config.maintenance[0]
    assert config.publisher.announce_ahead == 48 * HOUR
    assert (window.title, window.message) == (None, None)
    assert (window.remind, window.auto_start, window.auto_complete) == (True, True, True)
    config = parsed(
        {
            "title": "T",
            "message": "M",
            "remind": False,
            "auto_start": False,
            "auto_complete": False,
        },
        {"announce_ahead": "0s"},
    )
    window = config.maintenance[0]
    assert config.publisher.announce_ahead == 0
    assert (window.title, window.message) == ("T", "M")
    assert (window.remind, window.auto_start, window.auto_complete) == (False, False, False)


@pytest.mark.parametrize(
    ("window", "publisher", "start"),
    [
        ({"remind": "yes"}, None, "checks.toml: maintenance 1: remind: "),
        ({"auto_start": 1}, None, "checks.toml: maintenance 1: auto_start: "),
        ({"title": ""}, None, "checks.toml: maintenance 1: title: "),
        ({"message": 3}, None, "checks.toml: maintenance 1: message: "),
        ({}, {"announce_ahead": "soon"}, "checks.toml: [publisher]: announce_ahead: "),
        ({}, {"announce_ahead": "-1h"}, "checks.toml: [publisher]: announce_ahead: "),
    ],
)
def test_bad_values_name_the_file_and_the_key(
    window: dict[str, Any], publisher: dict[str, Any] | None, start: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parsed(window, publisher)
    [error] = caught.value.errors
    assert error.startswith(start), error
