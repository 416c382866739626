"""When probes run: one APScheduler job per check, spread over its interval.

Checks that share an interval start at evenly spaced offsets inside it, so 1,000 checks at 30 s
give a steady 33 probes a second instead of a burst of 1,000 every 30 s. A global semaphore caps
the probes in flight. Each run is told how late it started against its plan: the planned time
comes from APScheduler's own submission event, the start is taken once the semaphore lets the
probe go, so a backlog at the semaphore shows up as lateness rather than hiding.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from apscheduler.events import (
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    JobExecutionEvent,
    JobSubmissionEvent,
    SchedulerEvent,
)
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

log = logging.getLogger(__name__)

RunFn = Callable[[str, float, float], Awaitable[None]]
"""run(key, planned start as Unix seconds, lateness in seconds)."""

# APScheduler logs every run at INFO and every skipped run at WARNING; we count those instead.
for _name in ("apscheduler.executors.default", "apscheduler.scheduler"):
    logging.getLogger(_name).setLevel(logging.ERROR)


@dataclass
class ScheduleStats:
    """Counters for what did not go to plan; lateness itself goes to the run function."""

    started: int = 0
    missed: int = 0  # a run later than its misfire grace: skipped, the next one is on time
    overlapped: int = 0  # a run due while the previous one of the same check still ran
    max_lateness: float = 0.0


def spread(jobs: Iterable[tuple[str, float]]) -> dict[str, float]:
    """Offset of each job inside its interval: evenly spaced among the jobs of that interval."""
    by_interval: dict[float, list[str]] = defaultdict(list)
    for key, interval in jobs:
        by_interval[interval].append(key)
    offsets: dict[str, float] = {}
    for interval, keys in by_interval.items():
        step = interval / len(keys)
        for index, key in enumerate(keys):
            offsets[key] = index * step
    return offsets


class ProbeScheduler:
    """Owns the AsyncIOScheduler and the concurrency limit; knows nothing of probes."""

    def __init__(self, run: RunFn, *, concurrency: int, clock: Callable[[], float] = time.time):
        self._run = run
        self._clock = clock
        self._semaphore = asyncio.Semaphore(concurrency)
        self._planned: dict[str, float] = {}
        self._stopping = False
        self.stats = ScheduleStats()
        self._scheduler = AsyncIOScheduler(
            timezone=dt.UTC, job_defaults={"coalesce": True, "max_instances": 1}
        )
        self._scheduler.add_listener(
            self._on_event, EVENT_JOB_SUBMITTED | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES
        )

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    def add(self, jobs: Iterable[tuple[str, float]], *, lead: float = 0.05) -> None:
        """Schedule (key, interval) jobs spread over their intervals; first runs at now + lead."""
        jobs = list(jobs)
        base = self._clock() + lead
        intervals = dict(jobs)
        for key, offset in spread(jobs).items():
            interval = intervals[key]
            start = dt.datetime.fromtimestamp(base + offset, dt.UTC)
            self._scheduler.add_job(
                self._job,
                IntervalTrigger(seconds=interval, start_date=start, timezone=dt.UTC),
                args=(key,),
                id=key,
                name=key,
                # A run later than this is skipped rather than run twice in a row.
                misfire_grace_time=max(1, math.ceil(interval)),
                replace_existing=True,
            )

    def remove(self, key: str) -> None:
        self._scheduler.remove_job(key)
        self._planned.pop(key, None)

    def start(self) -> None:
        self._scheduler.start()

    def pause(self) -> None:
        """Start nothing new; runs already probing go on (and are awaited by the caller)."""
        self._stopping = True
        if self._scheduler.running:
            self._scheduler.pause()

    def shutdown(self) -> None:
        """Stop the scheduler. It cancels the runs still in its executor, so pause and let
        the probes in flight finish first."""
        self._stopping = True
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def _on_event(self, event: SchedulerEvent) -> None:
        if event.code == EVENT_JOB_SUBMITTED:
            assert isinstance(event, JobSubmissionEvent)
            self._planned[event.job_id] = event.scheduled_run_times[-1].timestamp()
        elif event.code == EVENT_JOB_MISSED:
            assert isinstance(event, JobExecutionEvent)
            self.stats.missed += 1
        else:
            self.stats.overlapped += 1

    async def _job(self, key: str) -> None:
        async with self._semaphore:
            if self._stopping:  # queued behind the cap when the stop came: nothing taken yet
                return
            started = self._clock()
            planned = self._planned.pop(key, started)
            lateness = max(0.0, started - planned)
            self.stats.started += 1
            if lateness > self.stats.max_lateness:
                self.stats.max_lateness = lateness
            await self._run(key, planned, lateness)
