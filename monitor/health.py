"""What the daemon says about itself: /healthz (None when healthy, else why not) and
/status.json (the document of `monitor status --json`, from memory), and where (`serve`).

A blind spot is never healthy: a prober that stopped, a database that takes no results, or a
check that has had none for several intervals (staleness.py) turns /healthz to 503 with the
reason, first things first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from monitor.config import ConfigError
from monitor.delivery import Delivery
from monitor.model import Component
from monitor.server import start_server
from monitor.staleness import STALE_INTERVALS
from monitor.staleness import describe as describe_checks
from monitor.state import CheckStatus, ComponentStatus
from monitor.views import (
    DaemonView,
    PublisherView,
    open_incidents,
    status_document,
    upcoming_maintenance,
)
from monitor.writer import WriterStats

WRITER_STALL = 10.0  # seconds without a commit or idle turn before /healthz says it is stuck


def database_problem(stats: WriterStats, now: float) -> str | None:
    """Why results are not reaching the database now, or None. `now` is monotonic."""
    if stats.last_error is not None:
        return f"database not writable: {stats.last_error}"
    stalled = now - stats.last_ok_at
    if stalled > WRITER_STALL:
        return f"database writer stalled for {stalled:.0f} s"
    return None


def health(
    probing: bool,
    database: Callable[[], str | None],
    stale: Callable[[], list[str]],
    cluster: Callable[[], str | None] = lambda: None,
) -> str | None:
    """None when healthy, else the first reason it is not (each looked at only if needed).
    `cluster` says why a node cannot take part in its cluster (the shared database away)."""
    if not probing:
        return "scheduler not running"
    if problem := database():
        return problem
    if problem := cluster():
        return problem
    if checks := stale():
        return (
            f"{len(checks)} check{'s' * (len(checks) != 1)} stale, no result for over "
            f"{STALE_INTERVALS} intervals: {describe_checks(checks)}"
        )
    return None


def daemon_status(
    components: Sequence[Component],
    statuses: Mapping[str, ComponentStatus],
    checks: Mapping[str, CheckStatus],
    publisher: str | None,
    delivery: Delivery | None,
    stale: list[str],
    now: float,
    *,
    cluster: Mapping[str, Any] | None = None,
    locations: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, object]:
    """/status.json: the statuses in memory, the publisher's queue and trouble, the incidents
    open on the page as of delivery's last turn; in a cluster, the cluster's component
    statuses (as of the last look) and who is in it."""
    view = PublisherView(
        publisher or "none",
        delivery.queue_depth if delivery is not None else 0,
        delivery.error if delivery is not None else None,
    )
    return status_document(
        components,
        statuses,
        checks,
        incidents=open_incidents(delivery.remotes if delivery is not None else {}),
        maintenance=upcoming_maintenance(delivery.announced if delivery is not None else (), now),
        stale=set(stale),
        publisher=view,
        daemon=DaemonView(running=True, last_seen=now),
        cluster=cluster,
        locations=locations,
    )


async def serve(app: web.Application, listen: str, config_path: Path) -> web.AppRunner:
    """Bind `listen`; a host that does not resolve or a port in use is a config error."""
    try:
        return await start_server(app, listen)
    except OSError as exc:
        reason = str(exc.strerror or exc).removeprefix(f"[Errno {exc.errno}] ")
        raise ConfigError(
            config_path,
            [
                f"{config_path}: [monitor] listen: cannot listen on {listen}: {reason}; "
                'choose a free port and an address of this machine, or "" to turn it off'
            ],
        ) from exc
