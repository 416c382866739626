"""The maintenance calendar keeps each window's answer until it can change, and gives the same
answers as a fresh search on every look (the calendar before it kept anything), across window
starts and ends, time zones, daylight saving time and wall-clock steps back."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from apscheduler.triggers.cron import CronTrigger
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.config import ConfigError, parse_config
from monitor.config.schedule import cron_comes
from monitor.config.values import Invalid
from monitor.maintenance import MaintenanceCalendar
from monitor.model import Maintenance


def fresh_search(windows: Sequence[Maintenance], component: str, at: float) -> str | None:
    """The calendar as it was: one next-occurrence search per window on every look."""
    now = dt.datetime.fromtimestamp(at, dt.UTC)
    ends: list[dt.datetime] = []
    for window in windows:
        if component not in window.components:
            continue
        if window.cron is None:
            assert window.start is not None and window.end is not None
            if window.start <= now < window.end:
                ends.append(window.end)
            continue
        assert window.duration is not None
        length = dt.timedelta(seconds=window.duration)
        trigger = CronTrigger.from_crontab(window.cron, timezone=window.timezone)
        fire = trigger.get_next_fire_time(None, now - length)
        if fire is not None and fire <= now < fire + length:
            ends.append(fire + length)
    if not ends:
        return None
    end = max(ends).astimezone(dt.UTC)
    return f"scheduled maintenance until {end:%Y-%m-%d %H:%M} UTC"


def utc(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()


def recurring(cron: str, duration: float, zone: str, *components: str) -> Maintenance:
    return Maintenance(
        components=components or ("api",), cron=cron, duration=duration, timezone=zone
    )


WINDOWS = [
    recurring("0 2 * * sun", 7200, "Europe/Berlin", "api", "web"),
    recurring("30 2 * * *", 3600, "Europe/Berlin"),
    recurring("*/20 * * * *", 300, "Europe/Berlin", "web"),
    recurring("30 1 * * *", 5400, "America/New_York"),
    recurring("0 2 * * *", 1800, "Australia/Sydney", "db"),
    recurring("45 23 * * fri", 900, "Asia/Kolkata", "db"),
    recurring("0 0 1 * *", 86400, "UTC", "web"),
    Maintenance(
        components=("api", "db"),
        start=dt.datetime(2026, 10, 25, 1, 30, tzinfo=dt.UTC),
        end=dt.datetime(2026, 10, 25, 2, 45, tzinfo=dt.UTC),
    ),
]
COMPONENTS = ("api", "web", "db", "other")
# Days around every clock change of these zones in 2026, and an ordinary week.
DAYS = [
    "2026-03-07",  # New York springs forward on the 8th
    "2026-03-28",  # Berlin springs forward on the 29th
    "2026-04-04",  # Sydney falls back on the 5th
    "2026-06-26",
    "2026-10-03",  # Sydney springs forward on the 4th
    "2026-10-24",  # Berlin falls back on the 25th
    "2026-10-31",  # New York falls back on November 1st
]


def sweep(day: str, step: float) -> Iterator[float]:
    start = utc(f"{day}T00:00:00")
    moment = start
    while moment < start + 2 * 86400:
        yield moment
        moment += step


@pytest.mark.parametrize("day", DAYS)
def test_same_answers_as_a_fresh_search_on_every_look(day: str) -> None:
    calendar = MaintenanceCalendar(WINDOWS)
    looked = 0
    for at in sweep(day, 97.0):  # crosses every start and end; the edges are tested below
        for component in COMPONENTS:
            assert calendar.active(component, at) == fresh_search(WINDOWS, component, at), (
                component,
                dt.datetime.fromtimestamp(at, dt.UTC),
            )
            looked += 1
    assert looked > 7000


def test_exact_starts_and_ends_across_clock_changes() -> None:
    calendar = MaintenanceCalendar(WINDOWS)
    edges = [
        "2026-03-29T00:59:59",  # Berlin: 02:00 does not exist; the window opens at 03:00 CEST
        "2026-03-29T01:00:00",
        "2026-03-29T01:59:59",
        "2026-03-29T02:00:00",
        "2026-10-24T23:59:59",  # Berlin: 02:00 CEST to 04:00 CET, three hours of real time
        "2026-10-25T00:00:00",
        "2026-10-25T01:30:00",
        "2026-10-25T02:45:00",
        "2026-10-25T02:59:59",
        "2026-10-25T03:00:00",
        "2026-11-01T05:29:59",  # New York: 01:30 EDT, the first pass of the repeated hour,
        "2026-11-01T05:30:00",  # to 03:00 EST, two and a half hours of real time
        "2026-11-01T07:59:59",
        "2026-11-01T08:00:00",
    ]
    answers = {}
    for edge in edges:
        at = utc(edge)
        for component in COMPONENTS:
            answers[edge, component] = calendar.active(component, at)
            assert answers[edge, component] == fresh_search(WINDOWS, component, at)
    assert answers["2026-10-25T02:59:59", "api"] == (
        "scheduled maintenance until 2026-10-25 03:00 UTC"
    )
    assert answers["2026-10-25T03:00:00", "api"] is None
    assert answers["2026-03-29T01:00:00", "api"] == (
        "scheduled maintenance until 2026-03-29 02:00 UTC"
    )
    assert answers["2026-11-01T07:59:59", "api"] == (
        "scheduled maintenance until 2026-11-01 08:00 UTC"
    )
    assert answers["2026-11-01T08:00:00", "api"] is None


def test_a_clock_stepped_back_gets_the_answers_of_that_moment() -> None:
    calendar = MaintenanceCalendar(WINDOWS[:1])  # Sundays 02:00-04:00 in Berlin
    inside, before = utc("2026-11-29T01:30:00"), utc("2026-11-29T00:59:59")
    assert calendar.active("api", inside) == "scheduled maintenance until 2026-11-29 03:00 UTC"
    assert calendar.active("api", before) is None, "stepped back out of the window"
    assert calendar.active("api", inside) is not None
    assert calendar.active("api", inside - 86400) is None, "a day back: no window on Saturday"
    assert calendar.active("api", inside - 7 * 86400) == (
        "scheduled maintenance until 2026-11-22 03:00 UTC"
    ), "a week back: last Sunday's window"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(COMPONENTS), st.integers(-2 * 86400, 2 * 86400)),
        min_size=1,
        max_size=40,
    ),
    st.sampled_from(DAYS),
)
def test_any_walk_of_the_clock_forward_and_back(looks: list[tuple[str, int]], day: str) -> None:
    calendar = MaintenanceCalendar(WINDOWS)
    at = utc(f"{day}T12:00:00")
    for component, move in looks:
        at += move
        assert calendar.active(component, at) == fresh_search(WINDOWS, component, at)


def test_overlapping_occurrences_hand_over_without_a_gap() -> None:
    """Two-hour windows every hour: at the hour one ends as the next starts. A fresh search
    from "now minus duration" found only the one that just ended and said none."""
    calendar = MaintenanceCalendar([recurring("0 * * * *", 7200, "UTC")])
    for at in sweep("2026-06-26", 1800.0):
        assert calendar.active("api", at) is not None


def test_a_window_that_never_comes_costs_one_search_not_one_per_look() -> None:
    """Config validation refuses such a cron; the calendar stays cheap even so (a search for
    February 30 walks the years and costs about 200 ms each time)."""
    calendar = MaintenanceCalendar([recurring("0 2 30 2 *", 3600, "UTC")])
    start, at, looks = time.perf_counter(), utc("2026-06-26T00:00:00"), 0
    while looks < 2000 and time.perf_counter() - start < 30:
        assert calendar.active("api", at) is None
        at += 1.0
        looks += 1
    assert looks == 2000, f"only {looks} looks in 30 s"


def config_errors(cron: str, zone: str = "UTC") -> list[str]:
    data = {
        "component": [{"name": "Web", "check": [{"type": "tcp", "host": "db", "port": 5432}]}],
        "maintenance": [{"components": ["web"], "cron": cron, "duration": "1h", "timezone": zone}],
    }
    try:
        parse_config(data, Path("checks.toml"))
    except ConfigError as exc:
        return exc.errors
    return []


@pytest.mark.parametrize(
    "cron", ["0 2 30 2 *", "0 0 31 4 *", "0 0 31 2,4,6 *", "0 0 30-31 2 *", "0 0 31 11 1-5"]
)
def test_a_cron_on_a_day_no_month_of_it_has_is_refused(cron: str) -> None:
    [error] = config_errors(cron, "Pacific/Auckland")
    assert error.startswith("checks.toml: maintenance 1: cron: matches no date: none of its ")
    assert error.endswith(f'choose a day that one of them has, got "{cron}"')


@pytest.mark.parametrize("cron", ["0 0 29 2 *", "0 0 31 * *", "0 0 31 2,4,7 *", "30 2 * 3 0"])
def test_a_cron_that_comes_is_accepted(cron: str) -> None:
    assert config_errors(cron, "Europe/Berlin") == []


def test_a_day_and_weekday_that_rarely_meet_are_refused() -> None:
    now = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    with pytest.raises(Invalid, match=r"no date in the next 5 years: its day of the month and"):
        cron_comes("0 0 29 2 1", "0 0 29 2 mon", "UTC", now)  # next in 2044
    cron_comes("0 0 13 * fri", "0 0 13 * fri", "UTC", now)  # Friday the 13th comes often
    cron_comes("0 0 29 2 tue", "0 0 29 2 tue", "UTC", now)  # 2028
    with pytest.raises(Invalid):
        cron_comes("0 0 29 2 sun", "0 0 29 2 sun", "UTC", now)  # 2032: past the horizon
