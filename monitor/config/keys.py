"""Every key the config accepts, section by section, each beside the parser that checks its value.

This is the one place to add a key. The readers take the tables as they are, the defaults come
from the model, and ALLOWED_KEYS (which tests/test_config.py holds docs/configuration.md to) is
built from the tables:

- a key of every check, also allowed in [defaults]: add it to CHECK_KEYS and a field with a
  default to `model.Check`;
- a key of one check type, also allowed in [defaults]: add it to that type's table (HTTP_KEYS,
  TCP_KEYS) and a field to its class in the model; a new type is one more entry in CHECK_TYPES;
- a key of [[component]]: add it to COMPONENT_KEYS and a field to `model.Component`;
- [monitor], [publisher], [cluster] and [[maintenance]] likewise, with MonitorSettings,
  PublisherSettings, ClusterSettings and Maintenance. What each publisher type requires (url,
  page_id, a key) is its provider's spec (`monitor.publishers.PROVIDERS`), not a key: a new
  provider adds nothing here.

Every number has a lower and an upper bound, so that no value, however large, fails later in
the scheduler or the database. A parser for a new kind of value goes in values.py (or
network.py, schedule.py), marked with `values.accepts` and the JSON Schema of what it takes; a
rule that spans keys, like timeout within interval, in the section's reader
(components.check_timing for check keys), and in schema.py if a JSON Schema can say it. Then
document the key in docs/configuration.md and give it a line in descriptions.py, which
`monitor schema` shows in the editor (tests/test_schema.py fails without it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from monitor.config import network, schedule, urls, values
from monitor.config.values import DAY, YEAR, Parser
from monitor.model import Check, HttpCheck, TcpCheck
from monitor.publishers import NONE, PROVIDERS

SECTIONS = ("monitor", "defaults", "publisher", "cluster", "component", "maintenance")

PUBLISHER_TYPES = (*PROVIDERS, NONE)
PUBLISHER_URLS = {name: spec.default_url for name, spec in PROVIDERS.items() if spec.default_url}

MONITOR_KEYS: dict[str, Parser] = {
    "database": values.path,
    "listen": network.listen,
    "retention": values.duration(0, 100 * YEAR, inclusive=False),
    "concurrency": values.integer(1, 100_000),
    "workers": values.auto_or_integer(1, 64),
    "metrics_per_check": values.boolean,
}
PUBLISHER_KEYS: dict[str, Parser] = {
    "type": values.choice(*PUBLISHER_TYPES),
    "url": network.http_url,
    "page_id": values.nonempty,
    "api_key_env": values.env_name,
    "api_key_file": values.path,
    "monitoring_for": values.duration(0, 30 * DAY, inclusive=True),
    "rate_limit": values.number(0.01, 1000, "1 or 0.5"),
    "timeout": values.duration(0.1, 60, inclusive=True),
    "maintenance_poll": values.duration(0, DAY, inclusive=True),
    "announce_ahead": values.duration(0, 366 * DAY, inclusive=True),
    "notify": values.outage_statuses,
    "incident_name": values.template,
    "body_investigating": values.template,
    "body_update": values.template,
    "body_monitoring": values.template,
    "body_resolved": values.template,
    "body_backfill": values.template,
}
CLUSTER_KEYS: dict[str, Parser] = {
    "database_env": values.env_var("MONITOR_DATABASE_URL", "the URL"),
    "database_file": values.path,
    "node": values.cluster_name,
    "location": values.cluster_name,
    "stale_after": values.duration(1, DAY, inclusive=True),
    "lease": values.duration(1, 600, inclusive=True),
}
CHECK_KEYS: dict[str, Parser] = {
    "interval": values.duration(1, DAY, inclusive=True),
    "timeout": values.duration(0, DAY, inclusive=False),
    "fail_after": values.integer(1, 1000),
    "recover_after": values.integer(1, 1000),
    "degraded_over": values.duration(0, DAY, inclusive=False),
    "flaky_window": values.integer(2, 1000),
    "flaky_enter": values.fraction,
    "flaky_exit": values.fraction,
    "flap_changes": values.integer(2, 1000),
    "flap_window": values.integer(2, 1000),
}
# The status thresholds: a [[component]] may set these too, for all of its checks.
THRESHOLD_KEYS = (
    "fail_after",
    "recover_after",
    "flaky_window",
    "flaky_enter",
    "flaky_exit",
    "flap_changes",
    "flap_window",
)
HTTP_KEYS: dict[str, Parser] = {
    "url": network.http_url,
    "method": network.method,
    "headers": network.headers,
    "body": values.text,
    "expect_status": network.expect_status,
    "expect_body": values.nonempty,
    "follow_redirects": values.boolean,
    "max_redirects": values.integer(0, 100),
    "tls_verify": values.boolean,
    "max_body": values.size,
    "show_query": values.boolean,
}
TCP_KEYS: dict[str, Parser] = {
    "host": network.host,
    "port": values.integer(1, 65535),
    "send": values.text,
    "expect": values.nonempty,
    "tls": values.boolean,
    "tls_verify": values.boolean,
    "max_read": values.size,
}
COMPONENT_KEYS: dict[str, Parser] = {
    "name": values.nonempty,
    "id": values.slug,
    "remote_id": values.nonempty,
    "public_name": values.public_name,
    # Cluster mode only (components.check_locations): where its checks are probed from, and how
    # many of those places must agree.
    "locations": values.locations,
    "quorum": values.integer(1, values.MAX_LOCATIONS),
}
MAINTENANCE_KEYS: dict[str, Parser] = {
    "components": values.ids,
    "start": schedule.datetime,
    "end": schedule.datetime,
    "cron": schedule.cron,
    "duration": values.duration(0, YEAR, inclusive=False),
    "timezone": schedule.timezone,
    "title": values.nonempty,
    "message": values.nonempty,
    "remind": values.boolean,
    "auto_start": values.boolean,
    "auto_complete": values.boolean,
}


def _http_name(check: Mapping[str, Any]) -> str:
    return urls.host_and_path(check["url"])


def _tcp_name(check: Mapping[str, Any]) -> str:
    host = check["host"]
    return f"[{host}]:{check['port']}" if ":" in host else f"{host}:{check['port']}"


@dataclasses.dataclass(frozen=True)
class CheckType:
    """What one `type = "..."` of [[component.check]] accepts beyond CHECK_KEYS."""

    cls: type[Check]
    keys: Mapping[str, Parser]
    required: Mapping[str, str]  # key -> an example, for the message when it is missing
    default_name: Callable[[Mapping[str, Any]], str]  # the name of a check that sets none


CHECK_TYPES: dict[str, CheckType] = {
    "http": CheckType(
        cls=HttpCheck,
        keys=HTTP_KEYS,
        required={"url": 'url = "https://example.com/healthz"'},
        default_name=_http_name,
    ),
    "tcp": CheckType(
        cls=TcpCheck,
        keys=TCP_KEYS,
        required={"host": 'host = "db.internal"', "port": "port = 5432"},
        default_name=_tcp_name,
    ),
}

# [defaults] takes any check key; a check uses those of its own type.
DEFAULTS_KEYS: dict[str, Parser] = {
    key: parser
    for table in (CHECK_KEYS, *(spec.keys for spec in CHECK_TYPES.values()))
    for key, parser in table.items()
}

# What a check has when neither it nor [defaults] sets a key: the model's defaults.
CHECK_DEFAULTS: dict[str, Any] = {
    field.name: field.default
    for field in dataclasses.fields(Check)
    if field.default is not dataclasses.MISSING
}

ALLOWED_KEYS: Mapping[str, tuple[str, ...]] = {
    "monitor": tuple(MONITOR_KEYS),
    "defaults": tuple(DEFAULTS_KEYS),
    "publisher": tuple(PUBLISHER_KEYS),
    "cluster": tuple(CLUSTER_KEYS),
    "component": (*COMPONENT_KEYS, *THRESHOLD_KEYS, "check"),
    **{
        f"component.check ({kind})": ("type", "name", *CHECK_KEYS, *spec.keys)
        for kind, spec in CHECK_TYPES.items()
    },
    "maintenance": tuple(MAINTENANCE_KEYS),
}
