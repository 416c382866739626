"""The scheduled maintenance announced on each publisher's page (table `announcements`): kept the
moment the page answers, so the delivery knows what it has sent, and `monitor status` what is
coming. An announcement made just before a crash is found again on the page by its marker."""

from __future__ import annotations

from typing import Any

import sqlite_utils

from monitor.announce import Announced
from monitor.store.schema import _ms

_COLUMNS = 'key, page_id, components, start, "end", title, fingerprint'


def _announced(row: tuple[Any, ...]) -> Announced:
    key, page_id, components, start, end, title, fingerprint = row
    return Announced(
        key, page_id, tuple(components.split()), start / 1000, end / 1000, title, fingerprint
    )


def load_announced(db: sqlite_utils.Database, publisher: str) -> dict[str, Announced]:
    rows = db.execute(f"SELECT {_COLUMNS} FROM announcements WHERE publisher = ?", [publisher])
    return {row[0]: _announced(row) for row in rows}


def record_announced(
    db: sqlite_utils.Database, publisher: str, announced: Announced, replaces: str | None = None
) -> None:
    """Save what the page now has; `replaces` is the key of the record it takes the place of."""
    with db.conn:
        if replaces is not None and replaces != announced.key:
            forget_announced(db, publisher, replaces)
        db.execute(
            "INSERT OR REPLACE INTO announcements "
            '(publisher, key, page_id, components, start, "end", title, fingerprint) '
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                publisher,
                announced.key,
                announced.page_id,
                " ".join(announced.components),
                _ms(announced.start),
                _ms(announced.end),
                announced.title,
                announced.fingerprint,
            ],
        )


def forget_announced(db: sqlite_utils.Database, publisher: str, key: str) -> None:
    with db.conn:
        db.execute("DELETE FROM announcements WHERE publisher = ? AND key = ?", [publisher, key])


def announced_query(publisher: str) -> tuple[str, list[object]]:
    """The SQL (and its parameters) of every announcement of `publisher`, in order of start:
    rows for `announced_row`."""
    sql = f"SELECT {_COLUMNS} FROM announcements WHERE publisher = ? ORDER BY start, key"
    return sql, [publisher]


def announced_row(row: tuple[Any, ...]) -> Announced:
    return _announced(row)
