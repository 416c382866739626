"""The JSON Schema of checks.toml (`monitor schema`) against the loader it is made from.

The schema may say less than `monitor validate`, never more: every config the loader takes, the
schema takes (the shipped ones, the test data, one made from the schema's own examples with
every key, and generated values); every invalid file it can say is wrong, it rejects, for a key
the loader names too; the ones it cannot are listed, and the list is held to be true.
"""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import regress
import tomli_w
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from monitor.config import (
    ALLOWED_KEYS,
    ConfigError,
    descriptions,
    keys,
    load_config,
    network,
    parse_config,
    schedule,
    values,
)
from monitor.config.keys import SECTIONS
from monitor.config.schema import DRAFT, checks_schema, dumps

ROOT = Path(__file__).parent.parent
DATA = Path(__file__).parent / "data"
SCHEMA = checks_schema()
VALIDATOR = Draft202012Validator(SCHEMA)

# The invalid files whose fault no JSON Schema can say, each with why. A file the schema does
# reject fails test_the_list_of_what_a_schema_cannot_say_is_true, so this list stays honest.
CANNOT_SAY = {
    "invalid-toml-syntax.toml": "not TOML: there is no document to check",
    # Rules between keys, or between tables:
    "invalid-timeout-over-interval.toml": "timeout within interval",
    "invalid-defaults-timeout-over-interval.toml": "timeout within interval",
    "invalid-degraded-over-timeout.toml": "degraded_over below timeout",
    "invalid-flaky-exit-not-below-enter.toml": "flaky_exit below flaky_enter",
    "invalid-maintenance-end-before-start.toml": "end after start",
    "invalid-duplicate-check-name.toml": "unique check names, made from the URL",
    "invalid-duplicate-component-id.toml": "unique component ids, made from the name",
    "invalid-maintenance-unknown-component.toml": "component ids known from another table",
    "invalid-url-credentials.toml": "credentials and an Authorization header; Latin-1",
    # Values a pattern cannot weigh:
    "invalid-duration-too-long.toml": "a duration's bounds (a pattern takes any number)",
    "invalid-interval-too-short.toml": "a duration's bounds",
    "invalid-cachet-url.toml": "the provider's own rule for its URL (Cachet 2.x's /api/v1)",
    "invalid-header-host.toml": "the Host header's host and port",
    "invalid-maintenance-bad-cron.toml": "each cron field's values",
    "invalid-maintenance-cron-never.toml": "a cron that never comes, on the calendar",
    "invalid-maintenance-bad-timezone.toml": "the time zone database",
    "invalid-maintenance-date-out-of-range.toml": "the year 10000 in UTC",
}


def as_json(value: Any) -> Any:
    """A TOML document as an editor's validator sees it: date-times as RFC 3339 text."""
    if isinstance(value, dict):
        return {key: as_json(each) for key, each in value.items()}
    if isinstance(value, list):
        return [as_json(each) for each in value]
    if isinstance(value, dt.date | dt.time):  # a datetime is a date
        return value.isoformat()
    return value


def schema_errors(
    document: Mapping[str, Any], validator: Draft202012Validator = VALIDATOR
) -> list[str]:
    return [
        f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(as_json(document))
    ]


def loads(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def loader_ok(document: Mapping[str, Any]) -> bool:
    try:
        parse_config(document, Path("checks.toml"))
    except ConfigError:
        return False
    return True


# --- the schema itself ----------------------------------------------------------------------


def test_the_schema_is_valid_draft_2020_12() -> None:
    assert SCHEMA["$schema"] == DRAFT == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(SCHEMA)


def patterns(schema: Any) -> Iterator[str]:
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "pattern":
                yield value
            yield from patterns(value)
    elif isinstance(schema, list):
        for each in schema:
            yield from patterns(each)


def test_every_pattern_is_ecma_262_without_look_around() -> None:
    """Editors run the patterns as ECMA-262 (JSON Schema's dialect), not as Python's re; some
    (Rust's regex crate) have no look-around or backreferences."""
    found = sorted(set(patterns(SCHEMA)))
    assert len(found) > 10
    for pattern in found:
        regress.Regex(pattern, "u")  # raises on what ECMA-262 does not take
        assert "(?" not in pattern and "\\1" not in pattern, pattern


def tables(schema: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The schema's tables, named as ALLOWED_KEYS names them."""
    top = schema["properties"]
    check = top["component"]["items"]["properties"]["check"]["items"]
    found = {
        "monitor": top["monitor"],
        "defaults": top["defaults"],
        "publisher": top["publisher"],
        "cluster": top["cluster"],
        "component": top["component"]["items"],
        "maintenance": top["maintenance"]["items"],
    }
    for rule in check["allOf"]:
        found[f"component.check ({rule['if']['properties']['type']['const']})"] = rule["then"]
    return found


def test_every_key_of_the_loader_is_in_the_schema_and_no_other() -> None:
    assert list(SCHEMA["properties"]) == list(SECTIONS)
    found = {name: set(table["properties"]) for name, table in tables(SCHEMA).items()}
    assert found == {name: set(allowed) for name, allowed in ALLOWED_KEYS.items()}


def test_every_table_refuses_unknown_keys_as_the_loader_does() -> None:
    assert SCHEMA["additionalProperties"] is False
    for name, table in tables(SCHEMA).items():
        assert table["additionalProperties"] is False, name


def test_every_key_has_a_description_and_an_example() -> None:
    for name, table in tables(SCHEMA).items():
        for key, schema in table["properties"].items():
            assert schema["description"].strip(), f"{name} {key}"
            if key not in ("check", "type"):
                assert schema["examples"], f"{name} {key}"


def test_the_descriptions_hold_no_key_the_loader_does_not_know() -> None:
    assert set(descriptions.MONITOR) == set(keys.MONITOR_KEYS)
    assert set(descriptions.PUBLISHER) == set(keys.PUBLISHER_KEYS)
    assert set(descriptions.CLUSTER) == set(keys.CLUSTER_KEYS)
    assert set(descriptions.COMPONENT) == {*keys.COMPONENT_KEYS, "check"}
    assert set(descriptions.CHECK) == {*keys.CHECK_KEYS, "type", "name"}
    assert set(descriptions.MAINTENANCE) == set(keys.MAINTENANCE_KEYS)
    for kind, spec in keys.CHECK_TYPES.items():
        assert set(descriptions.CHECK_TYPES[kind]) == set(spec.keys), kind


def test_a_parser_without_a_schema_is_named() -> None:
    def unmarked(value: object) -> object:
        return value

    with pytest.raises(LookupError, match="unmarked has no JSON Schema"):
        values.schema_of(unmarked)


# --- what the loader takes, the schema takes ------------------------------------------------

VALID_FILES = [
    ROOT / "checks.toml",
    ROOT / "docker" / "checks.toml",
    ROOT / "deploy" / "cluster" / "checks.toml",
    *sorted(DATA.glob("valid-*.toml")),
]


@pytest.mark.parametrize("path", VALID_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_valid_config_validates(path: Path) -> None:
    load_config(path)  # the loader takes it
    assert schema_errors(loads(path)) == []


def examples(table: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: schema["examples"][0]
        for key, schema in table["properties"].items()
        if isinstance(schema, dict) and "examples" in schema
    }


# The examples are each parser's; these keys have rules between them (timeout within interval).
TIMING = {"interval": "30s", "timeout": "10s", "degraded_over": "1s", "flaky_exit": 0.1}


def every_key_documents() -> list[dict[str, Any]]:
    """Two configs that set every key of every table from the schema's examples: one naming
    the secrets by environment variable, one by file (the loader takes one of each pair)."""
    table = tables(SCHEMA)
    checks = [
        {**examples(table[f"component.check ({kind})"]), **TIMING, "type": kind, "name": kind}
        for kind in keys.CHECK_TYPES
    ]
    maintenance = examples(table["maintenance"])
    once = {k: v for k, v in maintenance.items() if k not in ("cron", "duration", "timezone")}
    recurring = {k: v for k, v in maintenance.items() if k not in ("start", "end")}
    document = {
        "monitor": examples(table["monitor"]),
        "defaults": {**examples(table["defaults"]), **TIMING},
        "publisher": {**examples(table["publisher"]), "timeout": "10s"},  # lease >= 3 x this
        "cluster": examples(table["cluster"]),
        "component": [{**examples(table["component"]), "flaky_exit": 0.1, "check": checks}],
        "maintenance": [{**once, "end": "2026-12-01T04:00:00Z"}, recurring],
    }
    both = ("api_key", "database")
    by_env = {**document, **{s: _without(document[s], "_file") for s in ("publisher", "cluster")}}
    by_file = {**document, **{s: _without(document[s], "_env") for s in ("publisher", "cluster")}}
    assert all(f"{secret}_env" in str(by_env) for secret in both)
    return [by_env, by_file]


def _without(table: Mapping[str, Any], suffix: str) -> dict[str, Any]:
    return {key: value for key, value in table.items() if not key.endswith(suffix)}


def keys_set(documents: list[dict[str, Any]]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for document in documents:
        for section in ("monitor", "defaults", "publisher", "cluster"):
            found.setdefault(section, set()).update(document[section])
        for component in document["component"]:
            found.setdefault("component", set()).update(component)
            for check in component["check"]:
                found.setdefault(f"component.check ({check['type']})", set()).update(check)
        for window in document["maintenance"]:
            found.setdefault("maintenance", set()).update(window)
    return found


def test_a_config_with_every_key_validates_in_both() -> None:
    documents = every_key_documents()
    assert keys_set(documents) == {name: set(allowed) for name, allowed in ALLOWED_KEYS.items()}
    for document in documents:
        document = tomllib.loads(tomli_w.dumps(document))  # as a file would hold it
        parse_config(document, Path("checks.toml"))  # the examples are values the loader takes
        assert schema_errors(document) == []


BASE: dict[str, Any] = {
    "component": [{"name": "Web", "check": [{"type": "http", "url": "https://example.com/"}]}]
}


def changed(**sections: Any) -> dict[str, Any]:
    return {**BASE, **sections}


def component(**changes: Any) -> list[dict[str, Any]]:
    return [{**BASE["component"][0], **changes}]


RULES = {
    # name: (document, whether both take it)
    "url from [defaults]": (
        changed(
            defaults={"url": "https://example.com/"}, component=component(check=[{"type": "http"}])
        ),
        True,
    ),
    "url from nowhere": (changed(component=component(check=[{"type": "http"}])), False),
    "tcp host from [defaults], port its own": (
        changed(
            defaults={"host": "db.internal"},
            component=component(check=[{"type": "tcp", "port": 5432}]),
        ),
        True,
    ),
    "tcp without port": (
        changed(component=component(check=[{"type": "tcp", "host": "db"}])),
        False,
    ),
    "a key of the other type": (
        changed(component=component(check=[{"type": "http", "url": "https://a/", "port": 1}])),
        False,
    ),
    "a key of one type in [defaults]": (
        changed(defaults={"send": "PING", "url": "https://a/"}),
        True,
    ),
    "no type": (changed(component=component(check=[{"url": "https://example.com/"}])), False),
    "locations with [cluster]": (
        changed(
            cluster={"database_env": "DB"}, component=component(locations=["a", "b"], quorum=2)
        ),
        True,
    ),
    "locations without [cluster]": (changed(component=component(locations=["a", "b"])), False),
    "quorum without [cluster]": (changed(component=component(quorum=1)), False),
    "[cluster] without a database": (changed(cluster={"node": "web-1"}), False),
    "[cluster] with both database sources": (
        changed(cluster={"database_env": "DB", "database_file": "db_url"}),
        False,
    ),
    "statuspage with page_id and a key": (
        changed(publisher={"type": "statuspage", "page_id": "p", "api_key_env": "K"}),
        True,
    ),
    "statuspage without page_id": (
        changed(publisher={"type": "statuspage", "api_key_env": "K"}),
        False,
    ),
    "instatus with both key sources": (
        changed(
            publisher={"type": "instatus", "page_id": "p", "api_key_env": "K", "api_key_file": "k"}
        ),
        False,
    ),
    "cachet without url": (changed(publisher={"type": "cachet", "api_key_env": "K"}), False),
    "log with nothing else": (changed(publisher={"type": "log"}), True),
    "no publisher type, only a timeout": (changed(publisher={"timeout": "5s"}), True),
    "an inline api_key": (changed(publisher={"type": "log", "api_key": "secret"}), False),
    "maintenance once": (
        changed(
            maintenance=[
                {
                    "components": ["web"],
                    "start": "2026-12-01T02:00:00Z",
                    "end": "2026-12-01T03:00:00Z",
                }
            ]
        ),
        True,
    ),
    "maintenance once with a timezone": (
        changed(
            maintenance=[
                {
                    "components": ["web"],
                    "start": "2026-12-01T02:00:00Z",
                    "end": "2026-12-01T03:00:00Z",
                    "timezone": "UTC",
                }
            ]
        ),
        False,
    ),
    "maintenance start without end": (
        changed(maintenance=[{"components": ["web"], "start": "2026-12-01T02:00:00Z"}]),
        False,
    ),
    "maintenance recurring": (
        changed(
            maintenance=[
                {"components": ["web"], "cron": "0 2 * * 1-5", "duration": "1h", "timezone": "UTC"}
            ]
        ),
        True,
    ),
    "maintenance with neither": (changed(maintenance=[{"components": ["web"]}]), False),
    "maintenance without components": (
        changed(maintenance=[{"cron": "0 2 * * sun", "duration": "1h"}]),
        False,
    ),
    "no components": ({"monitor": {}}, False),
    "an empty list of components": ({"component": []}, False),
    "a component without checks": (changed(component=component(check=[])), False),
    "a component without a name": (
        changed(component=[{"check": BASE["component"][0]["check"]}]),
        False,
    ),
    "type as a default": (changed(defaults={"type": "http"}), False),
}


@pytest.mark.parametrize("name", RULES)
def test_the_rules_between_keys_agree_with_the_loader(name: str) -> None:
    document, valid = RULES[name]
    assert loader_ok(document) is valid, "the case itself is wrong"
    assert (schema_errors(document) == []) is valid


# --- what the loader refuses, the schema refuses where it can ------------------------------

INVALID_FILES = sorted(path.name for path in DATA.glob("invalid-*.toml"))


def loader_keys(path: Path) -> set[str]:
    """The keys the loader's messages name: `<file>: <where>: <key>: <problem>`."""
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    prefix = f"{path}: "
    return {line.removeprefix(prefix).split(": ")[1] for line in caught.value.errors}


def named_keys(error: ValidationError) -> set[str]:
    """The keys a schema error is about: on its path, missing, or not allowed."""
    found = {part for part in error.absolute_path if isinstance(part, str)}
    if error.validator == "required":
        found.update(error.validator_value)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        found.update(set(error.instance) - set(error.schema.get("properties", {})))
    if error.validator in ("oneOf", "anyOf"):
        for branch in error.validator_value:
            found.update(branch.get("required", ()))
    for each in error.context or ():
        found |= named_keys(each)
    return found


@pytest.mark.parametrize("name", [n for n in INVALID_FILES if n not in CANNOT_SAY])
def test_every_invalid_file_a_schema_can_say_is_rejected_for_a_key_the_loader_names(
    name: str,
) -> None:
    path = DATA / name
    errors = list(VALIDATOR.iter_errors(as_json(loads(path))))
    assert errors, f"{name} validates; if no schema can say its fault, add it to CANNOT_SAY"
    named = set().union(*map(named_keys, errors))
    assert named & loader_keys(path), (named, loader_keys(path))


@pytest.mark.parametrize("name", sorted(CANNOT_SAY))
def test_the_list_of_what_a_schema_cannot_say_is_true(name: str) -> None:
    path = DATA / name
    assert path.exists(), f"{name} is gone: remove it from CANNOT_SAY"
    if name == "invalid-toml-syntax.toml":
        with pytest.raises(tomllib.TOMLDecodeError):
            loads(path)
        return
    loader_keys(path)  # the loader refuses it
    assert schema_errors(loads(path)) == [], f"the schema rejects {name}: remove it from CANNOT_SAY"


# --- single values: never stricter than the parser, exact where it can be -------------------


def accepts(schema: Mapping[str, Any], value: object) -> bool:
    return Draft202012Validator(schema).is_valid(as_json(value))


def takes(parser: values.Parser, value: object) -> bool:
    try:
        parser(value)
    except values.Invalid:
        return False
    return True


# No newline: Python's $ matches before a final one, ECMA-262's (the editors') does not.
DURATION_TEXT = st.text(alphabet="0123456789.mshd x", max_size=12)


@settings(max_examples=400, deadline=None)
@given(DURATION_TEXT)
def test_the_duration_pattern_is_exactly_the_parsers_syntax(text: str) -> None:
    try:
        values.parse_duration(text)
        parsed = True
    except ValueError:
        parsed = False
    assert accepts(values.schema_of(keys.CHECK_KEYS["interval"]), text) is parsed


TEMPLATE_PARTS = st.sampled_from(
    [
        "{",
        "}",
        "{{",
        "}}",
        " ",
        "x",
        "{component}",
        "{status}",
        "{state}",
        "{reason:>9}",
        "{reason!r}",
        "{}",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(TEMPLATE_PARTS, max_size=6).map("".join))
def test_the_template_pattern_is_exactly_the_parsers_rule(text: str) -> None:
    assert accepts(values.schema_of(values.template), text) is takes(values.template, text)


SOUND: dict[str, tuple[values.Parser, st.SearchStrategy[str]]] = {
    "url": (
        network.http_url,
        st.lists(
            st.sampled_from(
                [
                    "http",
                    "https",
                    "HTTPS",
                    "ftp",
                    "://",
                    "user:pw@",
                    "@",
                    "a",
                    "é",
                    "-",
                    ".",
                    "..",
                    ":",
                    "8080",
                    "0",
                    "99999",
                    "/",
                    "?q=1",
                    "#",
                    "[::1]",
                    "[",
                    "]",
                    "%25",
                    " ",
                    "\x00",
                    "\u200b",
                ]
            ),
            max_size=8,
        ).map("".join),
    ),
    "host": (network.host, st.text(alphabet="ab-_.:0f%/[] é\u200b\x00", max_size=10)),
    "listen": (network.listen, st.text(alphabet="0123456789.:[]a ", max_size=12)),
    "size": (values.size, st.text(alphabet="0123456789.kKmMgGiIbB ", max_size=8)),
    "expect_status": (network.expect_status, st.text(alphabet="0123456789xX- ", max_size=8)),
    "datetime": (schedule.datetime, st.text(alphabet="0123456789-:T Z+.", max_size=26)),
    "cron": (schedule.cron, st.text(alphabet="0123456789*/ ,-sun", max_size=16)),
    "public_name": (values.public_name, st.text(max_size=6)),
    "path": (values.path, st.text(alphabet="ab/ ~\x00\t", max_size=6)),
    "slug": (values.slug, st.text(alphabet="ab0- A", max_size=6)),
    "cluster_name": (values.cluster_name, st.text(alphabet="ab0-._/ ", max_size=6)),
}


@pytest.mark.parametrize("name", SOUND)
def test_the_schema_never_refuses_what_the_parser_takes(name: str) -> None:
    parser, strategy = SOUND[name]
    schema = values.schema_of(parser)

    @settings(max_examples=300, deadline=None)
    @given(strategy)
    def check(text: str) -> None:
        if takes(parser, text):
            assert accepts(schema, text), text

    check()


@pytest.mark.parametrize(
    ("parser", "value"),
    [
        (network.http_url, "https://user:p%2Fw@xn--bcher-kva.example:8443/a?b=c#d"),
        (network.http_url, "http://[fe80::1%25eth0]:80/"),
        (network.http_url, "http://bücher.example./"),
        (network.host, "fe80::1%eth0"),
        (network.listen, ""),
        (network.listen, "[::1]:0"),
        (network.headers, {"X-A": "tab\tok", "Host": "api.example.com:8443"}),
        (network.expect_status, 204),
        (schedule.datetime, "2026-12-01T02:00:00+0100"),
        (values.size, 1 << 30),
    ],
)
def test_the_schema_takes_these_values_as_the_parser_does(
    parser: values.Parser, value: object
) -> None:
    assert takes(parser, value)
    assert accepts(values.schema_of(parser), value)


# --- the command ----------------------------------------------------------------------------


def test_monitor_schema_prints_the_generated_schema(tmp_path: Path) -> None:
    from monitor.cli import main

    runner = CliRunner()
    result = runner.invoke(main, ["schema"], catch_exceptions=False)
    assert result.exit_code == 0
    assert json.loads(result.output) == SCHEMA
    assert result.output == dumps(SCHEMA)

    written = tmp_path / "checks.schema.json"
    result = runner.invoke(main, ["schema", "-o", str(written)], catch_exceptions=False)
    assert result.exit_code == 0 and result.output == ""
    assert written.read_text(encoding="utf-8") == dumps(SCHEMA)

    result = runner.invoke(main, ["schema", "-o", str(tmp_path / "no" / "such" / "dir.json")])
    assert result.exit_code == 2
    assert "cannot write" in result.output
