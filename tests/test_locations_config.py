"""[[component]] locations and quorum: where a component is probed from in cluster mode, and how
many of those places must agree. Tables of plain values against the exact messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from monitor.config import ConfigError, parse_config
from monitor.model import Component, Config

CONFIG = Path("/etc/monitor/checks.toml")
CLUSTER = {"database_env": "MONITOR_DATABASE_URL"}
CHECKS = [{"type": "tcp", "host": "127.0.0.1", "port": 9}]
WHERE = f'{CONFIG}: component "Payment API"'
NAME = 'must be 1-63 characters of letters, digits, ".", "_" and "-"'
LIST = 'must be a list of 1 to 32 location names like ["eu-west", "us-east"]'
NEEDS_CLUSTER = (
    "needs a [cluster] table (probing from several places needs several nodes); remove it or add "
    "[cluster]"
)


def parse(component: dict[str, Any], *, cluster: object = CLUSTER) -> Config:
    data: dict[str, Any] = {"component": [{"name": "Payment API", "check": CHECKS, **component}]}
    if cluster is not None:
        data["cluster"] = cluster
    return parse_config(data, CONFIG)


def component(**keys: Any) -> Component:
    (parsed,) = parse(keys).components
    return parsed


def errors(component: dict[str, Any], *, cluster: object = CLUSTER) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse(component, cluster=cluster)
    return caught.value.errors


def test_unset_they_are_none() -> None:
    parsed = component()
    assert (parsed.locations, parsed.quorum) == (None, None)


@pytest.mark.parametrize(
    ("keys", "locations", "quorum"),
    [
        (
            {"locations": ["eu-west", "us-east", "ap-south"]},
            ("eu-west", "us-east", "ap-south"),
            None,
        ),
        (
            {"locations": ["eu-west", "us-east", "ap-south"], "quorum": 3},
            ("eu-west", "us-east", "ap-south"),
            3,
        ),
        ({"locations": ["eu-west"], "quorum": 1}, ("eu-west",), 1),
        ({"locations": ["EU.West_2", "eu-west"]}, ("EU.West_2", "eu-west"), None),  # case counts
        ({"locations": ["a" * 63]}, ("a" * 63,), None),
        (
            {"locations": [f"loc-{i}" for i in range(32)]},
            tuple(f"loc-{i}" for i in range(32)),
            None,
        ),
        ({"quorum": 2}, None, 2),  # of every location seen in the cluster
        ({"quorum": 32}, None, 32),
    ],
)
def test_valid(keys: dict[str, Any], locations: tuple[str, ...] | None, quorum: int | None) -> None:
    parsed = component(**keys)
    assert (parsed.locations, parsed.quorum) == (locations, quorum)


@pytest.mark.parametrize(
    ("keys", "messages"),
    [
        ({"locations": []}, [f"locations: {LIST}, got an empty list"]),
        ({"locations": "eu-west"}, [f'locations: {LIST}, got "eu-west"']),
        ({"locations": {"eu": 1}}, [f"locations: {LIST}, got a table"]),
        (
            {"locations": [f"loc-{i}" for i in range(33)]},
            ["locations: must list at most 32 locations, got 33"],
        ),
        (
            {"locations": ["eu west"]},
            [f'locations: each location {NAME}, like "eu-west", got "eu west"'],
        ),
        (
            {"locations": ["eu-west", ""]},
            [f'locations: each location {NAME}, like "eu-west", got ""'],
        ),
        (
            {"locations": ["a" * 64]},
            [f'locations: each location {NAME}, like "eu-west", got "{"a" * 57}..."'],
        ),
        (
            {"locations": ["eu-west", 3]},
            [f'locations: each location {NAME}, like "eu-west", got 3'],
        ),
        (
            {"locations": ["zürich"]},
            [f'locations: each location {NAME}, like "eu-west", got "zürich"'],
        ),
        ({"locations": ["eu-west", "us-east", "eu-west"]}, ['locations: lists "eu-west" twice']),
        ({"quorum": 0}, ["quorum: must be 1-32, got 0"]),
        ({"quorum": 33}, ["quorum: must be 1-32, got 33"]),
        ({"quorum": 1.5}, ["quorum: must be an integer 1-32, got 1.5"]),
        ({"quorum": True}, ["quorum: must be an integer 1-32, got true"]),
        ({"quorum": "2"}, ['quorum: must be an integer 1-32, got "2"']),
        (
            {"locations": ["eu-west", "us-east", "ap-south"], "quorum": 4},
            ["quorum: must be at most the number of locations (3), got 4"],
        ),
        (  # a refused list is not compared with the quorum
            {"locations": ["eu-west", "eu-west"], "quorum": 4},
            ['locations: lists "eu-west" twice'],
        ),
    ],
)
def test_invalid(keys: dict[str, Any], messages: list[str]) -> None:
    assert errors(keys) == [f"{WHERE}: {message}" for message in messages]


@pytest.mark.parametrize(
    ("keys", "messages"),
    [
        ({"locations": ["eu-west", "us-east"]}, [f"locations: {NEEDS_CLUSTER}"]),
        ({"quorum": 2}, [f"quorum: {NEEDS_CLUSTER}"]),
        (
            {"locations": ["eu-west", "us-east"], "quorum": 2},
            [f"locations: {NEEDS_CLUSTER}", f"quorum: {NEEDS_CLUSTER}"],
        ),
        (  # each fault said: the value, and the missing table
            {"quorum": 0},
            ["quorum: must be 1-32, got 0", f"quorum: {NEEDS_CLUSTER}"],
        ),
    ],
)
def test_without_a_cluster_table(keys: dict[str, Any], messages: list[str]) -> None:
    assert errors(keys, cluster=None) == [f"{WHERE}: {message}" for message in messages]


def test_a_cluster_that_is_not_a_table_is_said_once() -> None:
    """The file has a [cluster] that is wrong: that is the fault, not the component's keys."""
    assert errors({"locations": ["eu-west"]}, cluster="yes") == [
        f'{CONFIG}: top level: cluster: must be a table, written [cluster], got "yes"'
    ]


def test_a_cluster_table_with_a_fault_does_not_blame_the_component() -> None:
    assert errors({"locations": ["eu-west"], "quorum": 1}, cluster={"lease": "1s"}) == [
        f"{CONFIG}: [cluster]: database_env: cluster mode needs its PostgreSQL database: set "
        "database_env to an environment variable's name, or database_file to a file's path"
    ]


def test_each_component_is_named_in_its_message() -> None:
    data = {
        "cluster": CLUSTER,
        "component": [
            {"name": "Payment API", "check": CHECKS, "locations": ["eu-west"]},
            {"name": "Mail", "check": CHECKS, "locations": ["eu-west"], "quorum": 2},
        ],
    }
    with pytest.raises(ConfigError) as caught:
        parse_config(data, CONFIG)
    assert caught.value.errors == [
        f'{CONFIG}: component "Mail": quorum: must be at most the number of locations (1), got 2'
    ]


def test_defaults_do_not_take_them() -> None:
    """[defaults] holds check keys; where a component is probed from is the component's."""
    with pytest.raises(ConfigError) as caught:
        parse_config(
            {
                "cluster": CLUSTER,
                "defaults": {"quorum": 2},
                "component": [{"name": "A", "check": CHECKS}],
            },
            CONFIG,
        )
    (message,) = caught.value.errors
    assert message.startswith(f"{CONFIG}: [defaults]: quorum: unknown key")
