"""What each publisher still owes the status page, and what the page shows.

A component's status change is queued in `outbox` in the same batch as the transition itself, so
a crash can lose neither; the delivery loop closes entries once the page has them and keeps, per
publisher and component, what the page now shows (`publish_state`).
"""

from __future__ import annotations

import sqlite_utils

from monitor.incidents import Pending, Remote
from monitor.state import ComponentTransition
from monitor.store.codes import (
    OUTBOX_DELIVERED,
    OUTBOX_FAILED,
    OUTBOX_PENDING,
    STATUS_CODE,
    STATUS_OF,
)
from monitor.store.saved import decode_remote, encode_remote
from monitor.store.schema import _ms
from monitor.store.status import Stmt


def save_outbox_entry(publisher: str, component: str, transition: ComponentTransition) -> Stmt:
    """A status change to publish: written in the same batch as the transition itself."""
    return Stmt(
        "INSERT INTO outbox (publisher, component, at, before, after, reason) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (
            publisher,
            component,
            _ms(transition.at),
            STATUS_CODE[transition.before],
            STATUS_CODE[transition.after],
            transition.reason,
        ),
    )


def load_outbox(
    db: sqlite_utils.Database, publisher: str
) -> dict[str, tuple[Remote | None, list[Pending]]]:
    """Per component: what the page shows (None: never published) and the pending changes."""
    out: dict[str, tuple[Remote | None, list[Pending]]] = {}
    for component, data in db.execute(
        "SELECT component, data FROM publish_state WHERE publisher = ?", [publisher]
    ):
        out[component] = (decode_remote(data), [])
    for id_, component, at, before, after, reason in db.execute(
        "SELECT id, component, at, before, after, reason FROM outbox "
        f"WHERE publisher = ? AND state = {OUTBOX_PENDING} ORDER BY id",  # the partial index
        [publisher],
    ):
        remote, pending = out.setdefault(component, (None, []))
        pending.append(Pending(id_, at / 1000, STATUS_OF[before], STATUS_OF[after], reason))
    return out


def record_delivery(
    db: sqlite_utils.Database,
    publisher: str,
    component: str,
    remote: Remote,
    through: int | None,
    at: float,
    error: str | None = None,
) -> None:
    """After a request: save what the page now shows and close the entries it covered
    (delivered, or failed with the page's message). One transaction, committed on return."""
    with db.conn:
        db.execute(
            "INSERT OR REPLACE INTO publish_state (publisher, component, data) VALUES (?, ?, ?)",
            [publisher, component, encode_remote(remote)],
        )
        if through is not None:
            db.execute(
                "UPDATE outbox SET state = ?, error = ?, done_at = ? "
                f"WHERE publisher = ? AND component = ? AND state = {OUTBOX_PENDING} AND id <= ?",
                [
                    OUTBOX_FAILED if error else OUTBOX_DELIVERED,
                    error,
                    _ms(at),
                    publisher,
                    component,
                    through,
                ],
            )


def record_publisher_health(
    db: sqlite_utils.Database, publisher: str, error: str | None, at: float
) -> None:
    with db.conn:
        db.execute(
            "INSERT INTO publisher_health (publisher, error, since) VALUES (?, ?, ?) "
            "ON CONFLICT(publisher) DO UPDATE SET error = excluded.error, since = excluded.since "
            "WHERE publisher_health.error IS NOT excluded.error",
            [publisher, error, _ms(at)],
        )


def record_published(
    db: sqlite_utils.Database, publisher: str, incident_id: str, component: str, started: float
) -> None:
    """Remember an incident we created, for `monitor incidents` (adoptions included)."""
    with db.conn:
        db.execute(
            "INSERT OR IGNORE INTO published_incidents "
            "(publisher, incident_id, component, started) VALUES (?, ?, ?, ?)",
            [publisher, incident_id, component, _ms(started)],
        )
