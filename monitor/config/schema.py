"""The JSON Schema (draft 2020-12) of checks.toml, built from the loader's own key tables.

Each key's schema is its parser's (`values.accepts`), so a key added to keys.py is in the schema
with nothing else to do, and a parser without one fails here, by name. The rules between keys
that a schema can say are written out below from the same tables: what each check type and
publisher type requires, the either-or pairs, what only cluster mode takes. The rest (timeout
within interval, unique ids, a maintenance window's known components, a cron that comes) stay
with `monitor validate`, listed in docs/configuration.md under "Editor support".

Only keywords of draft 7 and later that editors' validators share are used (no
unevaluatedProperties), so that Taplo (Even Better TOML) can check a file with it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from monitor.config import descriptions
from monitor.config.components import CLUSTER_ONLY
from monitor.config.keys import (
    CHECK_KEYS,
    CHECK_TYPES,
    CLUSTER_KEYS,
    COMPONENT_KEYS,
    DEFAULTS_KEYS,
    MAINTENANCE_KEYS,
    MONITOR_KEYS,
    PUBLISHER_KEYS,
    THRESHOLD_KEYS,
)
from monitor.config.values import JsonSchema, Parser, nonempty, schema_of
from monitor.publishers import PROVIDERS

DRAFT = "https://json-schema.org/draft/2020-12/schema"


def checks_schema() -> JsonSchema:
    """The schema of a whole checks.toml."""
    sections = descriptions.SECTIONS
    return {
        "$schema": DRAFT,
        "title": "checks.toml",
        "description": "The config of monitor, a synthetic uptime monitor (monitor schema). "
        "monitor validate checks what a schema cannot.",
        "type": "object",
        "properties": {
            "monitor": _table(MONITOR_KEYS, descriptions.MONITOR, sections["monitor"]),
            "defaults": _table(DEFAULTS_KEYS, _check_descriptions(), sections["defaults"]),
            "publisher": _publisher(),
            "cluster": _cluster(),
            "component": {
                "type": "array",
                "description": sections["component"],
                "minItems": 1,
                "items": _component(),
            },
            "maintenance": {
                "type": "array",
                "description": sections["maintenance"],
                "items": _maintenance(),
            },
        },
        "required": ["component"],
        "additionalProperties": False,
        "allOf": [_cluster_only(), *_required_unless_defaulted()],
    }


def dumps(schema: JsonSchema) -> str:
    """The schema as the file `monitor schema` writes."""
    return json.dumps(schema, indent=2) + "\n"


def _property(key: str, parser: Parser, meanings: Mapping[str, str]) -> JsonSchema:
    fragment = dict(schema_of(parser))
    if key not in meanings:
        raise LookupError(f"key {key} has no description in monitor/config/descriptions.py")
    form = fragment.pop("description", None)
    return {"description": f"{meanings[key]} {form}" if form else meanings[key], **fragment}


def _properties(parsers: Mapping[str, Parser], meanings: Mapping[str, str]) -> JsonSchema:
    return {key: _property(key, parser, meanings) for key, parser in parsers.items()}


def _table(parsers: Mapping[str, Parser], meanings: Mapping[str, str], about: str) -> JsonSchema:
    """A table that takes these keys and no other, as Reader.read refuses unknown keys."""
    return {
        "type": "object",
        "description": about,
        "properties": _properties(parsers, meanings),
        "additionalProperties": False,
    }


def _check_descriptions() -> dict[str, str]:
    meanings = dict(descriptions.CHECK)
    for kind in CHECK_TYPES:
        meanings = {**descriptions.CHECK_TYPES[kind], **meanings}
    return meanings


def _exactly_one(*keys: str) -> JsonSchema:
    return {"oneOf": [{"required": [key]} for key in keys]}


def _when(key: str, value: str, then: JsonSchema) -> JsonSchema:
    return {"if": {"properties": {key: {"const": value}}, "required": [key]}, "then": then}


def _publisher() -> JsonSchema:
    """[publisher]: what each provider requires is its spec's, as sections.read_publisher reads."""
    schema = _table(PUBLISHER_KEYS, descriptions.PUBLISHER, descriptions.SECTIONS["publisher"])
    rules = []
    for name, spec in PROVIDERS.items():
        required = ["page_id"] * spec.page_id
        required += ["url"] * (spec.default_url is None and spec.url_required is not None)
        then: JsonSchema = {"required": required} if required else {}
        if spec.needs_key:
            then |= _exactly_one("api_key_env", "api_key_file")
        if then:
            rules.append(_when("type", name, then))
    return {**schema, "allOf": rules}


def _cluster() -> JsonSchema:
    schema = _table(CLUSTER_KEYS, descriptions.CLUSTER, descriptions.SECTIONS["cluster"])
    return {**schema, **_exactly_one("database_env", "database_file")}


def _component() -> JsonSchema:
    parsers = {**COMPONENT_KEYS, **{key: CHECK_KEYS[key] for key in THRESHOLD_KEYS}}
    meanings = {**descriptions.CHECK, **descriptions.COMPONENT}
    properties = _properties(parsers, meanings)
    properties["check"] = {
        "type": "array",
        "description": descriptions.COMPONENT["check"],
        "minItems": 1,
        "items": _check(),
    }
    return {
        "type": "object",
        "properties": properties,
        "required": ["name", "check"],
        "additionalProperties": False,
    }


def _check() -> JsonSchema:
    """[[component.check]]: a type, then the keys of that type and no other (a closed schema
    per type, chosen by if/then, so an editor names the key of the wrong type)."""
    kinds = list(CHECK_TYPES)
    type_schema = {"type": "string", "enum": kinds, "description": descriptions.CHECK["type"]}
    common = {"name": nonempty, **CHECK_KEYS}
    by_type = []
    for kind, spec in CHECK_TYPES.items():
        properties = {
            "type": {**type_schema, "const": kind},
            **_properties(common, descriptions.CHECK),
            **_properties(spec.keys, descriptions.CHECK_TYPES[kind]),
        }
        closed = {"properties": properties, "additionalProperties": False}
        by_type.append(_when("type", kind, closed))
    return {
        "type": "object",
        "properties": {"type": type_schema, **_properties(common, descriptions.CHECK)},
        "required": ["type"],
        "allOf": by_type,
    }


def _required_unless_defaulted() -> list[JsonSchema]:
    """A check type's required keys (an http check's url), unless [defaults] sets them: a check
    takes the defaults of its type (components.read_check)."""
    rules = []
    for kind, spec in CHECK_TYPES.items():
        for key in spec.required:
            each_check = _when("type", kind, {"required": [key]})
            rules.append(
                {
                    "if": {
                        "properties": {"defaults": {"required": [key]}},
                        "required": ["defaults"],
                    },
                    "else": _in_every_check(each_check),
                }
            )
    return rules


def _in_every_check(schema: JsonSchema) -> JsonSchema:
    checks = {"properties": {"check": {"items": schema}}}
    return {"properties": {"component": {"items": checks}}}


def _cluster_only() -> JsonSchema:
    """locations and quorum need a [cluster] table (components.check_locations)."""
    refused: dict[str, Any] = dict.fromkeys(CLUSTER_ONLY, False)
    return {
        "if": {"required": ["cluster"]},
        "else": {"properties": {"component": {"items": {"properties": refused}}}},
    }


def _maintenance() -> JsonSchema:
    """[[maintenance]]: components, and either start + end or cron + duration (+ timezone), as
    sections.read_maintenance reads it."""
    schema = _table(
        MAINTENANCE_KEYS, descriptions.MAINTENANCE, descriptions.SECTIONS["maintenance"]
    )
    once = {
        "required": ["start", "end"],
        "properties": dict.fromkeys(("cron", "duration", "timezone"), False),
    }
    recurring = {
        "required": ["cron", "duration"],
        "properties": dict.fromkeys(("start", "end"), False),
    }
    return {**schema, "required": ["components"], "oneOf": [once, recurring]}
