"""The composition root: wires config, scheduler, probes, store and HTTP server together.

Nothing else imports more than one adapter. `Daemon.run` is the whole life of `monitor run`:
open the database, register checks, start probing, serve /metrics, and on stop finish what is in
flight, flush every result already taken, and close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace

from aiohttp import web
from prometheus_client import CollectorRegistry

from monitor import __version__
from monitor.config import ConfigError, load_config, read_api_key
from monitor.delivery import Delivery
from monitor.engine import Change, StatusEngine
from monitor.incidents import Planner, templates_from
from monitor.logs import Redactor
from monitor.maintenance import MaintenanceCalendar
from monitor.metrics import CheckMetrics, DroppedCollector, Metrics, StateCollector
from monitor.model import Check, Component, Config, Outcome, ProbeResult, check_key
from monitor.pool import ProbePool
from monitor.probes import ProbeContext, run_probe
from monitor.publishers import make_provider, publish_targets
from monitor.publishers.base import Provider, RateLimiter
from monitor.scheduler import ProbeScheduler
from monitor.server import build_app, start_server
from monitor.staleness import STALE_INTERVALS, is_stale
from monitor.staleness import describe as describe_checks
from monitor.state import ComponentTransition, Status
from monitor.store import (
    ERROR_KIND_CODE,
    OUTCOME_CODE,
    ResultRow,
    Stmt,
    load_statuses,
    register_checks,
    save_check_status,
    save_component_status,
    save_outbox_entry,
    save_transition,
)
from monitor.systemd import Notifier
from monitor.views import DaemonView, PublisherView, open_incidents, status_document
from monitor.writer import Writer

log = logging.getLogger("monitor")

MAINTENANCE_TICK = 1.0  # seconds between looks at the maintenance calendar
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
    watched_since: float = 0.0  # monotonic: when it began to be probed (start, or a reload)
    last_result: float | None = None  # monotonic: when its last result came


def result_row(check_id: int, at: float, result: ProbeResult) -> ResultRow:
    return (
        int(at * 1000),
        check_id,
        OUTCOME_CODE[result.outcome],
        int(result.latency * 1_000_000),
        result.status_code,
        ERROR_KIND_CODE[result.error_kind] if result.error_kind is not None else None,
        result.error,
    )


def is_worse(transition: ComponentTransition) -> bool:
    """Whether a component got worse: worth a warning in the log."""
    if transition.after is Status.UNDER_MAINTENANCE:
        return False
    order = list(Status)  # operational .. major_outage, then under_maintenance
    return transition.before is Status.UNDER_MAINTENANCE or order.index(
        transition.after
    ) > order.index(transition.before)


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
        dry_run: bool = False,
        environ: Mapping[str, str] | None = None,
        redactor: Redactor | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        """Raises ConfigError when the publisher cannot be set up (no API key, say)."""
        self.config = config
        self.dry_run = dry_run
        self.environ = os.environ if environ is None else environ
        self.redactor = redactor or Redactor()
        self.notifier = notifier or Notifier({})
        self.registry = registry if registry is not None else CollectorRegistry()
        self.metrics = Metrics(self.registry)
        self.registry.register(StateCollector(lambda: self.engine))
        self.metrics.checks_stale.set_function(lambda: len(self.stale_checks()))
        self.metrics.database_writable.set_function(lambda: self.database_problem() is None)
        self.registry.register(DroppedCollector(lambda: self.writer.stats.dropped))
        self.writer = Writer(
            config.monitor.database,
            flush_interval=flush_interval,
            retention=config.monitor.retention,
        )
        self.scheduler: ProbeScheduler | ProbePool
        if config.monitor.workers > 1:
            self.scheduler = ProbePool(
                config.monitor.workers,
                concurrency=config.monitor.concurrency,
                check_of=lambda key: self.checks[key].check,
                on_result=self._handle_result,
                grace=STOP_GRACE,
                on_clock_step=self._clock_stepped,
            )
        else:
            self.scheduler = ProbeScheduler(
                self._run_check,
                concurrency=config.monitor.concurrency,
                on_clock_step=self._clock_stepped,
            )
        self.checks: dict[str, CheckRuntime] = {}
        self.calendar = MaintenanceCalendar(config.maintenance)
        self.engine = StatusEngine(config.components, time.time())
        self._in_flight: set[asyncio.Task[None]] = set()
        self._ctx: ProbeContext | None = None
        self._first_probes: dict[str, ProbeResult] = {}
        self.limiter, self.provider, self.planner = self._publishing(config)
        self.publisher = self.provider.name if self.provider is not None else None
        self.targets = publish_targets(config.components, self.publisher)
        self.delivery: Delivery | None = None
        self._delivery_task: asyncio.Task[None] | None = None
        self._page_maintenance: set[str] = set()
        self._reload_task: asyncio.Task[None] | None = None
        self._reload_again = False

    def _publishing(self, config: Config) -> tuple[RateLimiter, Provider | None, Planner]:
        """The publisher the config asks for; its API key joins the redactor's secrets."""
        settings = replace(config.publisher, type="log") if self.dry_run else config.publisher
        limiter = RateLimiter(settings.rate_limit)
        key = None
        if settings.type not in ("none", "log"):
            key = read_api_key(settings, self.environ, path=config.path)
            self.redactor.add([key])
        provider = make_provider(settings, key, config.path, limiter)
        return limiter, provider, Planner(settings.monitoring_for, templates_from(settings))

    def _clock_stepped(self, step: float) -> None:
        """The scheduler logged it; probing kept its pace."""
        self.metrics.clock_steps.inc()

    def status_document(self) -> dict[str, object]:
        """/status.json: the document of `monitor status --json`, from memory."""
        delivery = self.delivery
        publisher = PublisherView(
            self.publisher or "none",
            delivery.queue_depth if delivery is not None else 0,
            delivery.error if delivery is not None else None,
        )
        return status_document(
            self.config.components,
            self.engine.statuses,
            self.engine.checks,
            incidents=open_incidents(delivery.remotes if delivery is not None else {}),
            stale=set(self.stale_checks()),
            publisher=publisher,
            daemon=DaemonView(running=True, last_seen=time.time()),
        )

    def stale_checks(self) -> list[str]:
        """The checks with no result for several intervals: blind spots, whatever the cause."""
        now = time.monotonic()
        return [
            key
            for key, runtime in list(self.checks.items())  # a snapshot: scrapes use a thread
            if is_stale(runtime.check, runtime.last_result, runtime.watched_since, now)
        ]

    def health(self) -> str | None:
        """None when healthy, else why not: for /healthz."""
        if not self.scheduler.running:
            return "scheduler not running"
        if problem := self.database_problem():
            return problem
        if stale := self.stale_checks():
            return (
                f"{len(stale)} check{'s' * (len(stale) != 1)} stale, no result for over "
                f"{STALE_INTERVALS} intervals: {describe_checks(stale)}"
            )
        return None

    def database_problem(self) -> str | None:
        """Why results are not reaching the database now, or None."""
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
            await self._restore(ids)
            for component in self.config.components:
                for check in component.checks:
                    key = check_key(component, check)
                    self.checks[key] = CheckRuntime(
                        key,
                        component,
                        check,
                        ids[key],
                        self.metrics.for_check(component.id, check.name),
                        time.monotonic(),
                    )
            async with ProbeContext() as ctx:
                self._ctx = ctx
                if self.config.monitor.listen:
                    app = build_app(self.metrics.render, self.health, self.status_document)
                    runner = await self._serve(app)
                self.scheduler.add((key, rt.check.interval) for key, rt in self.checks.items())
                self.scheduler.start()
                self._announce()
                tasks = [
                    asyncio.create_task(self._maintenance_ticker(), name="maintenance"),
                    asyncio.create_task(self.notifier.watchdog(), name="watchdog"),
                ]
                self._start_delivery()
                self.notifier.ready(self._summary())
                try:
                    await stop.wait()
                finally:
                    self.notifier.stopping()
                    if self._reload_task is not None:
                        tasks.append(self._reload_task)
                    if self._delivery_task is not None:
                        tasks.append(self._delivery_task)
                    for task in tasks:
                        task.cancel()
                    for task in tasks:
                        with contextlib.suppress(asyncio.CancelledError):
                            await task
                if isinstance(self.scheduler, ProbePool):
                    log.info("stopping: %d probe workers finish their probes", self.scheduler.size)
                else:
                    log.info("stopping: %d probes in flight", len(self._in_flight))
                if isinstance(self.scheduler, ProbePool):
                    await self.scheduler.stop()
                else:
                    self.scheduler.pause()
                    await self._drain()
                    self.scheduler.shutdown()
        finally:
            if self.provider is not None:
                await self.provider.close()
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

    async def _serve(self, app: web.Application) -> web.AppRunner:
        """Bind `listen`; a host that does not resolve or a port in use is a config error."""
        listen = self.config.monitor.listen
        try:
            return await start_server(app, listen)
        except OSError as exc:
            reason = str(exc.strerror or exc).removeprefix(f"[Errno {exc.errno}] ")
            raise ConfigError(
                self.config.path,
                [
                    f"{self.config.path}: [monitor] listen: cannot listen on {listen}: {reason}; "
                    'choose a free port and an address of this machine, or "" to turn it off'
                ],
            ) from exc

    async def _restore(self, ids: dict[str, int]) -> None:
        """Pick up the saved statuses, so a restart neither forgets an outage nor invents one."""
        by_id, components = await self.writer.acall(load_statuses)
        saved = {key: by_id[id_] for key, id_ in ids.items() if id_ in by_id}
        now = time.time()
        self.engine = StatusEngine(self.config.components, now, saved, components)
        for component in self.config.components:
            self.engine.maintenance[component.id] = self.calendar.active(component.id, now)
        changes = self.engine.judge_all(now)
        writes: list[ResultRow | Stmt] = [
            save_component_status(component_id, status)
            for component_id, status in self.engine.statuses.items()
        ]
        self.writer.submit(writes + self._record(changes))
        if saved:
            bad = {
                cid: s.status.value
                for cid, s in self.engine.statuses.items()
                if s.status is not Status.OPERATIONAL
            }
            log.info(
                "restored the state of %d checks; not operational: %s", len(saved), bad or "none"
            )

    async def _maintenance_ticker(self) -> None:
        while True:
            await asyncio.sleep(MAINTENANCE_TICK)
            now = time.time()
            self._apply_maintenance(now)

    def _apply_maintenance(self, now: float) -> None:
        writes: list[ResultRow | Stmt] = []
        for component in self.config.components:
            active = self.calendar.active(component.id, now)
            if active is None and component.id in self._page_maintenance:
                active = "scheduled maintenance on the status page"
            writes += self._record(self.engine.set_maintenance(component.id, active, now))
        if writes:
            self.writer.submit(writes)

    def _on_page_maintenance(self, components: set[str]) -> None:
        if components != self._page_maintenance:
            self._page_maintenance = components
            self._apply_maintenance(time.time())

    def _summary(self) -> str:
        return f"probing {len(self.checks)} checks in {len(self.config.components)} components"

    def _start_delivery(self) -> None:
        if self.provider is not None:
            self.delivery = self._delivery(self.provider)
            self._delivery_task = asyncio.create_task(self.delivery.run(), name="delivery")

    async def _stop_delivery(self) -> None:
        if self._delivery_task is not None:
            self._delivery_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._delivery_task
            self._delivery_task = None
        if self.provider is not None:
            await self.provider.close()
        self.delivery = None

    def request_reload(self) -> None:
        """SIGHUP: re-read the config in the background; a second one during a reload queues."""
        if self._reload_task is not None and not self._reload_task.done():
            self._reload_again = True
            return
        self._reload_task = asyncio.create_task(self._reload(), name="reload")

    async def _reload(self) -> None:
        while True:
            self._reload_again = False
            await self._reload_once()
            if not self._reload_again:
                return

    async def _reload_once(self) -> None:
        self.notifier.reloading()
        path = self.config.path
        try:
            new = await asyncio.get_running_loop().run_in_executor(None, load_config, path)
            limiter, provider, planner = self._publishing(new)
        except ConfigError as exc:
            for line in exc.errors:
                log.error("reload refused, keeping the running config: %s", line)
            self.metrics.reload_ok.set(0)
            self.notifier.reloaded(f"{self._summary()}; last reload refused")
            return
        old = self.config
        for key in ("database", "listen", "concurrency", "workers"):
            if getattr(new.monitor, key) != getattr(old.monitor, key):
                log.warning("reload: [monitor] %s changed; it takes effect on restart", key)
        now = time.time()
        ids = await self.writer.acall(lambda db: register_checks(db, new.components))
        wanted = {
            check_key(component, check): (component, check)
            for component in new.components
            for check in component.checks
        }
        removed = [key for key in self.checks if key not in wanted]
        for key in removed:
            gone = self.checks.pop(key)
            self.scheduler.remove(key)
            self.metrics.forget(gone.component.id, gone.check.name)
        reschedule, kept, changed = [], 0, 0
        for key, (component, check) in wanted.items():
            runtime = self.checks.get(key)
            if runtime is None:
                metrics = self.metrics.for_check(component.id, check.name)
                self.checks[key] = CheckRuntime(
                    key, component, check, ids[key], metrics, time.monotonic()
                )
                reschedule.append(key)
                continue
            if runtime.check != check:
                changed += 1
                old_interval = runtime.check.interval
                runtime.component, runtime.check = component, check
                if isinstance(self.scheduler, ProbePool):
                    self.scheduler.update(key)  # the worker reschedules if the interval changed
                elif old_interval != check.interval:
                    self.scheduler.remove(key)
                    reschedule.append(key)
            else:
                kept += 1
            runtime.component, runtime.check = component, check
        self.scheduler.add((key, self.checks[key].check.interval) for key in reschedule)
        self.config = new
        self.calendar = MaintenanceCalendar(new.maintenance)
        changes = self.engine.reconfigure(new.components, now)
        writes: list[ResultRow | Stmt] = [
            save_component_status(cid, status) for cid, status in self.engine.statuses.items()
        ]
        await self._stop_delivery()
        self.limiter, self.provider, self.planner = limiter, provider, planner
        self.publisher = provider.name if provider is not None else None
        self.targets = publish_targets(new.components, self.publisher)
        self.writer.submit(writes + self._record(changes))
        self._apply_maintenance(now)
        self._start_delivery()
        self.metrics.reload_ok.set(1)
        self.metrics.reload_time.set(now)
        added = len(wanted) - kept - changed
        log.info(
            "reloaded %s: %d checks added, %d removed, %d changed, %d unchanged",
            path,
            added,
            len(removed),
            changed,
            kept,
        )
        self.notifier.reloaded(self._summary())

    def _delivery(self, provider: Provider) -> Delivery:
        publisher = provider.name
        for outcome in ("ok", "retry", "error"):  # every series exists from the start, at 0
            self.metrics.publish_requests.labels(publisher, outcome)

        def on_request(outcome: str) -> None:
            self.metrics.publish_requests.labels(publisher, outcome).inc()

        delivery = Delivery(
            provider,
            self.limiter,
            self.writer,
            self.targets,
            self.planner,
            current=lambda cid: self.engine.statuses[cid],
            on_request=on_request,
            on_maintenance=self._on_page_maintenance,
            maintenance_poll=self.config.publisher.maintenance_poll,
        )
        self.metrics.publish_queue.labels(publisher).set_function(lambda: delivery.queue_depth)
        return delivery

    def _record(self, changes: list[Change]) -> list[ResultRow | Stmt]:
        """The writes for transitions: the transition, the status it produced, and the outbox
        entry that publishes it, to go into one transaction. Logs each change."""
        writes: list[ResultRow | Stmt] = []
        for change in changes:
            transition = change.transition
            if isinstance(transition, ComponentTransition):
                status = self.engine.statuses[change.component]
                writes.append(save_component_status(change.component, status))
                writes.append(save_transition(change.component, None, transition))
                if self.publisher is not None and change.component in self.targets:
                    writes.append(save_outbox_entry(self.publisher, change.component, transition))
                    if self.delivery is not None:
                        self.delivery.wake()
                log.log(
                    logging.WARNING if is_worse(transition) else logging.INFO,
                    "component %s: %s -> %s: %s",
                    change.component,
                    transition.before,
                    transition.after,
                    transition.reason,
                )
            else:
                runtime = self.checks.get(change.check or "")
                check_id = runtime.check_id if runtime else None
                writes.append(save_transition(change.component, check_id, transition))
                log.info(
                    "check %s: %s -> %s (%s)",
                    change.check,
                    transition.before,
                    transition.after,
                    transition.reason,
                )
        return writes

    def _summarise_first_round(self) -> None:
        """One line once every check has been probed, so a fresh start shows it works."""
        counts = {outcome: 0 for outcome in Outcome}
        for result in self._first_probes.values():
            counts[result.outcome] += 1
        failing = [
            f"{key} ({result.error_kind}: {result.error})"
            for key, result in self._first_probes.items()
            if result.outcome is Outcome.FAIL
        ]
        shown = ", ".join(failing[:5]) + (
            f" and {len(failing) - 5} more" if len(failing) > 5 else ""
        )
        log.info(
            "first probes: %d ok, %d slow, %d failing%s",
            counts[Outcome.OK],
            counts[Outcome.SLOW],
            counts[Outcome.FAIL],
            f": {shown}" if failing else "",
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
            result = await run_probe(runtime.check, self._ctx)
            self._handle_result(key, planned, lateness, result)
        finally:
            self._in_flight.discard(task)

    def _handle_result(
        self, key: str, planned: float, lateness: float, result: ProbeResult
    ) -> None:
        """A probe's result, from this process or a worker: state, storage, metrics."""
        runtime = self.checks.get(key)
        if runtime is None:  # removed by a reload while it was probed
            return
        runtime.last_result = time.monotonic()
        self.metrics.schedule_delay.observe(lateness)
        changes = self.engine.observe(key, result, time.time())
        self.writer.submit(
            [
                result_row(runtime.check_id, planned + lateness, result),
                save_check_status(runtime.check_id, self.engine.checks[key]),
                *self._record(changes),
            ]
        )
        runtime.metrics.observe(result)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s: %s", key, describe(result))
        if len(self._first_probes) < len(self.checks) and key not in self._first_probes:
            self._first_probes[key] = result
            if len(self._first_probes) == len(self.checks):
                self._summarise_first_round()


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
