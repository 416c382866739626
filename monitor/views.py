"""Documents built from statuses: `monitor status --json` and the daemon's /status.json."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from monitor.model import Component, check_key
from monitor.state import CheckStatus, ComponentStatus


def rfc3339(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_document(
    components: Sequence[Component],
    statuses: Mapping[str, ComponentStatus],
    checks: Mapping[str, CheckStatus],
    incidents: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The contract's `status` shape. A component or check never probed has nulls."""
    incidents = incidents or {}
    out = []
    for component in components:
        status = statuses.get(component.id)
        rows = []
        for check in component.checks:
            state = checks.get(check_key(component, check))
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
                }
            )
        out.append(
            {
                "id": component.id,
                "name": component.name,
                "status": status.status.value if status else None,
                "since": rfc3339(status.since) if status else None,
                "reason": status.reason if status else None,
                "checks": rows,
                "incident": incidents.get(component.id),
            }
        )
    return {"components": out}
