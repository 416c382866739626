"""Documents built from statuses: `monitor status --json` and the daemon's /status.json."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, overload

from monitor.announce import Announced
from monitor.history import Period, Summary, percentiles
from monitor.incidents import Remote
from monitor.model import Component, check_key
from monitor.state import CheckStatus, ComponentStatus


@overload
def rfc3339(seconds: float, *, ms: bool = False) -> str: ...
@overload
def rfc3339(seconds: None, *, ms: bool = False) -> None: ...
def rfc3339(seconds: float | None, *, ms: bool = False) -> str | None:
    """The one way a time is written for people and programs: RFC 3339 in UTC, to the second
    ("2026-01-01T12:00:00Z", a fraction cut off) or with `ms` to the millisecond
    ("2026-01-01T12:00:00.250Z"). None stays None (null in JSON)."""
    if seconds is None:
        return None
    if not ms:
        return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    at_ms = round(seconds * 1000)
    moment = dt.datetime.fromtimestamp(at_ms // 1000, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at_ms % 1000:03d}Z"


def open_incidents(remotes: Mapping[str, Remote]) -> dict[str, dict[str, str]]:
    """The `incident` of each component with one open on the page: {"id", "status"}."""
    return {
        cid: {"id": r.incident_id, "status": r.incident_status.value}
        for cid, r in remotes.items()
        if r.incident_id is not None and r.incident_status is not None
    }


@dataclass(frozen=True, slots=True)
class PublisherView:
    """The `publisher` block: which publisher, how many changes wait, and why delivery is
    stuck (None while it delivers)."""

    type: str
    queued: int
    error: str | None


@dataclass(frozen=True, slots=True)
class DaemonView:
    """The `daemon` block: whether the daemon runs, and when it was last seen alive."""

    running: bool
    last_seen: float | None


def upcoming_maintenance(
    announced: Iterable[Announced], now: float
) -> dict[str, list[dict[str, str]]]:
    """The `maintenance` of each component: the announced windows that have not ended, in order
    of start, as {"start", "end", "title", "page_id"}."""
    out: dict[str, list[dict[str, str]]] = {}
    for each in sorted(announced, key=lambda a: (a.start, a.key)):
        if each.end <= now:
            continue
        shown = {
            "start": rfc3339(each.start),
            "end": rfc3339(each.end),
            "title": each.title,
            "page_id": each.page_id,
        }
        for component in each.components:
            out.setdefault(component, []).append(shown)
    return out


def status_document(
    components: Sequence[Component],
    statuses: Mapping[str, ComponentStatus],
    checks: Mapping[str, CheckStatus],
    *,
    incidents: Mapping[str, Mapping[str, Any]],
    maintenance: Mapping[str, Sequence[Mapping[str, str]]],
    stale: Collection[str],
    publisher: PublisherView,
    daemon: DaemonView,
    cluster: Mapping[str, Any] | None = None,
    locations: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The contract's `status` shape, the one document of both `monitor status --json` (from
    the database) and /status.json (from the daemon's memory): every block is an argument, so
    neither can leave one out. A component or check never probed has nulls; `stale` holds the
    keys of checks with no result for several intervals."""
    out = []
    for component in components:
        status = statuses.get(component.id)
        rows: list[dict[str, Any]] = []
        for check in component.checks:
            key = check_key(component, check)
            state = checks.get(key)
            probed = state is not None and state.last_at is not None
            rows.append(
                {
                    "name": check.name,
                    "type": check.type,
                    "state": state.state.value if probed and state else None,
                    "since": rfc3339(state.since) if probed and state else None,
                    "last_outcome": state.last_outcome.value
                    if state and state.last_outcome
                    else None,
                    "last_latency_ms": round(state.last_latency * 1000, 3)
                    if state and state.last_latency is not None
                    else None,
                    "last_probe_at": rfc3339(state.last_at) if state else None,
                    "last_error": state.last_error if state else None,
                    "stale": key in stale,
                }
            )
            if locations is not None:  # cluster mode: each location's view of the check
                rows[-1]["locations"] = dict(locations.get(key, {}))
        out.append(
            {
                "id": component.id,
                "name": component.name,
                "status": status.status.value if status else None,
                "since": rfc3339(status.since) if status else None,
                "reason": status.reason if status else None,
                "checks": rows,
                "incident": incidents.get(component.id),
                "maintenance": [dict(m) for m in maintenance.get(component.id, ())],
            }
        )
    return {
        "components": out,
        "publisher": {
            "type": publisher.type,
            "queued": publisher.queued,
            "error": publisher.error,
        },
        "daemon": {"running": daemon.running, "last_seen": rfc3339(daemon.last_seen)},
        "cluster": dict(cluster) if cluster is not None else None,
    }


def history_document(
    since: float,
    until: float,
    rows: Sequence[tuple[Component, Summary, tuple[int, int, int, int, list[int]]]],
    incident_counts: Mapping[str, int] | None = None,
    day_latency: Sequence[Sequence[Sequence[int]]] | None = None,
) -> dict[str, Any]:
    """The contract's `history` shape, with a few more keys (mttr, maintenance, probes; with
    `day_latency`, a histogram per row and day, each day's `latency_ms`)."""
    components = []
    for index, (component, summary, (ok, slow, fail, _latency_sum, buckets)) in enumerate(rows):
        probes = ok + slow + fail
        per_day = day_latency[index] if day_latency is not None else None
        components.append(
            {
                "id": component.id,
                "name": component.name,
                "uptime": _ratio(summary.uptime),
                "success_ratio": _ratio((ok + slow) / probes if probes else None),
                "downtime_seconds": round(summary.downtime, 3),
                "maintenance_seconds": round(summary.maintenance, 3),
                "monitored_seconds": round(summary.monitored, 3),
                "incidents": len(summary.incidents),
                "mttr_seconds": round(summary.mttr, 3) if summary.mttr is not None else None,
                "probes": probes,
                "latency_ms": _percentiles(buckets),
                "days": [
                    {
                        "date": day.date,
                        "uptime": _ratio(day.uptime),
                        "worst_status": day.worst_status.value if day.worst_status else None,
                    }
                    | ({} if per_day is None else {"latency_ms": _percentiles(per_day[n])})
                    for n, day in enumerate(summary.days)
                ],
            }
        )
    return {"since": rfc3339(since), "until": rfc3339(until), "components": components}


def _percentiles(buckets: Sequence[int]) -> dict[str, float | None]:
    p50, p95, p99 = percentiles(buckets, (0.50, 0.95, 0.99))
    return {"p50": p50, "p95": p95, "p99": p99}


def _ratio(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def incidents_document(
    since: float,
    until: float,
    rows: Sequence[tuple[Component, Period, str | None]],
) -> dict[str, Any]:
    return {
        "since": rfc3339(since),
        "until": rfc3339(until),
        "incidents": [
            {
                "component": component.id,
                "start": rfc3339(period.start),
                "end": rfc3339(period.end),
                "duration_seconds": round(period.duration, 3)
                if period.duration is not None
                else None,
                "worst_status": period.worst.value,
                "reason": period.reason,
                "status_page_incident": incident_id,
            }
            for component, period, incident_id in rows
        ],
    }
