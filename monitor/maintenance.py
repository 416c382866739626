"""Maintenance windows from the config: is a component in one at a given moment?

One-off windows are plain comparisons; recurring ones use APScheduler's CronTrigger to find the
last occurrence that could still be running. Pure: time is an argument.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from monitor.model import Maintenance


def _fmt(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


class MaintenanceCalendar:
    def __init__(self, windows: Sequence[Maintenance]) -> None:
        self._windows = [
            (
                window,
                CronTrigger.from_crontab(window.cron, timezone=ZoneInfo(window.timezone))
                if window.cron
                else None,
            )
            for window in windows
        ]

    def active(self, component: str, at: float) -> str | None:
        """A description of the window `component` is in at `at` ("until ..."), or None."""
        now = dt.datetime.fromtimestamp(at, dt.UTC)
        ends: list[dt.datetime] = []
        for window, trigger in self._windows:
            if component not in window.components:
                continue
            if trigger is None:
                assert window.start is not None and window.end is not None
                if window.start <= now < window.end:
                    ends.append(window.end)
                continue
            assert window.duration is not None
            length = dt.timedelta(seconds=window.duration)
            fire = trigger.get_next_fire_time(None, now - length)
            if fire is not None and fire <= now < fire + length:
                ends.append(fire + length)
        if not ends:
            return None
        return f"scheduled maintenance until {_fmt(max(ends))}"
