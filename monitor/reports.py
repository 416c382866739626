"""`monitor history`, `incidents` and `export`: queries of the store folded by the pure
arithmetic of monitor.history into the documents of monitor.views."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from monitor.config import parse_duration
from monitor.history import latency_by_day, summarise
from monitor.history import periods as find_periods
from monitor.model import Component, Config, check_key
from monitor.store import Store
from monitor.views import history_document, incidents_document, rfc3339

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_FORMS = (
    'use a duration like "30d", a date like "2026-01-01", or a time like "2026-01-01T12:00:00Z"'
)
EARLIEST = 0.0  # 1970-01-01: nothing was recorded before
AHEAD = 366 * 86400.0  # a window may end up to a year from now ("this year", not "forever")


class BadTime(ValueError):
    pass


def parse_when(text: str, tz: ZoneInfo | dt.timezone, now: float) -> float:
    """ "90d" (that long ago), "2026-01-01" (midnight in `tz`), an RFC 3339 time, or "now".

    Raises BadTime for anything else, a day that does not exist (February 30th, month 13,
    year 0), an offset that is not one, and a moment before 1970 or more than a year ahead:
    such a window holds nothing, and far enough out it is not a time at all."""
    text = text.strip()
    shown = repr(text if len(text) <= 40 else text[:39] + "…")
    try:
        when = _parse(text, tz, now)
    except (ValueError, OverflowError, OSError) as exc:
        detail = str(exc) if isinstance(exc, ValueError) else "out of range"
        raise BadTime(f"{shown}: {detail}; {_FORMS}") from None
    if not when >= EARLIEST:  # also NaN
        raise BadTime(f"{shown} is before 1970-01-01: nothing was recorded then")
    if when > now + AHEAD:
        raise BadTime(f"{shown} is more than a year from now")
    return when


def _parse(text: str, tz: ZoneInfo | dt.timezone, now: float) -> float:
    if text == "now":
        return now
    if _DATE.fullmatch(text):
        day = dt.date.fromisoformat(text)  # ValueError for month 13, February 30th, year 0
        return dt.datetime.combine(day, dt.time(), tz).timestamp()
    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("not a duration, a date or a time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.timestamp()


def _selected(config: Config, ids: Sequence[str]) -> list[Component]:
    return [c for c in config.components if not ids or c.id in ids]


def history(
    config: Config,
    store: Store,
    ids: Sequence[str],
    since: float,
    until: float,
    tz: ZoneInfo | dt.timezone,
    now: float,
    *,
    latency_per_day: bool = True,
) -> dict[str, Any]:
    """The `history` document; without `latency_per_day` its days have no `latency_ms` (a
    query per component over every hour or day of the window, for the JSON and the report)."""
    runs = store.runs()
    check_ids = store.check_ids()
    # Hourly rollups live as long as raw results; older windows read the daily ones.
    hourly = since >= now - config.monitor.retention + 3600
    rows, day_latency = [], []
    for component in _selected(config, ids):
        summary = summarise(store.changes(component.id), runs, since, until, tz)
        ids_of = [
            check_ids[key]
            for key in (check_key(component, check) for check in component.checks)
            if key in check_ids
        ]
        rows.append((component, summary, store.rollup(ids_of, since, until, hourly)))
        if latency_per_day:
            series = store.latency_series(ids_of, since, until, hourly)
            day_latency.append(latency_by_day(series, since, until, tz))
    return history_document(
        since, until, rows, day_latency=day_latency if latency_per_day else None
    )


def incidents(
    config: Config, store: Store, since: float, until: float, publisher: str
) -> dict[str, Any]:
    published = store.published(publisher)
    rows = []
    for component in config.components:
        for period in find_periods(store.changes(component.id), since, until):
            end = period.end if period.end is not None else until
            incident = next(
                (
                    incident_id
                    for cid, incident_id, started in published
                    if cid == component.id and period.start - 1 <= started <= end
                ),
                None,
            )
            rows.append((component, period, incident))
    rows.sort(key=lambda row: row[1].start)
    return incidents_document(since, until, rows)


EXPORT_FIELDS = ("component", "check", "at", "outcome", "latency_ms", "status_code", "error")


def export(
    store: Store, since: float, until: float, component: str | None
) -> Iterator[dict[str, Any]]:
    """Raw results as the contract's objects, one at a time: nothing is loaded in memory."""
    for result in store.export(since, until, component):
        yield {
            "component": result.component,
            "check": result.check,
            "at": rfc3339(result.at_ms / 1000, ms=True),
            "outcome": result.outcome.value,
            "latency_ms": result.latency_ms,
            "status_code": result.status_code,
            "error": f"{result.error_kind}: {result.error}" if result.error else None,
        }


__all__ = ["BadTime", "export", "history", "incidents", "parse_when", "rfc3339"]
