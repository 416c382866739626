"""How the report writes values: escaped text, exact values in `data-` attributes, and the
rounded figures people read (the same roundings as `monitor history`'s table)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

STATUS_WORDS: dict[str | None, str] = {
    "operational": "operational",
    "degraded_performance": "degraded performance",
    "partial_outage": "partial outage",
    "major_outage": "major outage",
    "under_maintenance": "under maintenance",
    None: "not monitored",
}
PERCENTILES = ("p50", "p95", "p99")


def e(text: object) -> str:
    """Text from the config or the database, safe in an element or an attribute."""
    return escape(str(text), quote=True)


def data(values: Mapping[str, Any]) -> str:
    """`data-` attributes holding exact values as JSON (null for None)."""
    return " ".join(f'data-{k}="{e(json.dumps(v))}"' for k, v in values.items())


def words(status: str | None) -> str:
    return STATUS_WORDS.get(status, str(status))


def moment(text: str) -> float:
    """An RFC 3339 time of the documents as Unix seconds."""
    return dt.datetime.fromisoformat(text).timestamp()


def local(seconds: float, tz: ZoneInfo | dt.timezone) -> str:
    """A time for people, in the report's zone, to the minute."""
    return dt.datetime.fromtimestamp(seconds, tz).strftime("%Y-%m-%d %H:%M")


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.3f}%"


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:g} ms"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"
