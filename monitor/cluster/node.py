"""A node of the cluster at run time: reports its check states, campaigns for the lease, and
while it holds it runs the leader's work (leader.py). Without `[cluster]` this is never built.

Three loops, each on its own connection from a small pool with a deadline on every statement,
so a database that is down, refuses or blackholes costs a timeout and never a hang:

- report: every tick, a heartbeat and the reports of the checks probed since the last push
  (all of them again after a failure, so nothing is lost while the database was away);
- lease: every lease/5, renew or take the lease; the leader's work runs exactly while it is held
  and is cancelled the moment it cannot be proven (`Lease.check`);
- view: every tick, who leads and which nodes are alive, for /status.json, /healthz and the
  metrics, and the shared component statuses and transitions copied into this node's SQLite,
  so `monitor status`, `history` and `incidents` read the cluster's, whichever node they run on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from monitor.cluster import shared
from monitor.cluster.lease import Lease, LeaseLost, leader_of
from monitor.cluster.schema import migrate
from monitor.cluster.votes import Decision, decide_all
from monitor.config.urls import redact_urls
from monitor.model import ClusterSettings, Component
from monitor.state import CheckStatus

if TYPE_CHECKING:
    import asyncpg

    from monitor.cluster.leader import Leader

log = logging.getLogger("monitor.cluster")

LIVE_WITHIN = 30.0  # seconds: a node heard from this recently counts as a member


def tick_of(settings: ClusterSettings) -> float:
    """Seconds between two reports, two judgements, two looks at the cluster."""
    return min(1.0, settings.lease / 10)


@dataclass
class ClusterView:
    """What this node knows of the cluster, as of its last look."""

    node: str
    location: str
    leader: str | None = None
    epoch: int = 0
    nodes: list[shared.Node] = field(default_factory=list)  # every node the database knows
    error: str | None = None  # why the database cannot be used now
    error_since: float | None = None  # monotonic
    checks: dict[str, CheckStatus] = field(default_factory=dict)  # as the leader judged them
    decisions: dict[str, Decision] = field(default_factory=dict)  # each location's view

    def locations(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Per check key, each location's view: `"locations"` of a check in `status --json`."""
        from monitor.views import rfc3339

        return {
            key: {
                location: {
                    "state": vote.state.value,
                    "since": rfc3339(vote.report.status.since),
                    "last_probe_at": rfc3339(vote.report.status.last_at)
                    if vote.report.status.last_at is not None
                    else None,
                    "fresh": vote.fresh,
                    "node": vote.report.node,
                }
                for location, vote in decision.votes.items()
            }
            for key, decision in self.decisions.items()
        }

    def quorum_lost(self) -> set[str]:
        """The check keys whose locations are too few and fresh to decide."""
        return {key for key, decision in self.decisions.items() if decision.quorum_lost}

    def document(self) -> dict[str, Any]:
        """`"cluster"` of the status document."""
        from monitor.views import rfc3339

        return {
            "node": self.node,
            "leader": self.leader,
            "epoch": self.epoch,
            "error": self.error,
            "nodes": [
                {
                    "name": n.name,
                    "location": n.location,
                    "last_seen": rfc3339(n.last_seen),
                    "alive": n.age <= LIVE_WITHIN,
                }
                for n in self.nodes
            ],
        }


def session_settings(settings: ClusterSettings, timeout: float) -> dict[str, str]:
    """Limits the server keeps on our sessions, for when the node cannot: a node cut off in
    the middle of a transaction leaves its session idle in it, holding the lease row's lock,
    and would hold off every takeover until TCP gave up (hours). The server ends such a
    session within lease/3, and no statement of ours waits on a lock or runs for long."""

    def ms(seconds: float) -> str:
        return str(max(1, round(seconds * 1000)))

    return {
        "application_name": f"monitor {settings.node}"[:63],
        "idle_in_transaction_session_timeout": ms(settings.lease / 3),
        "statement_timeout": ms(timeout),
        "lock_timeout": ms(timeout),
    }


def is_database_error(exc: BaseException) -> bool:
    """An error of the database or of the way to it (not a bug of ours)."""
    if isinstance(exc, OSError | TimeoutError | LeaseLost):
        return True
    return type(exc).__module__.startswith("asyncpg")


def describe_error(exc: BaseException) -> str:
    text = redact_urls(str(exc)) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if str(exc) else text


class ClusterNode:
    def __init__(
        self,
        settings: ClusterSettings,
        url: str,
        *,
        local_checks: Callable[[], Mapping[str, CheckStatus]],
        keys: Callable[[], list[str]],
        make_leader: Callable[[asyncpg.Pool, Lease], Leader],
        mirror: Callable[[list[shared.SharedTransition], dict[str, Any]], None],
        components: Callable[[], Sequence[Component]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings, self.url, self.clock = settings, url, clock
        self.local_checks, self.keys = local_checks, keys
        self.make_leader, self.mirror, self.components = make_leader, mirror, components
        self._reports = shared.Reports()
        self.lease = Lease(settings.node, settings.lease)
        self.tick = tick_of(settings)
        # every statement, every connect: a fifth of the lease, but never so short that a busy
        # machine (or database) turns every renewal into a timeout
        self.timeout = max(1.0, settings.lease / 5)
        self.view = ClusterView(settings.node, settings.location)
        self.leader: Leader | None = None
        self._leader_task: asyncio.Task[None] | None = None
        self._pushed: dict[str, float | None] = {}  # key -> last_at pushed
        self._keys_changed = True
        self._pool: asyncpg.Pool | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._last_transition = 0
        self._migrated = False

    def alive(self) -> int:
        """Nodes heard from in the last LIVE_WITHIN seconds, as of the last look."""
        return sum(1 for n in self.view.nodes if n.age <= LIVE_WITHIN)

    @property
    def is_leader(self) -> bool:
        return self.leader is not None and self.lease.held

    def problem(self) -> str | None:
        """Why this node cannot take part in the cluster now (for /healthz), or None."""
        if self.view.error is not None:
            return f"cluster database unreachable: {self.view.error}"
        return None

    async def start(self) -> None:
        """Open the pool (connections are made when first needed) and start the loops."""
        import asyncpg

        self._pool = await asyncpg.create_pool(
            self.url,
            min_size=0,
            max_size=4,
            timeout=self.timeout,
            command_timeout=self.timeout,
            max_inactive_connection_lifetime=60.0,
            server_settings=session_settings(self.settings, self.timeout),
        )
        self._tasks = [
            asyncio.create_task(self._every(self._report), name="cluster-report"),
            asyncio.create_task(self._every(self._campaign, self.settings.lease / 5), name="lease"),
            asyncio.create_task(self._every(self._look), name="cluster-view"),
        ]

    async def stop(self) -> None:
        """Stop leading (the page's requests in flight are cancelled; the outbox keeps every
        entry), give the lease back so the next node need not wait it out, stop the loops."""
        await self._stop_leading("stopping")
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._pool is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self.timeout):
                    async with self._pool.acquire() as conn:
                        await self.lease.release(conn)
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self.timeout):
                    await self._pool.close()
            self._pool.terminate()

    def reconfigured(self) -> None:
        """The checks changed (a reload): push every report, drop the ones of removed checks,
        and start the leader's work again with the new config."""
        self._pushed.clear()
        self._keys_changed = True
        if self.leader is not None:
            self.leader.reconfigure()

    # -- the loops -------------------------------------------------------------------------

    async def _every(self, step: Callable[[], Any], every: float | None = None) -> None:
        every = self.tick if every is None else every
        while True:
            started = time.monotonic()
            try:
                async with asyncio.timeout(self.timeout * 2):
                    await step()
            except Exception as exc:
                if not is_database_error(exc):
                    raise
                self._failed(exc)
            await asyncio.sleep(max(0.0, every - (time.monotonic() - started)))

    def _failed(self, exc: BaseException) -> None:
        message = describe_error(exc)
        if isinstance(exc, LeaseLost):
            log.warning("%s", message)
            return
        if self.view.error is None:
            log.error(
                "cluster database unreachable: %s; probing goes on, publishing waits", message
            )
            self.view.error_since = time.monotonic()
        self.view.error = message
        self._pushed.clear()  # push everything once it is back

    def _ok(self) -> None:
        if self.view.error is not None:
            away = time.monotonic() - (self.view.error_since or time.monotonic())
            log.info("cluster database reachable again after %.0f s", away)
            self.view.error = self.view.error_since = None

    async def _report(self) -> None:
        assert self._pool is not None
        checks = self.local_checks()
        rows = [
            shared.report_row(key, status)
            for key, status in checks.items()
            if key not in self._pushed or self._pushed[key] != status.last_at
        ]
        keep = self.keys() if self._keys_changed else None
        async with self._pool.acquire() as conn:
            if not self._migrated:
                await migrate(conn)
                self._migrated = True
            await shared.push(
                conn, self.settings.node, self.settings.location, self.lease.holder, rows, keep
            )
        self._ok()
        self._keys_changed = False
        for key, _, _, last_at, _ in rows:
            self._pushed[key] = last_at

    async def _campaign(self) -> None:
        assert self._pool is not None
        if not self._migrated:
            return
        try:
            async with self._pool.acquire() as conn:
                held = await self.lease.campaign(conn)
        except BaseException:
            if not self.lease.held:
                await self._stop_leading("the lease cannot be renewed")
            raise
        if not held:
            await self._stop_leading("another node holds the lease")
            return
        leader = self.leader
        if leader is not None and leader.epoch != self.lease.epoch:
            await self._stop_leading(f"the lease lapsed; taken again at epoch {self.lease.epoch}")
            leader = None
        if leader is None or self._leader_task is None or self._leader_task.done():
            await self._start_leading(fresh=leader is None)

    async def _start_leading(self, *, fresh: bool) -> None:
        assert self._pool is not None
        if self._leader_task is not None and self._leader_task.done() and self.leader is not None:
            with contextlib.suppress(BaseException):
                self._leader_task.result()
        if fresh:
            log.warning(
                "%s is the leader now (lease epoch %d): publishing from this node",
                self.settings.node,
                self.lease.epoch,
            )
        self.leader = self.make_leader(self._pool, self.lease)
        self._leader_task = asyncio.create_task(self.leader.run(wait=fresh), name="leader")
        self._leader_task.add_done_callback(self._leader_ended)

    def _leader_ended(self, task: asyncio.Task[None]) -> None:
        """The leader's work ends only when cancelled or on an error: the lease lost, the
        database away (said once by the loops), or a bug of ours (with its traceback). The
        lease loop starts it again while the lease is held."""
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None or isinstance(exc, LeaseLost):
            return
        if is_database_error(exc):
            log.warning("the leader's work stopped: %s", describe_error(exc))
        else:
            log.error("the leader's work failed: %s", describe_error(exc), exc_info=exc)

    async def _stop_leading(self, why: str) -> None:
        task, self._leader_task = self._leader_task, None
        leader, self.leader = self.leader, None
        if task is None:
            return
        if leader is not None and not task.done():
            log.warning("%s is no longer the leader: %s", self.settings.node, why)
        task.cancel()
        with contextlib.suppress(BaseException):
            await task

    async def _look(self) -> None:
        assert self._pool is not None
        if not self._migrated:
            return
        async with self._pool.acquire() as conn:
            leader, epoch, live = await leader_of(conn)
            members = await shared.nodes(conn)
            fresh = await shared.transitions_after(conn, self._last_transition)
            checks, statuses = await shared.restore(conn)
            incidents = await shared.published(conn)
            reports = await self._reports.load(conn, LIVE_WITHIN)
        self.view.decisions = decide_all(
            reports, self.components(), now=self.clock(), stale_after=self.settings.stale_after
        )
        self.view.checks = checks
        self.view.leader = leader if live else None
        self.view.epoch = epoch
        self.view.nodes = members
        if fresh:
            self._last_transition = fresh[-1].id
        self.mirror(fresh, {"statuses": statuses, "incidents": incidents})
