"""The checks as the daemon runs them: what each is now, its row id, its metrics, when it was
last heard from; which are stale; and the lines that say the first round of probes is done and
how the run went."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from monitor import __version__
from monitor.metrics import CheckMetrics, Metrics
from monitor.model import Check, Component, Config, Outcome, ProbeResult
from monitor.scheduler import ScheduleStats
from monitor.staleness import describe as describe_keys
from monitor.staleness import is_stale
from monitor.writer import WriterStats

log = logging.getLogger("monitor")


@dataclass
class CheckRuntime:
    """One check as the daemon runs it."""

    key: str
    component: Component
    check: Check
    check_id: int
    metrics: CheckMetrics
    watched_since: float = 0.0  # monotonic: when it began to be probed (start, or a reload)
    last_result: float | None = None  # monotonic: when its last result came


class RunningChecks(dict[str, CheckRuntime]):
    """Check key -> its runtime, in the order the checks were added. Each one's probe series
    lives as long as it does."""

    def __init__(self, metrics: Metrics, monotonic: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.metrics = metrics
        self.monotonic = monotonic

    def put(self, key: str, component: Component, check: Check, check_id: int) -> None:
        """Add a check (watched from now) or take its new settings."""
        runtime = self.get(key)
        if runtime is None:
            metrics = self.metrics.for_check(component.id, check.name)
            self[key] = CheckRuntime(key, component, check, check_id, metrics, self.monotonic())
        else:
            runtime.component, runtime.check = component, check

    def drop(self, key: str) -> None:
        gone = self.pop(key)
        self.metrics.forget(gone.component.id, gone.check.name)

    def check_of(self, key: str) -> Check | None:
        runtime = self.get(key)
        return runtime.check if runtime is not None else None

    def stale(self) -> list[str]:
        """The checks with no result for several intervals: blind spots, whatever the cause."""
        now = self.monotonic()
        return [
            key
            for key, runtime in list(self.items())  # a snapshot: scrapes use a thread
            if is_stale(runtime.check, runtime.last_result, runtime.watched_since, now)
        ]


class FirstRound:
    """Logs one line once every check has been probed, so a fresh start shows it works."""

    def __init__(self) -> None:
        self.results: dict[str, ProbeResult] = {}

    def note(self, key: str, result: ProbeResult, checks: int) -> None:
        """A result of a check that had none yet; `checks` is how many there are."""
        self.results[key] = result
        if len(self.results) == checks:
            self.summarise()

    def summarise(self) -> None:
        counts = {outcome: 0 for outcome in Outcome}
        for result in self.results.values():
            counts[result.outcome] += 1
        failing = [
            f"{key} ({result.error_kind}: {result.error})"
            for key, result in self.results.items()
            if result.outcome is Outcome.FAIL
        ]
        shown = describe_keys(failing)
        log.info(
            "first probes: %d ok, %d slow, %d failing%s",
            counts[Outcome.OK],
            counts[Outcome.SLOW],
            counts[Outcome.FAIL],
            f": {shown}" if failing else "",
        )


def describe(result: ProbeResult) -> str:
    """A result in a debug line: "fail in 3.1 ms (refused: connection refused)"."""
    text = f"{result.outcome.value} in {result.latency * 1000:.1f} ms"
    if result.error:
        text += f" ({result.error_kind}: {result.error})"
    return text


def log_stopped(probes: ScheduleStats, writer: WriterStats) -> None:
    """The daemon's last line: what it probed and wrote, and how late it started probes."""
    log.info(
        "stopped: %d probes started, %d results written, max start lateness %.1f ms, "
        "%d runs missed, %d overlapped",
        probes.started,
        writer.rows_written,
        probes.max_lateness * 1000,
        probes.missed,
        probes.overlapped,
    )


def log_started(config: Config) -> None:
    checks = sum(len(component.checks) for component in config.components)
    listen = config.monitor.listen
    log.info(
        "monitor %s: %d checks in %d components, database %s%s",
        *(__version__, checks, len(config.components), config.monitor.database),
        f", serving http://{listen}/metrics" if listen else "",
    )


class Serial:
    """Runs `job` in a task of its own, one run at a time: asked again while it runs (one
    SIGHUP after another), it runs once more when the run ends."""

    def __init__(self, job: Callable[[], Awaitable[None]], name: str) -> None:
        self.job, self.name = job, name
        self.task: asyncio.Task[None] | None = None
        self._again = False

    def request(self) -> None:
        if self.task is not None and not self.task.done():
            self._again = True
            return
        self.task = asyncio.create_task(self._runs(), name=self.name)

    async def _runs(self) -> None:
        while True:
            self._again = False
            await self.job()
            if not self._again:
                return
