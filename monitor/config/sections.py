"""The sections around the components: [monitor], [publisher], [cluster] and [[maintenance]].

Each reads its keys from the tables in keys.py, then checks what no single value can: keys that
need each other, keys that exclude each other, and references to components.
"""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Collection, Mapping
from typing import Any

from monitor.config import schedule
from monitor.config.keys import CLUSTER_KEYS, MAINTENANCE_KEYS, MONITOR_KEYS, PUBLISHER_KEYS
from monitor.config.reader import Reader
from monitor.config.urls import redact_url
from monitor.config.values import Invalid, fmt_duration, fmt_time, node_from_host, quote, show
from monitor.model import ClusterSettings, Maintenance, MonitorSettings, PublisherSettings
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


INLINE_DATABASE = ("database", "database_url", "url")  # refused: the URL holds a password
LEASE_PER_TIMEOUT = 3  # a leader's lease outlives this many requests to the page


def read_cluster(
    reader: Reader,
    table: Mapping[str, Any],
    publisher: PublisherSettings,
    publisher_table: Mapping[str, Any],
) -> tuple[ClusterSettings | None, PublisherSettings]:
    """Reads [cluster], and fits the publisher's request timeout to the leader's lease: a lease
    that ran out during a request would let a second leader publish beside the first.

    Returns the cluster (None when it has a fault) and the publisher with its timeout: an explicit
    timeout must fit the lease; an unset one becomes min(10 s, lease / 3).
    """
    where = "[cluster]"
    before = reader.faults
    for key in INLINE_DATABASE:
        if key in table:
            reader.error(
                where,
                key,
                "a database URL holds a password, which never goes in the config file; name an "
                "environment variable with database_env or a file with database_file",
            )
    table = {key: value for key, value in table.items() if key not in INLINE_DATABASE}
    values, _ = reader.read(where, table, CLUSTER_KEYS)
    sources = {"database_env", "database_file"} & table.keys()
    if not sources:
        reader.error(
            where,
            "database_env",
            "cluster mode needs its PostgreSQL database: set database_env to an environment "
            "variable's name, or database_file to a file's path",
        )
    elif len(sources) == 2:
        reader.error(where, "database_file", "set database_env or database_file, not both")
    if "database_file" in values:
        values["database_file"] = reader.resolve(values["database_file"])
    values.setdefault("node", node_from_host(socket.gethostname()))
    lease = values.get("lease", ClusterSettings.lease)
    if "timeout" not in publisher_table:
        timeout = min(publisher.timeout, lease / LEASE_PER_TIMEOUT)
        publisher = dataclasses.replace(publisher, timeout=timeout)
    elif (
        ("lease" in values or "lease" not in table)  # a refused one is said already
        and _accepted("timeout", publisher_table)
        and lease < LEASE_PER_TIMEOUT * publisher.timeout
    ):
        written = show(table["lease"]) if "lease" in table else None
        shown = written or f'the default "{fmt_duration(lease)}"'
        reader.error(
            where,
            "lease",
            f"must be at least {LEASE_PER_TIMEOUT} x [publisher] timeout "
            f"({fmt_duration(LEASE_PER_TIMEOUT * publisher.timeout)}), got {shown}; "
            "raise lease or lower timeout",
        )
    if reader.faults > before:
        return None, publisher
    return ClusterSettings(**values), publisher


def _accepted(key: str, table: Mapping[str, Any]) -> bool:
    """Whether [publisher] `key` was read: one refused is said already, and not compared."""
    try:
        PUBLISHER_KEYS[key](table[key])
    except (Invalid, ArithmeticError, ValueError, TypeError, LookupError, RecursionError):
        return False  # the same faults Reader.read reports
    return True


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
