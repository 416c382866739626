"""The composition root: wires the stages together and runs them (see docs/architecture.md).

    prober -> engine (check states; judge: component status) -> recorder -> writer (SQLite)
                                                                     outbox -> publishing -> page

`Daemon.run` is the whole life of `monitor run`: open the database, restore the saved state,
start probing, serve /metrics, and on stop finish what is in flight, flush every result already
taken, and close. Each stage lives in its own module; this one only holds them together.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CollectorRegistry

from monitor.config import ConfigError, load_config, read_database_url
from monitor.engine import StatusEngine
from monitor.health import daemon_status, database_problem, health, serve
from monitor.ledger import SqliteLedger
from monitor.logs import Redactor
from monitor.loops import running_loop_name
from monitor.maintenance import MaintenanceCalendar
from monitor.metrics import DroppedCollector, LocationCollector, Metrics
from monitor.model import Config, ProbeResult
from monitor.prober import Prober, make_prober, worker_pids
from monitor.probes import ProbeContext
from monitor.probes.origin import with_origin
from monitor.publishing import Publishing, PublishSetup, prepare
from monitor.recorder import Route, Write
from monitor.recording import Recording
from monitor.reload import checks_by_key, plan_reload
from monitor.runtime import FirstRound, RunningChecks, Serial, describe, log_started, log_stopped
from monitor.scheduler import ScheduleStats
from monitor.server import build_app
from monitor.sizing import (
    DEFAULT_COST,
    SAMPLE_EVERY,
    CostMeter,
    Sizing,
    available_cpus,
    cpu_seconds,
    planned_rate,
    size_workers,
)
from monitor.state import CheckState, CheckStatus, ComponentStatus
from monitor.store import register_checks
from monitor.systemd import Notifier
from monitor.windows import Windows
from monitor.writer import Writer

if TYPE_CHECKING:
    import asyncpg

    from monitor.cluster.leader import Leader
    from monitor.cluster.lease import Lease
    from monitor.cluster.node import ClusterNode, ClusterView
    from monitor.cluster.shared import SharedTransition

log = logging.getLogger("monitor")

MAINTENANCE_TICK = 1.0  # seconds between looks at the maintenance calendar


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
        clock: Callable[[], float] = time.time,
        probe_cost: float = DEFAULT_COST,
        cpus: int | None = None,
    ) -> None:
        """Raises ConfigError when the publisher cannot be set up (no API key, say). `clock` is
        the wall clock (with workers it must pickle, as time.time does). `probe_cost` (CPU
        seconds per probe until the daemon has measured its own) and `cpus` (the cores it may
        use) size `[monitor] workers = "auto"`."""
        self.config, self.dry_run, self.clock = config, dry_run, clock
        self.environ = os.environ if environ is None else environ
        self.redactor = redactor or Redactor()
        self.notifier = notifier or Notifier({})
        self.registry = registry if registry is not None else CollectorRegistry()
        per_check = config.monitor.metrics_per_check  # read once: a reload keeps it
        self.metrics = Metrics(self.registry, per_check=per_check)
        self.metrics.add_states(self._check_states, self._statuses)
        self.metrics.checks_stale.set_function(lambda: len(self.checks.stale()))
        self.metrics.database_writable.set_function(lambda: self.database_problem() is None)
        self.registry.register(DroppedCollector(lambda: self.writer.stats.dropped))
        self.writer = Writer(
            config.monitor.database,
            flush_interval=flush_interval,
            retention=config.monitor.retention,
        )
        self.checks = RunningChecks(self.metrics)
        self.first_round = FirstRound()
        self.windows = Windows(MaintenanceCalendar(config.maintenance))
        self.probe_context = ProbeContext()
        self.probe_cost, self.cpus = probe_cost, cpus or available_cpus()
        self.concurrency = config.monitor.concurrency  # a reload changes it on restart only
        self.cost_meter = CostMeter(lambda: cpu_seconds(worker_pids(self.prober)), self._probes)
        self.sizing = self._size(config)
        self.prober = self._make_prober(self.sizing.workers)
        self._probers: list[Prober] = [self.prober]  # the running one, and one being retired
        self._past = ScheduleStats()  # what the retired ones did
        self._retiring: asyncio.Task[None] | None = None
        self.metrics.probe_workers.set(self.sizing.workers)
        self.setup = self._prepare(config)
        self.publishing = Publishing(
            SqliteLedger(self.writer),
            self.metrics,
            current=lambda component: self.recording.engine.statuses[component],
            on_maintenance=self._on_page_maintenance,
            clock=clock,
        )
        engine = StatusEngine(config.components, clock())
        self.cluster = self._cluster(config)
        alone = self.cluster is None  # in a cluster the leader judges components and publishes
        route = self.setup.route if alone else Route()
        self.recording = Recording(
            engine, self.writer, route, self.publishing.wake, components=alone
        )
        self.reloads = Serial(self._reload, "reload")

    def _cluster(self, config: Config) -> ClusterNode | None:
        """The cluster node `[cluster]` asks for (asyncpg is imported only then), or None.
        Raises ConfigError when the database URL cannot be read."""
        settings = config.cluster
        if settings is None:
            return None
        from monitor.cluster.node import ClusterNode, tick_of

        url = read_database_url(settings, self.environ, path=config.path)
        self.redactor.add([url])
        node = ClusterNode(
            settings,
            url,
            local_checks=lambda: self.recording.engine.checks,
            keys=lambda: list(self.recording.engine.checks),
            make_leader=self._make_leader,
            mirror=self._mirror,
            components=lambda: self.config.components,
            clock=self.clock,
        )
        self.registry.register(LocationCollector(lambda: _by_location(node.view)))
        leader, nodes, epoch = self.metrics.add_cluster()
        leader.set_function(lambda: node.is_leader)
        nodes.set_function(node.alive)
        epoch.set_function(lambda: node.view.epoch)
        self._tick = tick_of(settings)
        self._shared: dict[str, Any] = {}
        return node

    def _make_leader(self, pool: asyncpg.Pool, lease: Lease) -> Leader:
        from monitor.cluster.leader import Leader
        from monitor.cluster.node import LIVE_WITHIN

        assert self.config.cluster is not None
        return Leader(
            pool,
            lease,
            config=lambda: self.config,
            prepare=self._prepare,
            metrics=self.metrics,
            tick=self._tick,
            live_within=self.config.cluster.stale_after or LIVE_WITHIN,
            clock=self.clock,
        )

    def _mirror(self, transitions: list[SharedTransition], shared: dict[str, Any]) -> None:
        """The cluster's statuses, transitions and incidents, copied into this node's SQLite."""
        from monitor.cluster.mirror import copy

        before = self._shared.get("statuses", {})
        statuses = {c: s for c, s in shared["statuses"].items() if before.get(c) != s}
        known = set(self._shared.get("incidents", ()))
        incidents = [i for i in shared["incidents"] if i not in known]
        self._shared = shared
        writes = copy(transitions, statuses, incidents)
        if writes:
            self.writer.submit(list[Write](writes))

    def _make_prober(self, workers: int) -> Prober:
        return make_prober(
            workers,
            concurrency=self.concurrency,
            check_of=self.checks.check_of,
            on_result=self._handle_result,
            ctx=self.probe_context,
            clock=self.clock,
            on_clock_step=lambda step: self.metrics.clock_steps.inc(),  # the prober logged it
        )

    def _size(self, config: Config) -> Sizing:
        """How many processes should probe `config`'s checks: pinned, or sized from their
        planned rate and the cost of a probe (measured over the last minute, once it can be)."""
        measured = self.cost_meter.cost()
        rate = planned_rate(check.interval for c in config.components for check in c.checks)
        cost = self.probe_cost if measured is None else measured
        return size_workers(
            config.monitor.workers, rate, cost, self.cpus, measured=measured is not None
        )

    async def _resize(self, sizing: Sizing) -> None:
        """Probe with `sizing.workers` processes from now on: the running prober stops, its
        probes in flight deliver their results (up to its grace), then a new one takes every
        check, spread over its interval as at start. Only one prober ever probes a check."""
        old, new = self.prober, self._make_prober(sizing.workers)
        self.prober, self.sizing = new, sizing
        self._probers.append(new)
        self.metrics.probe_workers.set(sizing.workers)
        self._retiring = asyncio.create_task(old.stop(), name="retire prober")
        await asyncio.shield(self._retiring)  # a stop mid-way awaits it too (run)
        self._retiring = None
        self._probers.remove(old)
        self._past = _add_stats(self._past, old.stats)
        self.cost_meter.reset()  # the cost of a probe changes with the shape
        new.add((key, rt.check.interval) for key, rt in self.checks.items())
        new.start()

    def _probes(self) -> int:
        return self._past.started + sum(p.stats.started for p in self._probers)

    def _prepare(self, config: Config) -> PublishSetup:
        return prepare(config, dry_run=self.dry_run, environ=self.environ, redactor=self.redactor)

    def status_document(self) -> dict[str, object]:
        """/status.json: the document of `monitor status --json`, from memory."""
        publisher, delivery = self.recording.route.publisher, self.publishing.delivery
        components = self.config.components
        cluster = locations = None
        if self.cluster is not None:
            leader = self.cluster.leader
            publishing = leader.publishing if leader is not None else None
            delivery = publishing.delivery if publishing is not None else None
            publisher = self.setup.route.publisher
            cluster = self.cluster.view.document()
            locations = self.cluster.view.locations()
        return daemon_status(
            components,
            self._statuses(),
            self._check_states(),
            publisher,
            delivery,
            self.checks.stale(),
            self.clock(),
            cluster=cluster,
            locations=locations,
        )

    def _check_states(self) -> Mapping[str, CheckStatus]:
        """Each check's state: this daemon's, or in a cluster the one the leader judged (this
        node's own until the leader has judged it)."""
        local = self.recording.engine.checks
        if self.cluster is None or not self.cluster.view.checks:
            return local
        judged = self.cluster.view.checks
        return {key: judged.get(key, status) for key, status in local.items()}

    def _statuses(self) -> Mapping[str, ComponentStatus]:
        """Each component's status: this daemon's, or the cluster's."""
        if self.cluster is None:
            return self.recording.engine.statuses
        shared: Mapping[str, ComponentStatus] = self._shared.get("statuses", {})
        return {c.id: shared[c.id] for c in self.config.components if c.id in shared}

    def health(self) -> str | None:
        """None when healthy, else why not: for /healthz."""
        cluster = self.cluster.problem if self.cluster is not None else lambda: None
        probing = self.prober.running or self._retiring is not None  # or moving to another
        return health(probing, self.database_problem, self.checks.stale, cluster)

    def database_problem(self) -> str | None:
        """Why results are not reaching the database now, or None."""
        return database_problem(self.writer.stats, time.monotonic())

    async def run(self, stop: asyncio.Event) -> None:
        """Probe until `stop` is set, then shut down cleanly."""
        await asyncio.get_running_loop().run_in_executor(None, self.writer.start)
        runner: web.AppRunner | None = None
        try:
            ids = await self.writer.acall(lambda db: register_checks(db, self.config.components))
            calendar, components = self.windows.calendar, self.config.components
            await self.recording.restore(components, ids, calendar.active, self.clock())
            cluster = self.config.cluster
            for key, (component, check) in checks_by_key(self.config.components).items():
                probed = with_origin(check, cluster.node, cluster.location) if cluster else check
                self.checks.put(key, component, probed, ids[key])
            async with self.probe_context:
                if self.config.monitor.listen:
                    app = build_app(self.metrics.render, self.health, self.status_document)
                    runner = await serve(app, self.config.monitor.listen, self.config.path)
                self.prober.add((key, rt.check.interval) for key, rt in self.checks.items())
                self.prober.start()
                log_started(self.config)
                log.info("%s, on %s's event loop", self.sizing.describe(), running_loop_name())
                tasks = [
                    asyncio.create_task(self._maintenance_ticker(), name="maintenance"),
                    asyncio.create_task(self.notifier.watchdog(), name="watchdog"),
                    asyncio.create_task(self._measure_cost(), name="probe cost"),
                ]
                if self.cluster is not None:
                    await self.cluster.start()
                else:
                    self.publishing.start(self.setup)
                self.notifier.ready(self._summary())
                try:
                    await stop.wait()
                finally:
                    self.notifier.stopping()
                    await _cancel([*tasks, *([self.reloads.task] if self.reloads.task else [])])
                    await self.publishing.stop()
                    if self.cluster is not None:
                        await self.cluster.stop()
                if self._retiring is not None:  # a reload moving probing was stopped mid-way
                    await self._retiring
                await self.prober.stop()
        finally:
            if self.setup.provider is not None:
                await self.setup.provider.close()
            if runner is not None:
                await runner.cleanup()
            await asyncio.get_running_loop().run_in_executor(None, self.writer.stop)
            log_stopped(self._stats(), self.writer.stats)

    def _stats(self) -> ScheduleStats:
        """What every prober of this run did."""
        total = self._past
        for prober in self._probers:
            total = _add_stats(total, prober.stats)
        return total

    async def _measure_cost(self) -> None:
        while True:
            self.cost_meter.sample()
            await asyncio.sleep(SAMPLE_EVERY)

    async def _maintenance_ticker(self) -> None:
        while True:
            await asyncio.sleep(MAINTENANCE_TICK)
            self._apply_maintenance(self.clock())

    def _apply_maintenance(self, now: float) -> None:
        self.recording.maintenance(self.config.components, self.windows.active, now)

    def _on_page_maintenance(self, components: set[str]) -> None:
        if self.windows.read_page(components):
            self._apply_maintenance(self.clock())

    def request_reload(self) -> None:
        """SIGHUP: re-read the config in the background; a second one during a reload queues."""
        self.reloads.request()

    async def _reload(self) -> None:
        self.notifier.reloading()
        path = self.config.path
        try:
            new = await asyncio.get_running_loop().run_in_executor(None, load_config, path)
            setup = self._prepare(new)
        except ConfigError as exc:
            for line in exc.errors:
                log.error("reload refused, keeping the running config: %s", line)
            self.metrics.reload_ok.set(0)
            self.notifier.reloaded(f"{self._summary()}; last reload refused")
            return
        if _cluster_changed(self.config, new):
            log.warning("reload: [cluster] changed; it takes effect on restart")
        new = replace(new, cluster=self.config.cluster)  # so are --node and --location
        plan = plan_reload(self.config, new)
        for key in plan.restart:
            log.warning("reload: [monitor] %s changed; it takes effect on restart", key)
        now = self.clock()
        ids = await self.writer.acall(lambda db: register_checks(db, new.components))
        for key in plan.removed:
            self.prober.remove(key)
            self.checks.drop(key)
        cluster = new.cluster
        for key, (component, check) in plan.checks.items():
            probed = with_origin(check, cluster.node, cluster.location) if cluster else check
            self.checks.put(key, component, probed, ids[key])
        self.prober.update(plan.jobs(plan.changed))
        self.prober.add(plan.jobs(plan.added))
        changes = self.recording.reconfigure(new.components, now)
        self.config, self.windows.calendar = new, MaintenanceCalendar(new.maintenance)
        self.setup = setup
        if self.cluster is not None:
            self.recording.reloaded(changes, Route())
            self.cluster.reconfigured()
        else:
            await self.publishing.stop()
            self.recording.reloaded(changes, setup.route)
            self._apply_maintenance(now)
            self.publishing.start(setup)
        self.metrics.reload_ok.set(1)
        self.metrics.reload_time.set(now)
        log.info(
            "reloaded %s: %d checks added, %d removed, %d changed, %d unchanged",
            *(path, len(plan.added), len(plan.removed), len(plan.changed), len(plan.kept)),
        )
        sizing = self._size(new)
        if sizing.workers == self.sizing.workers:
            self.sizing = sizing
        else:
            log.info("reload: %s, was %d", sizing.describe(), self.sizing.workers)
            await self._resize(sizing)
        self.notifier.reloaded(self._summary())

    def _handle_result(
        self, key: str, planned: float, lateness: float, result: ProbeResult
    ) -> None:
        """A probe's result, from this process or a worker: state, storage, metrics."""
        runtime = self.checks.get(key)
        if runtime is None:  # removed by a reload while it was probed
            return
        runtime.last_result = time.monotonic()
        self.metrics.schedule_delay.observe(lateness)
        self.recording.observe(key, runtime.check_id, planned + lateness, result, self.clock())
        runtime.metrics.observe(result)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s: %s", key, describe(result))
        first = self.first_round.results
        if len(first) < len(self.checks) and key not in first:
            self.first_round.note(key, result, len(self.checks))

    def _summary(self) -> str:
        return f"probing {len(self.checks)} checks in {len(self.config.components)} components"


def _add_stats(a: ScheduleStats, b: ScheduleStats) -> ScheduleStats:
    return ScheduleStats(
        started=a.started + b.started,
        missed=a.missed + b.missed,
        overlapped=a.overlapped + b.overlapped,
        max_lateness=max(a.max_lateness, b.max_lateness),
        clock_steps=a.clock_steps + b.clock_steps,
    )


def _by_location(view: ClusterView) -> tuple[dict[str, dict[str, bool]], set[str]]:
    """For the metrics: per check, each location's up (not down); the checks without quorum."""
    by_location = {
        key: {loc: vote.state is not CheckState.DOWN for loc, vote in decision.votes.items()}
        for key, decision in view.decisions.items()
    }
    return by_location, view.quorum_lost()


def _cluster_changed(old: Config, new: Config) -> bool:
    """Whether a reload changed [cluster] (node and location aside: --node and --location may
    have set them; they are who this node is until it restarts)."""
    if old.cluster is None or new.cluster is None:
        return old.cluster is not new.cluster
    same = replace(new.cluster, node=old.cluster.node, location=old.cluster.location)
    return same != old.cluster


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel `tasks` and wait until each has ended."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
