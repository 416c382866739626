"""[defaults], [[component]] and [[component.check]]: what gets monitored, and how often.

A check's value for a key comes from the check itself, else [defaults], else the model; a key set
in [defaults] reaches only the checks whose type has it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from monitor.config.keys import (
    CHECK_DEFAULTS,
    CHECK_KEYS,
    CHECK_TYPES,
    COMPONENT_KEYS,
    DEFAULTS_KEYS,
    THRESHOLD_KEYS,
)
from monitor.config.network import has_credentials
from monitor.config.reader import Reader
from monitor.config.values import fmt_duration, nonempty, quote, show, slugify
from monitor.model import Check, Component

_NOT_DEFAULTS = ("type", "name")  # said on each check, never inherited
_TYPE_CHOICES = " or ".join(map(quote, CHECK_TYPES))


def read_defaults(reader: Reader, table: Mapping[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """The [defaults] values, and the keys refused: a check is not blamed for those."""
    where = "[defaults]"
    for key in _NOT_DEFAULTS:
        if key in table:
            reader.error(where, key, "cannot be a default; set it on each [[component.check]]")
    table = {key: value for key, value in table.items() if key not in _NOT_DEFAULTS}
    values, refused = reader.read(where, table, DEFAULTS_KEYS)
    check_timing(reader, where, CHECK_DEFAULTS | values, set(values), refused)
    return values, refused


def check_timing(
    reader: Reader, where: str, values: Mapping[str, Any], own: set[str], refused: set[str]
) -> None:
    """timeout within interval, degraded_over within timeout: said where one was set."""
    interval, timeout, slow = values["interval"], values["timeout"], values["degraded_over"]
    pair = {"interval", "timeout"}
    if timeout > interval and own & pair and not refused & pair:
        reader.error(
            where,
            "timeout",
            f"must be more than 0 and at most interval "
            f"({fmt_duration(interval)}), got {fmt_duration(timeout)}",
        )
    pair = {"flaky_enter", "flaky_exit"}
    enter, leave = values["flaky_enter"], values["flaky_exit"]
    if leave >= enter and own & pair and not refused & pair:
        reader.error(
            where,
            "flaky_exit",
            f"must be less than flaky_enter ({enter:g}) so a flaky check does not flap at the "
            f"edge, got {leave:g}",
        )
    pair = {"timeout", "degraded_over"}
    if slow is not None and slow >= timeout and own & pair and not refused & pair:
        reader.error(
            where,
            "degraded_over",
            f"must be more than 0 and less than timeout "
            f"({fmt_duration(timeout)}), got {fmt_duration(slow)}",
        )


def check_authorization(reader: Reader, where: str, values: Mapping[str, Any]) -> None:
    """aiohttp sends a URL's user:password@ as an Authorization header, and refuses a second."""
    url, headers = values.get("url"), values.get("headers", ())
    if url is None or not has_credentials(url):
        return
    if any(name.lower() == "authorization" for name, _ in headers):
        reader.error(
            where,
            "url",
            "has credentials (user:password@) and headers set Authorization; the request can "
            "carry only one, so remove the credentials or the header",
        )


CLUSTER_ONLY = ("locations", "quorum")  # [[component]] keys that mean something only in a cluster


def check_locations(
    reader: Reader, where: str, table: Mapping[str, Any], values: Mapping[str, Any], cluster: bool
) -> None:
    """locations and quorum need [cluster], and a quorum no larger than the locations."""
    if not cluster:
        for key in CLUSTER_ONLY:
            if key in table:
                reader.error(
                    where,
                    key,
                    "needs a [cluster] table (probing from several places needs several nodes); "
                    "remove it or add [cluster]",
                )
    places, quorum = values.get("locations"), values.get("quorum")
    if places is not None and quorum is not None and quorum > len(places):
        reader.error(
            where,
            "quorum",
            f"must be at most the number of locations ({len(places)}), got {quorum}",
        )


def read_check(
    reader: Reader,
    where: str,
    table: Mapping[str, Any],
    defaults: Mapping[str, Any],
    refused: set[str],
) -> Check | None:
    kind = table.get("type")
    if not isinstance(kind, str) or kind not in CHECK_TYPES:
        if kind is None:
            reader.error(where, "type", f"required: {_TYPE_CHOICES}")
        else:
            reader.error(where, "type", f"must be {_TYPE_CHOICES}, got {show(kind)}")
        return None
    spec = CHECK_TYPES[kind]
    where = f"{where} ({kind})"
    before = reader.faults
    parsers = {"name": nonempty, **CHECK_KEYS, **spec.keys}
    mine = {}
    for key, raw in table.items():
        other = [name for name, each in CHECK_TYPES.items() if key in each.keys]
        if key not in parsers and other:
            reader.error(
                where,
                key,
                f"is a key of {other[0]} checks, not {kind}; allowed: "
                f"{', '.join([*parsers, 'type'])}",
            )
        elif key != "type":
            mine[key] = raw
    own, own_refused = reader.read(where, mine, parsers, handled=("type",))
    inherited = {key: value for key, value in defaults.items() if key in parsers}
    values = CHECK_DEFAULTS | inherited | own
    for key, example in spec.required.items():
        if key not in values and key not in own_refused:
            reader.error(where, key, f"required for {kind} checks, like {example}")
    check_timing(reader, where, values, set(own), own_refused | refused)
    if kind == "http" and not {"url", "headers"} & (own_refused | refused):
        check_authorization(reader, where, values)
    if reader.faults > before:
        return None
    values.setdefault("name", spec.default_name(values))
    return spec.cls(**values)


def read_component(
    reader: Reader,
    number: int,
    table: Mapping[str, Any],
    ids: dict[str, tuple[str, int]],
    defaults: Mapping[str, Any],
    defaults_refused: set[str],
    *,
    cluster: bool,
) -> Component | None:
    """Reads one [[component]]; records its id in `ids` even when invalid, for maintenance.
    `cluster`: whether the file has a [cluster] table, which locations and quorum need."""
    name = table.get("name")
    where = (
        f"component {quote(name)}"
        if isinstance(name, str) and name.strip()
        else f"component {number}"
    )
    before = reader.faults
    parsers = {**COMPONENT_KEYS, **{key: CHECK_KEYS[key] for key in THRESHOLD_KEYS}}
    values, refused = reader.read(where, table, parsers, handled=("check",))
    check_locations(reader, where, table, values, cluster)
    overrides = {key: values.pop(key) for key in THRESHOLD_KEYS if key in values}
    defaults = {**defaults, **overrides}
    defaults_refused = defaults_refused | (refused & set(THRESHOLD_KEYS))
    if "name" not in table:
        reader.error(where, "name", 'required, like name = "Payment API"')
    component_id = values.get("id")
    if "id" not in table and "name" in values:
        component_id = slugify(values["name"])
        if not component_id:
            reader.error(
                where,
                "id",
                f"cannot be made from name {quote(values['name'])}; set "
                'id to lowercase letters, digits and dashes, like "payment-api"',
            )
    if component_id and component_id in ids:
        other, other_number = ids[component_id]
        if other == where:
            other = f"component {other_number}, which has the same name"
        reader.error(
            where,
            "id",
            f"{quote(component_id)} is already the id of {other}; set id to tell them apart",
        )
    elif component_id:
        ids[component_id] = (where, number)
    if table.get("check") in (None, []):
        reader.error(where, "check", "at least one [[component.check]] is required")
    checks: list[Check] = []
    names: dict[str, int] = {}
    for index, raw in enumerate(reader.array(where, table, "check"), 1):
        check = read_check(reader, f"{where} check {index}", raw, defaults, defaults_refused)
        if check is None:
            continue
        if check.name in names:
            reader.error(
                f"{where} check {index} ({check.type})",
                "name",
                f"{quote(check.name)} is already the name of check "
                f"{names[check.name]}; set name to tell them apart",
            )
        names.setdefault(check.name, index)
        checks.append(check)
    if reader.faults > before or not component_id:
        return None
    return Component(**{**values, "id": component_id, "checks": tuple(checks)})
