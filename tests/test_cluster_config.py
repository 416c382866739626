"""Cluster mode's config: [cluster], [publisher] timeout against the lease, the database URL read
at start, and `monitor run --node/--location`. Tables of plain values; the files, the FIFO, the
fake pages and the processes are real.

The invalid files tests/data/invalid-cluster-*.toml are in test_config.py's table."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from monitor.cli import main
from monitor.cli.run import cluster_names
from monitor.config import ConfigError, parse_config, read_api_key, read_database_url
from monitor.config.values import node_from_host
from monitor.lock import DaemonLock
from monitor.model import ClusterSettings, Config, PublisherSettings
from monitor.publishers import make_provider
from monitor.publishers.base import RateLimiter, Transient
from tests.fake_cachet import FakeCachet
from tests.fake_instatus import FakeInstatus
from tests.fake_page import FakePage
from tests.fake_statuspage import FakeStatuspage
from tests.provider_helpers import FAST, KEY

from .conftest import write_config

CONFIG = Path("/etc/monitor/checks.toml")
COMPONENT = {"name": "Web", "check": [{"type": "tcp", "host": "127.0.0.1", "port": 9}]}
SOURCE = {"database_env": "MONITOR_DATABASE_URL"}
PASSWORD = "pg-secret-Xy7"
URL = f"postgresql://monitor:{PASSWORD}@db.internal:5432/monitor"
NAME = 'must be 1-63 characters of letters, digits, ".", "_" and "-", like "web-1" or "eu-west"'
DURATION = 'a number and a unit (ms, s, m, h, d) like "250ms", "30s", "5m", "2h" or "14d"'
INLINE = (
    "a database URL holds a password, which never goes in the config file; name an "
    "environment variable with database_env or a file with database_file"
)
NO_SOURCE = (
    "database_env: cluster mode needs its PostgreSQL database: set database_env to an "
    "environment variable's name, or database_file to a file's path"
)


def parse(cluster: dict[str, Any] | None = None, publisher: dict[str, Any] | None = None) -> Config:
    data: dict[str, Any] = {"component": [COMPONENT]}
    if cluster is not None:
        data["cluster"] = cluster
    if publisher is not None:
        data["publisher"] = publisher
    return parse_config(data, CONFIG)


def errors(cluster: dict[str, Any], publisher: dict[str, Any] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse(cluster, publisher)
    return caught.value.errors


# -- defaults ---------------------------------------------------------------------------------


def test_without_a_cluster_table_nothing_changes() -> None:
    config = parse()
    assert config.cluster is None
    assert config.publisher.timeout == 10.0


def test_defaults() -> None:
    config = parse(dict(SOURCE))
    assert config.cluster == ClusterSettings(
        node=node_from_host(socket.gethostname()),
        location="default",
        database_env="MONITOR_DATABASE_URL",
        database_file=None,
        stale_after=None,
        lease=15.0,
    )
    assert config.publisher.timeout == 5.0  # a third of the lease, under the 10 s default


def test_the_node_is_the_host_name_when_it_is_a_valid_name() -> None:
    host = socket.gethostname()
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,63}", host, re.ASCII):
        pytest.skip(f"this host's name {host!r} is not a valid node name as it is")
    assert parse(dict(SOURCE)).cluster == ClusterSettings(
        node=host, database_env=SOURCE["database_env"]
    )


@pytest.mark.parametrize(
    ("host", "node"),
    [
        ("web-1", "web-1"),
        ("web-1.eu.example.com", "web-1.eu.example.com"),
        ("My_Host", "My_Host"),
        ("my host", "my-host"),
        ("büro-pc", "b-ro-pc"),
        ("???", "node"),
        ("", "node"),
        ("a" * 70, "a" * 63),
        ("a" * 62 + " b", "a" * 62),  # cut to 63 ends in "-": stripped
    ],
)
def test_the_host_name_is_made_a_valid_node_name(host: str, node: str) -> None:
    assert node_from_host(host) == node


def test_every_key_set() -> None:
    config = parse(
        {
            "database_file": "secrets/database_url",
            "node": "web-1",
            "location": "eu-west",
            "stale_after": "90s",
            "lease": "1m",
        }
    )
    assert config.cluster == ClusterSettings(
        node="web-1",
        location="eu-west",
        database_file=Path("/etc/monitor/secrets/database_url"),  # beside the config
        stale_after=90.0,
        lease=60.0,
    )
    assert config.publisher.timeout == 10.0  # a third of 1m is more than the default


@pytest.mark.parametrize(
    ("lease", "publisher", "timeout"),
    [
        ("15s", {}, 5.0),
        ("3s", {}, 1.0),
        ("1s", {}, 1 / 3),
        ("30s", {}, 10.0),
        ("10m", {}, 10.0),
        ("15s", {"timeout": "5s"}, 5.0),  # exactly a third
        ("10m", {"timeout": "1m"}, 60.0),
        ("3s", {"timeout": "100ms"}, 0.1),
    ],
)
def test_the_publisher_timeout_fits_the_lease(
    lease: str, publisher: dict[str, Any], timeout: float
) -> None:
    config = parse({**SOURCE, "lease": lease}, {"type": "log", **publisher})
    assert config.cluster is not None
    assert config.publisher.timeout == pytest.approx(timeout)


def test_the_publisher_timeout_outside_cluster_mode() -> None:
    assert parse(publisher={"timeout": "250ms"}).publisher.timeout == 0.25
    assert parse(publisher={"timeout": "1m"}).publisher.timeout == 60.0


# -- faults -------------------------------------------------------------------------------------

LEASE_TOO_SHORT = (
    "must be at least 3 x [publisher] timeout ({}), got {}; raise lease or lower timeout"
)


@pytest.mark.parametrize(
    ("cluster", "publisher", "expected"),
    [
        ({"node": ""}, {}, f'[cluster]: node: {NAME}, got ""'),
        ({"node": "web 1"}, {}, f'[cluster]: node: {NAME}, got "web 1"'),
        ({"node": "a" * 64}, {}, f'[cluster]: node: {NAME}, got "{"a" * 57}..."'),
        ({"node": "wéb"}, {}, f'[cluster]: node: {NAME}, got "wéb"'),
        ({"node": 5}, {}, f"[cluster]: node: {NAME}, got 5"),
        ({"location": "eu/west"}, {}, f'[cluster]: location: {NAME}, got "eu/west"'),
        ({"location": ["eu"]}, {}, f"[cluster]: location: {NAME}, got a list"),
        (
            {"stale_after": "500ms"},
            {},
            '[cluster]: stale_after: must be at least 1s, got "500ms"',
        ),
        ({"stale_after": "2d"}, {}, '[cluster]: stale_after: must be at most 1d, got "2d"'),
        ({"stale_after": 30}, {}, f"[cluster]: stale_after: must be {DURATION}, got 30"),
        ({"lease": "0.5s"}, {}, '[cluster]: lease: must be at least 1s, got "0.5s"'),
        ({"lease": "11m"}, {}, '[cluster]: lease: must be at most 10m, got "11m"'),
        ({"lease": "9" * 400 + "ms"}, {}, "[cluster]: lease: must be at most 10m, got "),
        (
            {"database_file": ""},
            {},
            '[cluster]: database_file: must be a non-empty string, got ""',
        ),
        ({"leader": "web-1"}, {}, "[cluster]: leader: unknown key, did you mean "),
        ({}, {"timeout": "50ms"}, '[publisher]: timeout: must be at least 100ms, got "50ms"'),
        ({}, {"timeout": "61s"}, '[publisher]: timeout: must be at most 1m, got "61s"'),
        (
            {},
            {"timeout": "3000000d"},
            '[publisher]: timeout: must be at most 1m, got "3000000d"',
        ),
        (
            {"lease": "15s"},
            {"timeout": "10s"},
            "[cluster]: lease: " + LEASE_TOO_SHORT.format("30s", '"15s"'),
        ),
        (
            {},
            {"timeout": "6s"},
            "[cluster]: lease: " + LEASE_TOO_SHORT.format("18s", 'the default "15s"'),
        ),
        (
            {"lease": "1m"},
            {"timeout": "30s"},
            "[cluster]: lease: " + LEASE_TOO_SHORT.format("90s", '"1m"'),
        ),
    ],
)
def test_each_fault_names_the_file_and_the_key(
    cluster: dict[str, Any], publisher: dict[str, Any], expected: str
) -> None:
    source = {} if {"database_env", "database_file"} & cluster.keys() else SOURCE
    found = errors({**source, **cluster}, {"type": "log", **publisher})
    assert len(found) == 1, found
    assert found[0].startswith(f"{CONFIG}: {expected}"), found[0]


def test_an_unknown_key_lists_the_allowed_ones() -> None:
    assert errors({**SOURCE, "leese": "20s"}) == [
        f'{CONFIG}: [cluster]: leese: unknown key, did you mean "lease"? allowed: database_env, '
        "database_file, node, location, stale_after, lease"
    ]


def test_a_refused_value_is_not_compared_again() -> None:
    """A lease or timeout refused is said once; the lease rule does not add a second fault."""
    assert len(errors({**SOURCE, "lease": "0s"}, {"timeout": "10s"})) == 1
    assert len(errors({**SOURCE, "lease": "15s"}, {"timeout": "1h"})) == 1


def test_the_cluster_must_be_a_table() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"component": [COMPONENT], "cluster": "yes"}, CONFIG)
    assert caught.value.errors == [
        f'{CONFIG}: top level: cluster: must be a table, written [cluster], got "yes"'
    ]


@pytest.mark.parametrize("key", ["database", "database_url", "url"])
def test_an_inline_url_is_refused_without_being_shown(key: str) -> None:
    assert errors({**SOURCE, key: URL}) == [f"{CONFIG}: [cluster]: {key}: {INLINE}"]
    assert errors({key: URL}) == [
        f"{CONFIG}: [cluster]: {key}: {INLINE}",
        f"{CONFIG}: [cluster]: {NO_SOURCE}",
    ]


def test_a_url_in_database_env_is_not_shown() -> None:
    (message,) = errors({"database_env": URL})
    assert message == (
        f"{CONFIG}: [cluster]: database_env: must be the name of an environment variable "
        '(letters, digits and _, like "MONITOR_DATABASE_URL"), not the URL itself'
    )


@pytest.mark.parametrize(
    ("cluster", "expected"),
    [
        ({}, [NO_SOURCE]),
        ({"node": "web-1"}, [NO_SOURCE]),
        (
            {"database_env": "DB_URL", "database_file": "url"},
            ["database_file: set database_env or database_file, not both"],
        ),
    ],
)
def test_exactly_one_source_of_the_url(cluster: dict[str, Any], expected: list[str]) -> None:
    assert errors(cluster) == [f"{CONFIG}: [cluster]: {line}" for line in expected]


def test_faults_across_the_file_come_together() -> None:
    found = errors({"node": "a b", "lease": "1h"}, {"timeout": "1ms"})
    keys = [line.split(": ")[1:3] for line in found]
    assert keys == [
        ["[publisher]", "timeout"],
        ["[cluster]", "node"],
        ["[cluster]", "lease"],
        ["[cluster]", "database_env"],
    ]


# -- the database URL, read at start ------------------------------------------------------------

WHERE = f"{CONFIG}: [cluster]"


def url_error(cluster: ClusterSettings, environ: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as caught:
        read_database_url(cluster, environ, path=CONFIG)
    (message,) = caught.value.errors
    assert caught.value.path == CONFIG
    return message


def from_env() -> ClusterSettings:
    return ClusterSettings(node="n", database_env="DB_URL")


def from_file(file: Path) -> ClusterSettings:
    return ClusterSettings(node="n", database_file=file)


def test_the_url_from_the_environment() -> None:
    assert read_database_url(from_env(), {"DB_URL": f"  {URL}\n"}, path=CONFIG) == URL
    short = "postgres://db.internal/monitor"
    assert read_database_url(from_env(), {"DB_URL": short}, path=CONFIG) == short


def test_the_url_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "url").write_text(f"\n{URL}\n")
    assert read_database_url(from_file(tmp_path / "url"), {}, path=CONFIG) == URL


def make_fifo(folder: Path) -> Path:
    os.mkfifo(folder / "fifo")
    return folder / "fifo"


def make_folder(folder: Path) -> Path:
    (folder / "folder").mkdir()
    return folder / "folder"


def write(name: str, data: bytes) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        (folder / name).write_bytes(data)
        return folder / name

    return make


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda folder: folder / "missing", "cannot read {file}: no such file"),
        (
            make_folder,
            "cannot read {file}: is a folder; name the file that holds the PostgreSQL URL",
        ),
        (make_fifo, "cannot read {file}: not a regular file"),
        (write("empty", b" \n"), "{file} is empty; write the PostgreSQL URL into it"),
        (write("latin1", URL.encode() + b"\xff"), "{file} is not UTF-8 text"),
        (
            write("big", URL.encode() + b" " * (64 << 10)),
            "cannot read {file}: over 64 KiB, not a database URL",
        ),
        (
            write("mysql", URL.replace("postgresql", "mysql").encode()),
            "{file} must hold a postgresql:// or postgres:// URL, but holds a mysql:// URL",
        ),
        (
            write("password", PASSWORD.encode()),
            "{file} must hold a postgresql:// or postgres:// URL, but holds something else",
        ),
        (
            write("two-lines", f"{URL}\n{URL}".encode()),
            "{file} must hold one URL on one line, with no spaces or control characters; "
            "percent-encode them (a space is %20)",
        ),
    ],
)
def test_a_bad_database_file(tmp_path: Path, make: Callable[[Path], Path], problem: str) -> None:
    file = make(tmp_path)
    message = url_error(from_file(file), {"DB_URL": URL})
    assert message == f"{WHERE}: database_file: {problem.format(file=file)}"
    assert PASSWORD not in message


@pytest.mark.parametrize(
    ("environ", "problem"),
    [
        ({}, "environment variable DB_URL is not set; set it to the PostgreSQL URL, or use "),
        ({"DB_URL": " "}, "environment variable DB_URL is empty; set it to the PostgreSQL URL, "),
        (
            {"DB_URL": URL.replace("postgresql", "postgresql+psycopg")},
            "environment variable DB_URL must hold a postgresql:// or postgres:// URL, but "
            "holds a postgresql+psycopg:// URL",
        ),
        (
            {"DB_URL": URL.replace("postgresql://", "")},
            "environment variable DB_URL must hold a postgresql:// or postgres:// URL, but "
            "holds something else",
        ),
        (
            {"DB_URL": URL.replace("@", " @")},
            "environment variable DB_URL must hold one URL on one line",
        ),
        ({"DB_URL": URL + "\x00"}, "environment variable DB_URL must hold one URL on one line"),
    ],
)
def test_a_bad_database_variable(environ: dict[str, str], problem: str) -> None:
    message = url_error(from_env(), {"OTHER": URL, **environ})
    assert message.startswith(f"{WHERE}: database_env: {problem}"), message
    assert PASSWORD not in message


def test_no_source_at_all() -> None:
    assert url_error(ClusterSettings(node="n"), {"DB_URL": URL}) == (
        f"{WHERE}: database_env: cluster mode needs a database; set database_env or database_file"
    )


# -- the provider's deadline ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fake_type", "publisher"),
    [
        (FakeStatuspage, {"type": "statuspage", "page_id": "page1"}),
        (FakeInstatus, {"type": "instatus", "page_id": "page1"}),
        (FakeCachet, {"type": "cachet"}),
    ],
)
@pytest.mark.parametrize(
    ("deadline", "cluster", "said"),
    [({"timeout": "300ms"}, None, "0.3"), ({}, {**SOURCE, "lease": "1s"}, "0.333333")],
)
async def test_each_provider_keeps_the_configured_deadline(
    fake_type: Callable[[], FakePage],
    publisher: dict[str, Any],
    deadline: dict[str, Any],
    cluster: dict[str, Any] | None,
    said: str,
) -> None:
    fake = fake_type().start()
    try:
        settings = {**publisher, **deadline, "url": fake.url, "api_key_env": "KEY"}
        config = parse(cluster, settings)
        provider = make_provider(config.publisher, KEY, CONFIG, RateLimiter(FAST))
        assert provider is not None
        fake.hang_next()
        try:
            with pytest.raises(Transient, match=f"no answer within {said} s"):
                await provider.components()
        finally:
            await provider.close()
    finally:
        fake.stop()


# -- the command line ---------------------------------------------------------------------------


def config_file(folder: Path, cluster: str = "") -> Path:
    return write_config(
        folder,
        f"""
        [monitor]
        listen = ""
        database = "monitor.db"
        {cluster}
        [[component]]
        name = "Web"
        check = [{{ type = "tcp", host = "127.0.0.1", port = 9 }}]
        """,
    )


def invoke(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(main, list(args), env=env)


def test_validate_takes_a_cluster_and_reads_no_secret(tmp_path: Path) -> None:
    """The variable is set to a URL and the file is missing: validate reads neither."""
    path = config_file(
        tmp_path,
        '[cluster]\n        database_env = "MONITOR_TEST_DATABASE_URL"\n'
        '        node = "web-1"\n        location = "eu-west"',
    )
    result = invoke("validate", "-c", str(path), env={"MONITOR_TEST_DATABASE_URL": URL})
    assert result.exit_code == 0, result.output
    assert result.output == (
        f"{path}: ok: 1 checks in 1 components, publisher none, cluster node web-1 at eu-west\n"
    )
    missing = config_file(tmp_path, '[cluster]\n        database_file = "no-such-file"')
    result = invoke("validate", "-c", str(missing))
    assert result.exit_code == 0, result.output
    assert "no-such-file" not in result.output and "postgres" not in result.output


def test_validate_refuses_an_inline_url_without_showing_it(tmp_path: Path) -> None:
    path = config_file(tmp_path, f'[cluster]\n        database = "{URL}"')
    result = invoke("validate", "-c", str(path))
    assert result.exit_code == 2
    assert f"{path}: [cluster]: database: {INLINE}" in result.output.splitlines()
    assert PASSWORD not in result.output


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--node", "web-1"], "--node needs a [cluster] table in {path}"),
        (["--location", "eu"], "--location needs a [cluster] table in {path}"),
        (
            ["--node", "a", "--location", "b"],
            "--node and --location need a [cluster] table in {path}",
        ),
    ],
)
def test_run_with_node_or_location_needs_a_cluster(
    tmp_path: Path, options: list[str], message: str
) -> None:
    path = config_file(tmp_path)
    result = invoke("run", "-c", str(path), *options)
    assert result.exit_code == 2
    assert result.output == message.format(path=path) + "\n"
    assert not (tmp_path / "monitor.db").exists()  # nothing started


@pytest.mark.parametrize("option", ["--node", "--location"])
@pytest.mark.parametrize("value", ["", "web 1", "a" * 64, "eu/west", "wéb"])
def test_run_refuses_a_bad_name(tmp_path: Path, option: str, value: str) -> None:
    path = config_file(tmp_path, "[cluster]\n        database_env = 'DB_URL'")
    result = invoke("run", "-c", str(path), option, value)
    assert result.exit_code == 2
    assert f"Invalid value for '{option}': {NAME}, got " in result.output
    assert not (tmp_path / "monitor.db").exists()


@pytest.mark.parametrize(
    ("node", "location", "expected"),
    [
        (None, None, ("web-1", "eu-west")),
        ("web-9", None, ("web-9", "eu-west")),
        (None, "us-east", ("web-1", "us-east")),
        ("web-9", "us-east", ("web-9", "us-east")),
    ],
)
def test_the_options_replace_the_keys(
    node: str | None, location: str | None, expected: tuple[str, str]
) -> None:
    config = parse({**SOURCE, "node": "web-1", "location": "eu-west", "lease": "30s"})
    changed = cluster_names(config, node=node, location=location)
    assert changed.cluster is not None and config.cluster is not None
    assert (changed.cluster.node, changed.cluster.location) == expected
    assert changed.cluster.lease == 30.0 and changed.publisher == config.publisher


@pytest.mark.slow
def test_run_with_the_options_and_a_cluster_gets_past_them(tmp_path: Path) -> None:
    """A real `monitor run` with --node and --location and a [cluster]: the options are taken,
    and it stops at the next step, the database lock this test holds, so no daemon starts."""
    path = config_file(tmp_path, "[cluster]\n        database_env = 'DB_URL'")
    lock = DaemonLock.acquire(tmp_path / "monitor.db")
    try:
        result = subprocess.run(
            [sys.executable, "-m", "monitor", "run", "-c", str(path)]
            + ["--node", "web-9", "--location", "eu-west"],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "DB_URL": URL},
        )
    finally:
        lock.release()
    assert result.returncode == 2, result.stderr
    assert f"{path}: [monitor] database: " in result.stderr
    assert "is in use by another monitor run" in result.stderr
    assert PASSWORD not in result.stderr


def test_an_api_key_file_that_is_a_folder_says_so_too(tmp_path: Path) -> None:
    """read_api_key shares the reading of a secret's file with read_database_url."""
    publisher = PublisherSettings(type="statuspage", api_key_file=tmp_path)
    with pytest.raises(ConfigError) as caught:
        read_api_key(publisher, {}, path=CONFIG)
    assert caught.value.errors == [
        f"{CONFIG}: [publisher]: api_key_file: cannot read {tmp_path}: is a folder; name the "
        "file that holds the statuspage API key"
    ]
