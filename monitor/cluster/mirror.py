"""The cluster's shared component statuses, transitions and incidents, copied into a node's own
SQLite file (as writes for its writer thread), so that `monitor status`, `monitor history` and
`monitor incidents` show the cluster's, on whichever node they run, even while PostgreSQL is
away (then as of the last copy). A copy is idempotent: a transition already there is skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from monitor.cluster.shared import SharedTransition
from monitor.state import ComponentStatus, Status
from monitor.store import Stmt, save_component_status
from monitor.store.codes import STATUS_CODE
from monitor.store.schema import _ms


def copy(
    transitions: Iterable[SharedTransition],
    statuses: Mapping[str, ComponentStatus],
    incidents: Iterable[tuple[str, str, str, float]],
) -> list[Stmt]:
    writes: list[Stmt] = []
    for t in transitions:
        if t.check is not None:  # a check's transitions here are this node's own
            continue
        at = _ms(t.at)
        before, after = STATUS_CODE[Status(t.before)], STATUS_CODE[Status(t.after)]
        writes.append(
            Stmt(
                "INSERT INTO transitions (at, component, check_id, before, after, reason) "
                "SELECT ?, ?, NULL, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM transitions "
                "WHERE component = ? AND at = ? AND check_id IS NULL AND after = ?)",
                (at, t.component, before, after, t.reason, t.component, at, after),
            )
        )
    writes += [save_component_status(c, s) for c, s in statuses.items()]
    writes += [
        Stmt(
            "INSERT OR IGNORE INTO published_incidents "
            "(publisher, incident_id, component, started) VALUES (?, ?, ?, ?)",
            (publisher, incident_id, component, _ms(started)),
        )
        for publisher, incident_id, component, started in incidents
    ]
    return writes
