"""The engine's state on disk: each check's and component's status, and every transition.

The daemon never writes here itself: it hands `Stmt`s to the writer thread, which runs them in
its next batch, so the event loop never waits on the database.

A check's status is saved with the probe that changed its state, in the same transaction. A
probe that only moves its counters (probes in a row, the flaky window) lets the writer hold the
status for up to `STATE_EVERY` seconds, keeping the newest: one write a minute instead of one
per probe. A clean stop writes what is held; a crash loses at most the counters of the last
`STATE_EVERY` seconds (the hysteresis then counts again from the state saved before them), never
a state or a result. The last probe itself (when, outcome, latency, error) is read back from the
results, which are written every batch (`load_statuses`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, replace

import sqlite_utils

from monitor.state import (
    CheckState,
    CheckStatus,
    CheckTransition,
    ComponentStatus,
    ComponentTransition,
    Status,
)
from monitor.store.codes import (
    CHECK_STATE_CODE,
    ERROR_KIND_OF,
    OUTCOME_FAIL,
    OUTCOME_OF,
    STATUS_CODE,
    STATUS_OF,
)
from monitor.store.saved import decode_check_status, encode_check_status
from monitor.store.schema import _ms


@dataclass(frozen=True, slots=True)
class Stmt:
    """One statement for the writer thread to run in the next batch's transaction.

    Statements with the same `key` in one batch collapse into the last one (a state that
    changed five times in 250 ms is saved once); `params` may be a callable so that encoding
    happens on the writer thread, not the event loop. With a `lag` (and a key), the writer may
    hold the statement until `lag` seconds after it last wrote that key, and writes only the
    newest one held; a statement of the key without a lag writes at once and ends the hold.
    """

    sql: str
    params: Sequence[object] | Callable[[], Sequence[object]]
    key: Hashable | None = None
    lag: float = 0.0


STATE_EVERY = 60.0
"""Seconds a check's saved status may lag behind its probes while its state does not change."""
LAST_PROBE_SLACK = 120.0
"""Seconds before the newest saved status where `load_statuses` looks for later results: the
longest probe (a 60 s timeout) and the writer's batches, twice over."""


def save_check_status(check_id: int, status: CheckStatus, *, lag: float = 0.0) -> Stmt:
    """The check's status row; `lag`: see `Stmt` (a probe that changed no state passes
    `STATE_EVERY`)."""
    return Stmt(
        "INSERT OR REPLACE INTO check_state (check_id, state, since, data) VALUES (?, ?, ?, ?)",
        lambda: (
            check_id,
            CHECK_STATE_CODE[status.state],
            _ms(status.since),
            encode_check_status(status),
        ),
        key=("check_state", check_id),
        lag=lag,
    )


def save_component_status(component: str, status: ComponentStatus) -> Stmt:
    return Stmt(
        "INSERT OR REPLACE INTO component_state (component, status, since, reason) "
        "VALUES (?, ?, ?, ?)",
        (component, STATUS_CODE[status.status], _ms(status.since), status.reason),
        key=("component_state", component),
    )


def save_transition(
    component: str, check_id: int | None, transition: CheckTransition | ComponentTransition
) -> Stmt:
    return Stmt(
        "INSERT INTO transitions (at, component, check_id, before, after, reason) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (
            _ms(transition.at),
            component,
            check_id,
            _word(transition.before),
            _word(transition.after),
            transition.reason,
        ),
    )


def _word(state: CheckState | Status) -> str:
    """A check state or a component status as stored: they share the transitions' columns."""
    if isinstance(state, CheckState):
        return CHECK_STATE_CODE[state]
    return STATUS_CODE[state]


def load_statuses(
    db: sqlite_utils.Database,
) -> tuple[dict[int, CheckStatus], dict[str, ComponentStatus]]:
    """The engine's saved state: check row id -> status, component id -> status. Each check's
    last probe is its newest result, when that came after the status was saved."""
    checks = {
        check_id: decode_check_status(state, since, data)
        for check_id, state, since, data in db.execute(
            "SELECT check_id, state, since, data FROM check_state"
        )
    }
    _take_last_probes(db, checks)
    components = {
        component: ComponentStatus(STATUS_OF[status], since / 1000, reason)
        for component, status, since, reason in db.execute(
            "SELECT component, status, since, reason FROM component_state"
        )
    }
    return checks, components


def _take_last_probes(db: sqlite_utils.Database, checks: dict[int, CheckStatus]) -> None:
    """Bring each saved status's last probe (and last failure's message) up to its results.
    Every status is at most `STATE_EVERY` seconds behind its probes, so only the results since
    the newest saved probe, less that and `LAST_PROBE_SLACK`, are read: a minute or two of rows,
    whatever the history."""
    newest = max((s.last_at for s in checks.values() if s.last_at is not None), default=None)
    if newest is None:
        return
    since = _ms(newest - STATE_EVERY - LAST_PROBE_SLACK)
    last = "SELECT check_id, max(at), outcome, latency_us, error_kind, error FROM results "
    for failures in (True, False):  # the last failure's message, then the last probe
        # SQLite takes the bare columns from the row of max(at).
        where = "WHERE at >= ? AND outcome = ? " if failures else "WHERE at >= ? "
        params = [since, OUTCOME_FAIL] if failures else [since]
        for check_id, at_ms, outcome, latency_us, kind, error in db.execute(
            last + where + "GROUP BY check_id", params
        ):
            saved = checks.get(check_id)
            taken = at_ms / 1000 + latency_us / 1_000_000  # a probe counts from its end
            if saved is None or saved.last_at is None or taken <= saved.last_at:
                continue
            if failures:
                message = error or (str(ERROR_KIND_OF[kind]) if kind is not None else None)
                checks[check_id] = replace(saved, last_error=message or saved.last_error)
                continue
            checks[check_id] = replace(
                saved,
                last_outcome=OUTCOME_OF[outcome],
                last_latency=latency_us / 1_000_000,
                last_at=taken,
            )


@dataclass(frozen=True, slots=True)
class StoredTransition:
    at: float
    component: str
    check: str | None  # None: the component's own status
    before: str
    after: str
    reason: str
