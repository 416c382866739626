"""Maintenance windows from the config: is a component in one at a given moment?

The daemon asks for every component every second. A recurring window therefore works out, once,
its answer and the next moment that answer can change (an occurrence starts or ends), and keeps
it until then: a look is two comparisons, where finding occurrences costs tens of microseconds
for a plain cron and far more for a rare one. Asked about an earlier moment than the one it
worked from (the wall clock was stepped back), a window forgets what it kept and works it out
again. Pure: time is an argument.

A cron is read on the wall clock of its time zone, and `duration` too: "0 2 * * sun" for 2h in
Europe/Berlin is 02:00-04:00 Berlin time, an hour longer in real time on the night the clocks go
back, an hour shorter when they go forward (a start the clock skips is read with the offset
before the jump: 02:00 opens at 03:00 CEST). A start in the repeated hour counts once, at its
first pass. This is what the calendar always did; APScheduler's CronTrigger now only matches
fields, on wall times labelled UTC, because its own time zone handling walks backwards in the
repeated hour of autumn.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from monitor.model import Maintenance

# More than any change of a zone's UTC offset: occurrences this far around a moment are looked at.
SLACK = dt.timedelta(hours=3)
SECOND = dt.timedelta(seconds=1)


def _fmt(moment: float) -> str:
    return dt.datetime.fromtimestamp(moment, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


class _Once:
    __slots__ = ("start", "end")

    def __init__(self, start: dt.datetime, end: dt.datetime) -> None:
        self.start, self.end = start.timestamp(), end.timestamp()

    def end_if_active(self, at: float) -> float | None:
        return self.end if self.start <= at < self.end else None


class _Recurring:
    """A cron window; keeps its answer from `since` until `until`, when it may change."""

    __slots__ = ("trigger", "zone", "duration", "since", "until", "end")

    def __init__(self, cron: str, zone: str, duration: float) -> None:
        self.trigger = CronTrigger.from_crontab(cron, timezone=dt.UTC)
        self.zone = ZoneInfo(zone)
        self.duration = dt.timedelta(seconds=duration)
        self.since, self.until = math.inf, -math.inf  # nothing kept yet
        self.end: float | None = None

    def end_if_active(self, at: float) -> float | None:
        """The end of the occurrence `at` falls in (the earliest begun, if several), or None."""
        if not self.since <= at < self.until:
            self._work_out(at)
        return self.end

    def _instant(self, wall: dt.datetime) -> float:
        return wall.replace(tzinfo=self.zone).timestamp()

    def _work_out(self, at: float) -> None:
        # Occurrences are walked on the zone's wall clock from well before the earliest that
        # could still run at `at` to well after the first one starting later.
        wall = dt.datetime.fromtimestamp(at, self.zone).replace(tzinfo=dt.UTC)
        fire = self.trigger.get_next_fire_time(None, wall - self.duration - SLACK)
        started: float | None = None
        self.end, self.until = None, math.inf
        while fire is not None:
            start, end = self._instant(fire), self._instant(fire + self.duration)
            if start > at:
                self.until = min(self.until, start)
                if fire > wall + SLACK:
                    break
            elif at < end:
                self.until = min(self.until, end)
                if started is None or start < started:
                    started, self.end = start, end
            after = fire + SECOND
            if started is not None and after < wall - SLACK:
                after = wall - SLACK  # the rest began later and ends later: skip to the new ones
            fire = self.trigger.get_next_fire_time(None, after)
        self.since = at


def occurrences(window: Maintenance, after: float, until: float) -> list[tuple[float, float]]:
    """The (start, end) of each occurrence of `window` that ends after `after` and starts at or
    before `until`, in order: what the page announces (monitor.announce)."""
    if not window.cron:
        assert window.start is not None and window.end is not None
        start, end = window.start.timestamp(), window.end.timestamp()
        return [(start, end)] if end > after and start <= until else []
    assert window.duration is not None
    trigger = CronTrigger.from_crontab(window.cron, timezone=dt.UTC)
    zone = ZoneInfo(window.timezone)
    length = dt.timedelta(seconds=window.duration)

    def instant(wall: dt.datetime) -> float:
        return wall.replace(tzinfo=zone).timestamp()

    wall = dt.datetime.fromtimestamp(after, zone).replace(tzinfo=dt.UTC)
    last = dt.datetime.fromtimestamp(until, zone).replace(tzinfo=dt.UTC) + SLACK
    found: list[tuple[float, float]] = []
    fire = trigger.get_next_fire_time(None, wall - length - SLACK)
    while fire is not None and fire <= last:
        start, end = instant(fire), instant(fire + length)
        if end > after and start <= until:
            found.append((start, end))
        fire = trigger.get_next_fire_time(None, fire + SECOND)
    return sorted(set(found))


class MaintenanceCalendar:
    def __init__(self, windows: Sequence[Maintenance]) -> None:
        self._windows: dict[str, list[_Once | _Recurring]] = defaultdict(list)
        for window in windows:
            kept: _Once | _Recurring
            if window.cron:
                assert window.duration is not None
                kept = _Recurring(window.cron, window.timezone, window.duration)
            else:
                assert window.start is not None and window.end is not None
                kept = _Once(window.start, window.end)
            for component in window.components:
                self._windows[component].append(kept)

    def active(self, component: str, at: float) -> str | None:
        """A description of the window `component` is in at `at` ("until ..."), or None."""
        latest: float | None = None
        for window in self._windows.get(component, ()):
            end = window.end_if_active(at)
            if end is not None and (latest is None or end > latest):
                latest = end
        if latest is None:
            return None
        return f"scheduled maintenance until {_fmt(latest)}"
