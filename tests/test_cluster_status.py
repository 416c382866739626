"""`monitor status` in cluster mode: the `cluster` block and the table's cluster section, read
straight from a real PostgreSQL; an unreachable one is said, in red, within a few seconds and
without its password, while everything else is still printed from SQLite."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from click.testing import CliRunner, Result

from monitor.cli import main
from monitor.cluster import shared
from monitor.cluster.lease import Lease
from monitor.cluster.schema import migrate
from monitor.config import load_config
from monitor.model import Outcome, check_key
from monitor.state import CheckState, CheckStatus, ComponentStatus, Status
from monitor.store import heartbeat, register_checks, save_check_status, save_component_status
from monitor.writer import Writer

from .conftest import free_port, write_config

URL_ENV = "MONITOR_DATABASE_URL"
PASSWORD = "s3cret"
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
LONG_AGO = 1_767_572_000.0  # 2026-01-05T00:13:20Z: a node that has been silent for long
PLAIN: dict[str, str | None] = {"NO_COLOR": "1", "COLUMNS": "120"}


def cluster_config(folder: Path, cluster: bool = True) -> Path:
    """A config with two components, its SQLite seeded as a running daemon would leave it."""
    table = f'[cluster]\ndatabase_env = "{URL_ENV}"\nnode = "n1"\nlocation = "eu"\n'
    path = write_config(
        folder,
        f"""
[monitor]
database = "monitor.db"
{table if cluster else ""}
[[component]]
name = "Web"
id = "web"
  [[component.check]]
  type = "tcp"
  name = "port"
  host = "127.0.0.1"
  port = 9
[[component]]
name = "API"
id = "api"
  [[component.check]]
  type = "tcp"
  name = "port"
  host = "127.0.0.1"
  port = 9
""",
    )
    components = load_config(path).components
    now = time.time()
    writer = Writer(folder / "monitor.db", flush_interval=0.01)
    writer.start()
    try:
        ids = writer.call(lambda db: register_checks(db, components)).result(5)
        for component in components:
            status = ComponentStatus(Status.OPERATIONAL, now - 60, "all 1 checks up")
            writer.submit(save_component_status(component.id, status))
            up = CheckStatus(
                CheckState.UP,
                now - 60,
                last_outcome=Outcome.OK,
                last_latency=0.002,
                last_at=now - 1,
            )
            writer.submit(save_check_status(ids[check_key(component, component.checks[0])], up))

        def beat(db: Any) -> None:
            with db.conn:
                heartbeat(db, now - 60, now)

        writer.call(beat).result(5)
    finally:
        writer.stop()
    with contextlib.closing(sqlite3.connect(folder / "monitor.db")) as db, db:
        db.execute("UPDATE runs SET ended = NULL")  # the writer ended its run; a daemon runs
    return path


def status(
    config: Path, url: str | None, *args: str, env: dict[str, str | None] | None = None
) -> Result:
    environ: dict[str, str | None] = {**(env or PLAIN), URL_ENV: url}
    result = CliRunner().invoke(main, ["status", "-c", str(config), *args], env=environ)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def document(config: Path, url: str | None) -> dict[str, Any]:
    result = status(config, url, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)  # type: ignore[no-any-return]


async def seed_cluster(url: str, *, lease_for: str | None = "n1", release: bool = False) -> None:
    """The shared schema; n1 (eu) and n2 (us) heard from now, n3 (ap) long ago; `lease_for`
    takes the lease (and gives it back with `release`)."""
    conn = await asyncpg.connect(url, timeout=5)
    try:
        await migrate(conn)
        for name, location in (("n1", "eu"), ("n2", "us"), ("n3", "ap")):
            await shared.push(conn, name, location, f"{name}:1:test", [])
        await conn.execute(
            "UPDATE nodes SET last_seen = to_timestamp($1) WHERE name = 'n3'", LONG_AGO
        )
        if lease_for is not None:
            lease = Lease(lease_for, 60.0)
            assert await lease.campaign(conn)
            if release:
                await lease.release(conn)
    finally:
        await conn.close()


def line_of(output: str, name: str) -> str:
    found = [line for line in output.splitlines() if line.split()[:1] == [name]]
    assert len(found) == 1, output
    return found[0]


def test_json_has_the_leader_and_every_node(tmp_path: Path, pg_url: str) -> None:
    asyncio.run(seed_cluster(pg_url))
    config = cluster_config(tmp_path)
    before = time.time()
    cluster = document(config, pg_url)["cluster"]
    assert {k: cluster[k] for k in ("node", "leader", "epoch", "error")} == {
        "node": "n1",
        "leader": "n1",
        "epoch": 1,
        "error": None,
    }
    nodes = cluster["nodes"]
    assert [(n["name"], n["location"], n["alive"]) for n in nodes] == [
        ("n1", "eu", True),
        ("n2", "us", True),
        ("n3", "ap", False),
    ]
    assert all(RFC3339.fullmatch(n["last_seen"]) for n in nodes), nodes
    assert nodes[2]["last_seen"] == "2026-01-05T00:13:20Z"
    seen = dt.datetime.fromisoformat(nodes[0]["last_seen"]).timestamp()
    assert before - 60 < seen < time.time() + 60  # the server's clock, on this machine
    assert set(nodes[0]) == {"name", "location", "last_seen", "alive"}


def test_the_document_still_has_every_other_block(tmp_path: Path, pg_url: str) -> None:
    asyncio.run(seed_cluster(pg_url))
    config = cluster_config(tmp_path)
    found = document(config, pg_url)
    assert list(found) == ["components", "publisher", "daemon", "cluster"]
    assert [c["status"] for c in found["components"]] == ["operational", "operational"]
    assert found["daemon"]["running"] is True


def test_the_table_marks_the_leader_and_a_silent_node(tmp_path: Path, pg_url: str) -> None:
    asyncio.run(seed_cluster(pg_url))
    config = cluster_config(tmp_path)
    result = status(config, pg_url)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "cluster, lease epoch 1" in out
    assert out.index("api") < out.index("cluster, lease epoch 1"), "below the components"
    n1, n2, n3 = (line_of(out, name) for name in ("n1", "n2", "n3"))
    assert n1.split()[1:2] == ["eu"] and n1.rstrip().endswith("leader")
    assert re.search(r"\s\d\d:\d\d:\d\d\s", n1), n1  # today, local time
    assert "leader" not in n2 and "silent" not in n2 and "silent" not in n1
    shown = dt.datetime.fromtimestamp(LONG_AGO).strftime("%Y-%m-%d %H:%M")
    assert shown in n3 and n3.rstrip().endswith("silent")
    assert "no leader" not in out and "unreachable" not in out
    assert "\x1b[" not in out, "no colour with NO_COLOR"


def test_a_lapsed_lease_means_no_leader(tmp_path: Path, pg_url: str) -> None:
    asyncio.run(seed_cluster(pg_url, lease_for="n2", release=True))
    config = cluster_config(tmp_path)
    cluster = document(config, pg_url)["cluster"]
    assert cluster["leader"] is None and cluster["epoch"] == 1 and cluster["error"] is None
    result = status(config, pg_url)
    assert result.exit_code == 0, result.output
    assert "the cluster has no leader: nothing is being published" in result.output
    assert "leader" not in line_of(result.output, "n2")


def test_a_database_without_the_cluster_tables(tmp_path: Path, pg_url: str) -> None:
    config = cluster_config(tmp_path)
    cluster = document(config, pg_url)["cluster"]
    assert cluster["leader"] is None and cluster["nodes"] == []
    assert "no cluster tables yet" in cluster["error"]


def test_without_cluster_the_block_is_null(tmp_path: Path) -> None:
    config = cluster_config(tmp_path, cluster=False)
    assert document(config, None)["cluster"] is None
    result = status(config, None)
    assert result.exit_code == 0, result.output
    assert "cluster" not in result.output and "web" in result.output


def unreachable_url() -> str:
    return f"postgresql://u:{PASSWORD}@127.0.0.1:{free_port()}/x"


def test_an_unreachable_database_is_said_quickly_without_its_password(tmp_path: Path) -> None:
    config = cluster_config(tmp_path)
    url = unreachable_url()
    started = time.monotonic()
    result = status(config, url, "--json")
    assert time.monotonic() - started < 5
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    cluster = found["cluster"]
    assert {k: v for k, v in cluster.items() if k != "error"} == {
        "node": "n1",
        "leader": None,
        "epoch": 0,
        "nodes": [],
    }
    assert "ConnectionRefusedError" in cluster["error"]
    assert "postgresql://u:***@127.0.0.1" in cluster["error"]
    assert [c["status"] for c in found["components"]] == ["operational", "operational"]
    assert PASSWORD not in result.output and PASSWORD not in result.stderr


def test_the_table_says_an_unreachable_database_in_red(tmp_path: Path) -> None:
    config = cluster_config(tmp_path)
    url = unreachable_url()
    plain = status(config, url)
    assert plain.exit_code == 0, plain.output
    assert "cluster database unreachable (the component statuses above are" in plain.output
    assert ": postgresql://u:***@127.0.0.1:" in plain.output
    assert "web" in plain.output and "api" in plain.output, "the rest still printed"
    assert "lease epoch" not in plain.output, "no node table without the database"
    coloured = status(config, url, env={"FORCE_COLOR": "1", "NO_COLOR": None, "COLUMNS": "120"})
    assert re.search(r"\x1b\[1;31mcluster database unreachable", coloured.output), coloured.output
    for result in (plain, coloured):
        assert PASSWORD not in result.output and PASSWORD not in result.stderr


@pytest.fixture
def blackhole() -> Iterator[int]:
    """A port that accepts connections (the kernel completes the handshake) and never answers."""
    server = socket.create_server(("127.0.0.1", 0), backlog=8)
    yield int(server.getsockname()[1])
    server.close()


def test_a_database_that_never_answers_costs_the_deadline(tmp_path: Path, blackhole: int) -> None:
    config = cluster_config(tmp_path)
    started = time.monotonic()
    cluster = document(config, f"postgresql://u:{PASSWORD}@127.0.0.1:{blackhole}/x")["cluster"]
    assert 2.5 < time.monotonic() - started < 5
    assert "TimeoutError" in cluster["error"] and PASSWORD not in cluster["error"]


def test_an_unset_variable_is_said_and_the_rest_printed(tmp_path: Path) -> None:
    config = cluster_config(tmp_path)
    found = document(config, None)
    assert URL_ENV in found["cluster"]["error"] and found["cluster"]["nodes"] == []
    assert [c["status"] for c in found["components"]] == ["operational", "operational"]


@pytest.mark.parametrize("cluster", [False, True])
def test_asyncpg_is_imported_only_in_cluster_mode(tmp_path: Path, cluster: bool) -> None:
    config = cluster_config(tmp_path, cluster=cluster)
    code = (
        "import runpy, sys\n"
        f"sys.argv = ['monitor', 'status', '--json', '-c', {str(config)!r}]\n"
        "try:\n    runpy.run_module('monitor', run_name='__main__')\n"
        "except SystemExit as exc:\n    print('exit', exc.code)\n"
        "print('asyncpg' in sys.modules)\n"
    )
    env = {**os.environ, URL_ENV: unreachable_url()}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == str(cluster), done.stdout + done.stderr
