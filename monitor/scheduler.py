"""When probes run: each check on a grid of its interval, kept on the monotonic clock.

Checks that share an interval start at evenly spaced offsets inside it, so 1,000 checks at 30 s
give a steady 33 probes a second instead of a burst of 1,000 every 30 s. A global semaphore caps
the probes in flight. Each run is told how late it started against its plan, measured once the
semaphore lets the probe go, so a backlog at the semaphore shows up as lateness rather than
hiding.

The grid lives on the monotonic clock (the event loop's timers), not the wall clock. When the
wall clock is stepped (NTP at boot, an operator, a VM resumed), probing goes on at its pace and
lateness stays true; only the wall times reported with each run jump with the clock. A step is
noticed within a second, logged once and counted.

This replaced APScheduler 3's AsyncIOScheduler, which plans on the wall clock: stepped back a
minute it ran nothing for a minute while /healthz said 200; stepped forward it ran every check
at once, a minute "late". Its clock cannot be injected or made monotonic, and its per-run
bookkeeping cost more CPU than the probes' own scheduling needs (one heap, one timer).

It is one of the two probers (`monitor.prober.Prober`): the daemon's, with `[monitor] workers = 1`,
and each worker process's with more. `stop` is the one drain of probes in flight for both.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from enum import Enum

log = logging.getLogger(__name__)

RunFn = Callable[[str, float, float], Awaitable[None]]
"""run(key, planned start as Unix seconds, lateness in seconds)."""
StepFn = Callable[[float], None]
"""on_step(seconds the wall clock jumped against the monotonic one; negative: back)."""

BATCH = 0.0005  # runs due this close together start in one wake-up
CLOCK_LOOK = 1.0  # seconds between looks at the two clocks
CLOCK_STEP = 2.0  # a jump of the wall clock against the monotonic one that counts as a step
GRACE = 2.0  # seconds `stop` gives the runs in flight before it cancels them


@dataclass
class ScheduleStats:
    """Counters for what did not go to plan; lateness itself goes to the run function."""

    started: int = 0
    missed: int = 0  # a run that could not start before the next one came due: skipped
    overlapped: int = 0  # a run due while the previous one of the same check still ran
    max_lateness: float = 0.0
    clock_steps: int = 0  # wall-clock steps noticed; probing kept its pace through them


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


class ClockWatch:
    """Notices steps of the wall clock: once a second it compares how far the wall clock and
    the monotonic clock moved. A step is logged once, with its size, and passed to `on_step`.
    NTP's slewing never adds up to one, nor does a clock that stands still or runs fast (a jump
    must also be more than twice the time between the two looks)."""

    def __init__(self, clock: Callable[[], float], on_step: StepFn) -> None:
        self._clock = clock
        self._on_step = on_step
        self._offset = self._since = 0.0
        self._timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self.stop()
        self._since = time.monotonic()
        self._offset = self._clock() - self._since
        self._timer = asyncio.get_running_loop().call_later(CLOCK_LOOK, self._look)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _look(self) -> None:
        now = time.monotonic()
        offset = self._clock() - now
        step, self._offset = offset - self._offset, offset
        elapsed, self._since = now - self._since, now
        if abs(step) >= max(CLOCK_STEP, 2 * elapsed):
            log.warning(
                "the wall clock was stepped %s by %.1f s; probing keeps its pace on the "
                "monotonic clock, times recorded from now on follow the new wall clock",
                "back" if step < 0 else "forward",
                abs(step),
            )
            self._on_step(step)
        self._timer = asyncio.get_running_loop().call_later(CLOCK_LOOK, self._look)


class _State(Enum):
    NEW = "new"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


@dataclass(eq=False, slots=True)
class _Job:
    key: str
    interval: float
    due: float  # the next run, on the monotonic clock
    busy: bool = False  # a run waits at the semaphore or probes
    gone: bool = False  # removed or replaced: its heap entry is dropped when it comes up


class ProbeScheduler:
    """Runs each added key every interval and owns the concurrency limit; knows nothing of
    probes. `clock` is the wall clock the planned starts are reported in; `grace` how long `stop`
    waits for the runs in flight."""

    def __init__(
        self,
        run: RunFn,
        *,
        concurrency: int,
        clock: Callable[[], float] = time.time,
        watch_clock: bool = True,
        on_clock_step: StepFn | None = None,
        grace: float = GRACE,
    ) -> None:
        self._run = run
        self._clock = clock
        self._grace = grace
        self._in_flight = 0  # runs past the semaphore
        self._semaphore = asyncio.Semaphore(concurrency)
        self._jobs: dict[str, _Job] = {}
        self._heap: list[tuple[float, int, _Job]] = []
        self._order = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._state = _State.NEW
        self._on_clock_step = on_clock_step
        self._watch = ClockWatch(clock, self._stepped) if watch_clock else None
        self.stats = ScheduleStats()

    @property
    def running(self) -> bool:
        return self._state in (_State.RUNNING, _State.PAUSED)

    def add(self, jobs: Iterable[tuple[str, float]], *, lead: float = 0.05) -> None:
        """Schedule (key, interval) jobs spread over their intervals; first runs at now + lead.
        A key already scheduled is replaced."""
        jobs = list(jobs)
        base = time.monotonic() + lead
        intervals = dict(jobs)
        for key, offset in spread(jobs).items():
            self._drop(key)
            job = self._jobs[key] = _Job(key, intervals[key], base + offset)
            heapq.heappush(self._heap, (job.due, next(self._order), job))
        if self._state is _State.RUNNING:
            self._arm()

    def update(self, jobs: Iterable[tuple[str, float]]) -> None:
        """Keys whose check changed: each run reads its check anew, so only those whose interval
        changed are scheduled again (spread over it, as `add` does)."""
        self.add(
            (key, interval)
            for key, interval in jobs
            if key in self._jobs and self._jobs[key].interval != interval
        )

    def remove(self, key: str) -> None:
        """Stop scheduling `key`; a run of it in flight finishes."""
        self._drop(key)

    def _drop(self, key: str) -> None:
        job = self._jobs.pop(key, None)
        if job is not None:
            job.gone = True

    def start(self) -> None:
        now = time.monotonic()
        for index, (due, order, job) in enumerate(self._heap):  # added long before: no misses
            if due < now:
                job.due = due + (now - due) // job.interval * job.interval
                self._heap[index] = (job.due, order, job)
        heapq.heapify(self._heap)
        self._state = _State.RUNNING
        if self._watch is not None:
            self._watch.start()
        self._arm()

    def pause(self) -> None:
        """Start nothing new; runs already probing go on (and are awaited by the caller)."""
        if self._state is _State.RUNNING:
            self._state = _State.PAUSED
        self._disarm()

    async def stop(self) -> None:
        """Start nothing new, give the runs in flight `grace` seconds to finish (a probe taken
        is a result recorded), cancel those still going, and stop for good."""
        self.pause()
        log.info("stopping: %d probes in flight", self._in_flight)
        if self._tasks:
            _, late = await asyncio.wait(set(self._tasks), timeout=self._grace)
            for task in late:
                task.cancel()
            for task in late:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self.shutdown()

    def shutdown(self) -> None:
        """Stop for good and cancel the runs still going (`stop` lets them finish first)."""
        self._state = _State.STOPPED
        self._disarm()
        for task in self._tasks:
            task.cancel()

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._watch is not None:
            self._watch.stop()

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._heap and self._heap[0][2].gone:
            heapq.heappop(self._heap)
        if self._heap:
            delay = max(0.0, self._heap[0][0] - time.monotonic())
            self._timer = asyncio.get_running_loop().call_later(delay, self._wake)

    def _wake(self) -> None:
        self._timer = None
        if self._state is not _State.RUNNING:
            return
        heap = self._heap
        now = time.monotonic()
        loop = asyncio.get_running_loop()
        while heap and heap[0][0] <= now + BATCH:
            due, _, job = heapq.heappop(heap)
            if job.gone:
                continue
            skipped = int((now - due) // job.interval)  # the loop was held up that long
            if skipped > 0:
                self.stats.missed += skipped
                due += skipped * job.interval
            job.due = due + job.interval
            heapq.heappush(heap, (job.due, next(self._order), job))
            if job.busy:
                self.stats.overlapped += 1
                continue
            job.busy = True
            task = loop.create_task(self._job(job, due), name=f"probe {job.key}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self._arm()

    async def _job(self, job: _Job, due: float) -> None:
        try:
            async with self._semaphore:
                if self._state is not _State.RUNNING:  # queued behind the cap when the stop came
                    return
                late = time.monotonic() - due
                planned = self._clock() - late  # the plan in wall time as the clock reads now
                lateness = max(0.0, late)
                self.stats.started += 1
                if lateness > self.stats.max_lateness:
                    self.stats.max_lateness = lateness
                self._in_flight += 1
                try:
                    await self._run(job.key, planned, lateness)
                finally:
                    self._in_flight -= 1
        except Exception:  # our own bug: the check's next runs still come
            log.exception("the run of %s failed", job.key)
        finally:
            job.busy = False

    def _stepped(self, step: float) -> None:
        self.stats.clock_steps += 1
        if self._on_clock_step is not None:
            self._on_clock_step(step)
