"""The prober stage: what runs the probes on schedule, behind one interface.

Two implement it: `ProbeScheduler` probes in the daemon's own process (one process: `[monitor]
workers = 1`, or "auto" for a small config), `ProbePool` shards the checks over worker
processes, each running a `ProbeScheduler` (`monitor.sizing` says how many for "auto"). Both speak
keys and intervals; the check of a key is read when it is probed (`check_of`), so a reload that
changes a check's settings but not its interval reschedules nothing. Results go to `on_result`
(key, planned start, lateness, result) in the daemon's process either way, and `stop` returns
once the probes in flight have delivered theirs (or the grace ran out).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from monitor.model import Check
from monitor.pool import ProbePool
from monitor.probes import ProbeContext, ResultFn, probe_keyed
from monitor.scheduler import GRACE, ProbeScheduler, ScheduleStats, StepFn


class Prober(Protocol):
    stats: ScheduleStats

    @property
    def running(self) -> bool:
        """Started, not stopped, and able to probe (with workers: every worker alive)."""
        ...

    def add(self, jobs: Iterable[tuple[str, float]]) -> None:
        """Probe each (key, interval) every interval, spread over it; an added key is replaced."""

    def update(self, jobs: Iterable[tuple[str, float]]) -> None:
        """Keys whose check changed: probe them with their new settings from now on."""

    def remove(self, key: str) -> None:
        """Probe `key` no more; a probe of it in flight finishes, its result is dropped."""

    def start(self) -> None: ...

    async def stop(self) -> None:
        """Start nothing new and return once the probes in flight have delivered their results
        (those still going after the grace are cancelled)."""


def make_prober(
    workers: int,
    *,
    concurrency: int,
    check_of: Callable[[str], Check | None],
    on_result: ResultFn,
    ctx: ProbeContext,
    clock: Callable[[], float],
    on_clock_step: StepFn,
    grace: float = GRACE,
) -> Prober:
    """The prober for `workers` processes (1: this one). `ctx` (entered by the caller) serves
    the probes of this process; workers make their own. `clock`, the wall clock of planned
    starts, must pickle with workers."""
    if workers > 1:
        return ProbePool(
            workers,
            concurrency=concurrency,
            check_of=check_of,
            on_result=on_result,
            grace=grace,
            clock=clock,
            on_clock_step=on_clock_step,
        )
    return ProbeScheduler(
        probe_keyed(check_of, ctx, on_result),
        concurrency=concurrency,
        clock=clock,
        on_clock_step=on_clock_step,
        grace=grace,
    )


def worker_pids(prober: Prober) -> tuple[int, ...]:
    """The worker processes `prober` probes in (none when it probes in this process)."""
    return prober.pids if isinstance(prober, ProbePool) else ()
