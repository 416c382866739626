"""The engine's state on disk: each check's and component's status, and every transition.

The daemon never writes here itself: it hands `Stmt`s to the writer thread, which runs them in
its next batch, so the event loop never waits on the database.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import sqlite_utils

from monitor.state import (
    CheckState,
    CheckStatus,
    CheckTransition,
    ComponentStatus,
    ComponentTransition,
    Status,
)
from monitor.store.codes import CHECK_STATE_CODE, STATUS_CODE, STATUS_OF
from monitor.store.saved import decode_check_status, encode_check_status
from monitor.store.schema import _ms


@dataclass(frozen=True, slots=True)
class Stmt:
    """One statement for the writer thread to run in the next batch's transaction.

    Statements with the same `key` in one batch collapse into the last one (a state that
    changed five times in 250 ms is saved once); `params` may be a callable so that encoding
    happens on the writer thread, not the event loop.
    """

    sql: str
    params: Sequence[object] | Callable[[], Sequence[object]]
    key: Hashable | None = None


def save_check_status(check_id: int, status: CheckStatus) -> Stmt:
    return Stmt(
        "INSERT OR REPLACE INTO check_state (check_id, state, since, data) VALUES (?, ?, ?, ?)",
        lambda: (
            check_id,
            CHECK_STATE_CODE[status.state],
            _ms(status.since),
            encode_check_status(status),
        ),
        key=("check_state", check_id),
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
    """The engine's saved state: check row id -> status, component id -> status."""
    checks = {
        check_id: decode_check_status(state, since, data)
        for check_id, state, since, data in db.execute(
            "SELECT check_id, state, since, data FROM check_state"
        )
    }
    components = {
        component: ComponentStatus(STATUS_OF[status], since / 1000, reason)
        for component, status, since, reason in db.execute(
            "SELECT component, status, since, reason FROM component_state"
        )
    }
    return checks, components


@dataclass(frozen=True, slots=True)
class StoredTransition:
    at: float
    component: str
    check: str | None  # None: the component's own status
    before: str
    after: str
    reason: str
