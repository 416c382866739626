"""The composition root: wires config, scheduler, probes, store and HTTP server together.

Nothing else imports more than one adapter. `Daemon.run` is the whole life of `monitor run`:
open the database, register checks, start probing, serve /metrics, and on stop finish what is in
flight, flush every result already taken, and close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry

from monitor import __version__
from monitor.metrics import CheckMetrics, Metrics
from monitor.model import Check, Component, Config, Outcome, ProbeResult, check_key
from monitor.probes import ProbeContext, run_probe
from monitor.scheduler import ProbeScheduler
from monitor.server import build_app, start_server
from monitor.store import ERROR_KIND_CODE, OUTCOME_CODE, register_checks
from monitor.writer import Writer

log = logging.getLogger("monitor")

STOP_GRACE = 2.0  # seconds given to probes in flight when asked to stop
WRITER_STALL = (
    10.0  # seconds without a commit or idle turn before /healthz says the writer is stuck
)


@dataclass
class CheckRuntime:
    """One check as the daemon runs it."""

    key: str
    component: Component
    check: Check
    check_id: int
    metrics: CheckMetrics
    last_outcome: Outcome | None = None


def result_row(
    check_id: int, at: float, result: ProbeResult
) -> tuple[int, int, int, int, int | None, int | None, str | None]:
    return (
        int(at * 1000),
        check_id,
        OUTCOME_CODE[result.outcome],
        int(result.latency * 1_000_000),
        result.status_code,
        ERROR_KIND_CODE[result.error_kind] if result.error_kind is not None else None,
        result.error,
    )


def describe(result: ProbeResult) -> str:
    text = f"{result.outcome.value} in {result.latency * 1000:.1f} ms"
    if result.error:
        text += f" ({result.error_kind}: {result.error})"
    return text


class Daemon:
    def __init__(
        self,
        config: Config,
        *,
        registry: CollectorRegistry | None = None,
        flush_interval: float = 0.25,
    ) -> None:
        self.config = config
        self.registry = registry if registry is not None else CollectorRegistry()
        self.metrics = Metrics(self.registry)
        self.writer = Writer(config.monitor.database, flush_interval=flush_interval)
        self.scheduler = ProbeScheduler(self._run_check, concurrency=config.monitor.concurrency)
        self.checks: dict[str, CheckRuntime] = {}
        self._in_flight: set[asyncio.Task[None]] = set()
        self._ctx: ProbeContext | None = None

    def health(self) -> str | None:
        """None when healthy, else why not: for /healthz."""
        if not self.scheduler.running:
            return "scheduler not running"
        if self.writer.stats.last_error is not None:
            return f"database not writable: {self.writer.stats.last_error}"
        stalled = time.monotonic() - self.writer.stats.last_ok_at
        if stalled > WRITER_STALL:
            return f"database writer stalled for {stalled:.0f} s"
        return None

    async def run(self, stop: asyncio.Event) -> None:
        """Probe until `stop` is set, then shut down cleanly."""
        await asyncio.get_running_loop().run_in_executor(None, self.writer.start)
        runner: web.AppRunner | None = None
        try:
            ids = await self.writer.acall(lambda db: register_checks(db, self.config.components))
            for component in self.config.components:
                for check in component.checks:
                    key = check_key(component, check)
                    self.checks[key] = CheckRuntime(
                        key,
                        component,
                        check,
                        ids[key],
                        self.metrics.for_check(component.id, check.name),
                    )
            async with ProbeContext() as ctx:
                self._ctx = ctx
                if self.config.monitor.listen:
                    app = build_app(self.registry, self.health)
                    runner = await start_server(app, self.config.monitor.listen)
                self.scheduler.add((key, rt.check.interval) for key, rt in self.checks.items())
                self.scheduler.start()
                self._announce()
                await stop.wait()
                log.info("stopping: %d probes in flight", len(self._in_flight))
                self.scheduler.shutdown()
                await self._drain()
        finally:
            if runner is not None:
                await runner.cleanup()
            await asyncio.get_running_loop().run_in_executor(None, self.writer.stop)
            stats = self.scheduler.stats
            log.info(
                "stopped: %d probes started, %d results written, max start lateness %.1f ms, "
                "%d runs missed, %d overlapped",
                stats.started,
                self.writer.stats.rows_written,
                stats.max_lateness * 1000,
                stats.missed,
                stats.overlapped,
            )

    def _announce(self) -> None:
        listen = self.config.monitor.listen
        log.info(
            "monitor %s: %d checks in %d components, database %s%s",
            __version__,
            len(self.checks),
            len(self.config.components),
            self.config.monitor.database,
            f", serving http://{listen}/metrics" if listen else "",
        )

    async def _drain(self) -> None:
        if not self._in_flight:
            return
        _, pending = await asyncio.wait(set(self._in_flight), timeout=STOP_GRACE)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run_check(self, key: str, planned: float, lateness: float) -> None:
        runtime = self.checks[key]
        assert self._ctx is not None
        task = asyncio.current_task()
        assert task is not None
        self._in_flight.add(task)
        try:
            self.metrics.schedule_delay.observe(lateness)
            started = planned + lateness
            result = await run_probe(runtime.check, self._ctx)
            self.writer.submit(result_row(runtime.check_id, started, result))
            runtime.metrics.observe(result)
            if result.outcome is not runtime.last_outcome:
                level = logging.WARNING if result.outcome is Outcome.FAIL else logging.INFO
                before = runtime.last_outcome.value if runtime.last_outcome else "first probe"
                log.log(level, "%s: %s -> %s", key, before, describe(result))
                runtime.last_outcome = result.outcome
            elif log.isEnabledFor(logging.DEBUG):
                log.debug("%s: %s", key, describe(result))
        finally:
            self._in_flight.discard(task)


async def probe_all(
    components: list[Component], *, concurrency: int
) -> list[tuple[Component, Check, ProbeResult]]:
    """Probe every check of `components` once, at most `concurrency` at a time, in config order."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one(ctx: ProbeContext, check: Check) -> ProbeResult:
        async with semaphore:
            return await run_probe(check, ctx)

    pairs = [(component, check) for component in components for check in component.checks]
    async with ProbeContext() as ctx:
        results = await asyncio.gather(*(one(ctx, check) for _, check in pairs))
    return [
        (component, check, result)
        for (component, check), result in zip(pairs, results, strict=True)
    ]
