"""The sections around the components: [monitor], [publisher] and [[maintenance]].

Each reads its keys from the tables in keys.py, then checks what no single value can: keys that
need each other, keys that exclude each other, and references to components.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from monitor.config import schedule
from monitor.config.keys import MAINTENANCE_KEYS, MONITOR_KEYS, PUBLISHER_KEYS
from monitor.config.reader import Reader
from monitor.config.urls import redact_url
from monitor.config.values import Invalid, fmt_time, quote, show
from monitor.model import Maintenance, MonitorSettings, PublisherSettings
from monitor.publishers import PROVIDERS


def read_monitor(reader: Reader, table: Mapping[str, Any]) -> MonitorSettings:
    values, _ = reader.read("[monitor]", table, MONITOR_KEYS)
    values["database"] = reader.resolve(values.get("database", MonitorSettings.database))
    return MonitorSettings(**values)


def read_publisher(reader: Reader, table: Mapping[str, Any]) -> PublisherSettings:
    """Reads [publisher]. What a type requires and accepts (a url, page_id, an API key) is its
    provider's spec (`monitor.publishers.PROVIDERS`)."""
    where = "[publisher]"
    if "api_key" in table:
        reader.error(
            where,
            "api_key",
            "a secret never goes in the config file; name an "
            "environment variable with api_key_env or a file with api_key_file",
        )
        table = {key: value for key, value in table.items() if key != "api_key"}
    values, refused = reader.read(where, table, PUBLISHER_KEYS)
    if "api_key_file" in values:
        values["api_key_file"] = reader.resolve(values["api_key_file"])
    spec = PROVIDERS.get(values.get("type", "none"))
    if "type" in refused or spec is None:  # a bad type is said already; "none" needs nothing
        return PublisherSettings(**values)
    kind = spec.name
    if spec.default_url is not None:
        values.setdefault("url", spec.default_url)
    elif spec.url_required is not None and "url" not in table:
        reader.error(where, "url", f"required for {kind}: {spec.url_required}")
    if "url" in values and (problem := spec.check_url(values["url"])) is not None:
        reader.error(where, "url", f"{problem}, got {show(redact_url(values['url']))}")
    if spec.page_id and "page_id" not in table:
        reader.error(where, "page_id", f"required for {kind}: the id of the page to publish to")
    if spec.needs_key:
        sources = {"api_key_env", "api_key_file"} & table.keys()
        if not sources:
            reader.error(
                where,
                "api_key_env",
                f"{kind} needs an API key: set api_key_env to "
                "an environment variable's name, or api_key_file to a file's path",
            )
        elif len(sources) == 2:
            reader.error(where, "api_key_file", "set api_key_env or api_key_file, not both")
    return PublisherSettings(**values)


def read_maintenance(
    reader: Reader, number: int, table: Mapping[str, Any], known: Collection[str]
) -> Maintenance | None:
    """Reads one [[maintenance]]: start + end, or cron + duration, over `known` component ids."""
    where = f"maintenance {number}"
    before = reader.faults
    values, _ = reader.read(where, table, MAINTENANCE_KEYS)
    if "components" not in table:
        reader.error(where, "components", 'required, a list of component ids like ["api"]')
    for component_id in values.get("components", ()):
        if component_id not in known:
            reader.error(
                where,
                "components",
                f"unknown component {quote(component_id)}; "
                f"known: {', '.join(map(quote, known)) or 'none'}",
            )
    once, recurring = {"start", "end"} & table.keys(), {"cron", "duration"} & table.keys()
    if once and recurring:
        reader.error(
            where,
            "cron",
            "cannot be combined with start and end: a window is "
            "either start + end, or cron + duration",
        )
    elif not once and not recurring:
        reader.error(
            where,
            "start",
            "required: a window is either start + end (RFC 3339 date-times), or cron + duration",
        )
    elif once:
        for key, other in (("start", "end"), ("end", "start")):
            if key not in table:
                reader.error(
                    where, key, f'required with {other}, like {key} = "2026-12-01T02:00:00Z"'
                )
        if "timezone" in table:
            reader.error(
                where,
                "timezone",
                "only applies to cron; start and end carry their own UTC offset",
            )
        start, end = values.get("start"), values.get("end")
        if start and end and end <= start:
            reader.error(
                where, "end", f"must be after start ({fmt_time(start)}), got {fmt_time(end)}"
            )
    else:
        if "cron" not in table:
            reader.error(where, "cron", 'required with duration, like cron = "0 2 * * sun"')
        if "duration" not in table:
            reader.error(where, "duration", 'required with cron, like duration = "2h"')
        zone_read = "timezone" in values or "timezone" not in table
        if "cron" in values and zone_read:  # a cron that never comes is refused too
            try:
                schedule.cron_comes(table["cron"], values["cron"], values.get("timezone", "UTC"))
            except Invalid as exc:
                reader.error(where, "cron", str(exc))
    if reader.faults > before:
        return None
    return Maintenance(**values)
