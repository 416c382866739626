"""`monitor status` shows each location's view of a check and the cluster's judged state, and
`monitor history --location` names where another location's results live: nodes' reports, the
lease and the judged states written to a real PostgreSQL, read by the real commands."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sqlite3
import time
import urllib.request
from pathlib import Path
from typing import Any

import asyncpg
from click.testing import CliRunner, Result

from monitor.cli import main
from monitor.cluster import shared
from monitor.cluster.lease import Lease
from monitor.cluster.schema import migrate
from monitor.config import load_config
from monitor.daemon import Daemon
from monitor.model import Outcome, check_key
from monitor.recorder import Route
from monitor.state import CheckState, CheckStatus, ComponentStatus, Status
from monitor.store import heartbeat, register_checks, save_check_status, save_component_status
from monitor.writer import Writer

from .conftest import free_port, write_config

URL_ENV = "MONITOR_DATABASE_URL"
PLAIN: dict[str, str | None] = {"NO_COLOR": "1", "COLUMNS": "140"}
COLOUR: dict[str, str | None] = {"FORCE_COLOR": "1", "NO_COLOR": None, "COLUMNS": "140"}
THREE = '["eu", "us", "ap"]'
LONG_AGO = 600.0  # seconds: a report this old is stale (stale_after is 30 s here)
LOCATION_KEYS = {"state", "since", "last_probe_at", "fresh", "node"}


def seeded(folder: Path, *, cluster: bool = True, location: str = "eu") -> Path:
    """Two components of one check each, probed from three locations ("api" needs all three
    to agree), with this node's SQLite as a running daemon leaves it: everything up."""
    table = (
        f'[cluster]\ndatabase_env = "{URL_ENV}"\nnode = "n1"\nlocation = "{location}"\n'
        if cluster
        else ""
    )
    where = f"locations = {THREE}" if cluster else ""
    path = write_config(
        folder,
        f"""
[monitor]
database = "monitor.db"
{table}
[[component]]
name = "Web"
id = "web"
{where}
  [[component.check]]
  type = "tcp"
  name = "port"
  host = "127.0.0.1"
  port = 9
[[component]]
name = "API"
id = "api"
{where}
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
            up = CheckStatus(CheckState.UP, now - 60, last_outcome=Outcome.OK, last_at=now - 1)
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


def report(state: CheckState, age: float = 1.0) -> CheckStatus:
    now = time.time()
    outcome = Outcome.FAIL if state is CheckState.DOWN else Outcome.OK
    return CheckStatus(state, now - 120, last_outcome=outcome, last_at=now - age)


async def seed(url: str) -> None:
    """n1 (eu), n2 (us), n3 (ap), all heard from now, n4 (us) long silent; n1 leads and has
    judged web/port down. web/port: eu and us see it down, ap up. api/port: eu sees it up, us
    saw it long ago, ap never: one fresh location of the two needed, no quorum."""
    conn = await asyncpg.connect(url, timeout=5)
    try:
        await migrate(conn)
        reports = {
            ("n1", "eu"): [
                ("web/port", report(CheckState.DOWN)),
                ("api/port", report(CheckState.UP)),
            ],
            ("n2", "us"): [
                ("web/port", report(CheckState.DOWN, age=2)),
                ("api/port", report(CheckState.DOWN, age=LONG_AGO)),
            ],
            ("n3", "ap"): [("web/port", report(CheckState.UP, age=3))],
            ("n4", "us"): [],
        }
        for (node, location), rows in reports.items():
            pushed = [shared.report_row(key, status) for key, status in rows]
            await shared.push(conn, node, location, f"{node}:1:test", pushed)
        await conn.execute(
            "UPDATE nodes SET last_seen = now() - interval '1 hour' WHERE name = 'n4'"
        )
        lease = Lease("n1", 60.0)
        assert await lease.campaign(conn)
        judged = [("web/port", report(CheckState.DOWN))]
        await shared.record(conn, lease, [], Route(), checks=judged)
    finally:
        await conn.close()


def invoke(config: Path, url: str | None, *args: str, env: dict[str, str | None] = PLAIN) -> Result:
    result = CliRunner().invoke(main, [*args, "-c", str(config)], env={**env, URL_ENV: url})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def status_json(config: Path, url: str | None) -> dict[str, Any]:
    result = invoke(config, url, "status", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)  # type: ignore[no-any-return]


def checks_of(found: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{c['id']}/{k['name']}": k for c in found["components"] for k in c["checks"]}


def lines_from(output: str, first: str, count: int) -> list[str]:
    """`count` lines of the table from the first that starts (after spaces) with `first`."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:1] == [first])
    return lines[start : start + count]


# -- monitor status ----------------------------------------------------------------------------


def test_json_has_each_locations_view_and_the_judged_state(tmp_path: Path, pg_url: str) -> None:
    asyncio.run(seed(pg_url))
    config = seeded(tmp_path)
    checks = checks_of(status_json(config, pg_url))
    web = checks["web/port"]
    assert web["state"] == "down", "the cluster's judged state, not this node's own up"
    assert {loc: (v["state"], v["fresh"], v["node"]) for loc, v in web["locations"].items()} == {
        "ap": ("up", True, "n3"),
        "eu": ("down", True, "n1"),
        "us": ("down", True, "n2"),
    }
    assert list(web["locations"]) == ["ap", "eu", "us"], "in name order"
    assert all(set(v) == LOCATION_KEYS for v in web["locations"].values())
    api = checks["api/port"]
    assert api["state"] == "up", "never judged: this node's own state"
    assert {loc: (v["state"], v["fresh"]) for loc, v in api["locations"].items()} == {
        "eu": ("up", True),
        "us": ("down", False),
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", api["locations"]["us"]["last_probe_at"])


def test_the_table_shows_locations_disagreement_and_a_lost_quorum(
    tmp_path: Path, pg_url: str
) -> None:
    asyncio.run(seed(pg_url))
    config = seeded(tmp_path)
    result = invoke(config, pg_url, "status")
    assert result.exit_code == 0, result.output
    out = result.output
    port, ap, eu, us = lines_from(out, "web", 5)[1:]
    assert port.split()[:2] == ["port", "down,"] and "2 of 3 locations down" in port, out
    assert "fail 0 ms" in port, "the last probe of a location that sees it down"
    assert "no quorum" not in port
    assert ap.split()[:2] == ["ap", "up"] and re.search(r"\ds ago from n3$", ap), ap
    assert eu.split()[:2] == ["eu", "down"] and "from n1" in eu and "stale" not in eu
    assert us.split()[:2] == ["us", "down"] and "from n2" in us
    port, eu, us = lines_from(out, "api", 4)[1:]
    assert port.split()[:3] == ["port", "up,", "no"] and "no quorum" in port, out
    assert "locations" not in port, "the only fresh location agrees with itself"
    assert eu.split()[:2] == ["eu", "up"] and "stale" not in eu
    assert us.split()[:3] == ["us", "down", "stale"] and "10 min ago from n2" in us, us
    assert "1 check without a quorum of fresh locations" in out and "api/port" in out
    coloured = invoke(config, pg_url, "status", env=COLOUR).output
    assert re.search(r"\x1b\[1;31mno quorum\x1b\[0m", coloured), coloured


def test_an_unreachable_database_leaves_every_check_with_no_locations(tmp_path: Path) -> None:
    config = seeded(tmp_path)
    url = f"postgresql://u:secret@127.0.0.1:{free_port()}/x"
    found = status_json(config, url)
    assert found["cluster"]["error"]
    checks = checks_of(found)
    assert {key: c["locations"] for key, c in checks.items()} == {"web/port": {}, "api/port": {}}
    assert [c["state"] for c in checks.values()] == ["up", "up"], "this node's own states"
    table = invoke(config, url, "status").output
    assert "no quorum" not in table and "locations" not in table


def test_without_cluster_there_is_no_locations_key(tmp_path: Path) -> None:
    config = seeded(tmp_path, cluster=False)
    checks = checks_of(status_json(config, None))
    assert all("locations" not in c for c in checks.values()), checks


async def test_status_json_has_the_daemons_locations_block(tmp_path: Path, pg_url: str) -> None:
    """The same check's locations, served by a running node's /status.json and read by
    `monitor status --json` from PostgreSQL: the same locations, each with the same keys."""
    port = free_port()
    path = write_config(
        tmp_path,
        f"""
[monitor]
database = "monitor.db"
listen = "127.0.0.1:{port}"
[cluster]
database_env = "{URL_ENV}"
node = "n1"
location = "eu"
lease = "2s"
[[component]]
name = "Web"
id = "web"
  [[component.check]]
  type = "tcp"
  name = "port"
  host = "127.0.0.1"
  port = {free_port()}
  interval = "1s"
  timeout = "0.5s"
""",
    )
    conn = await asyncpg.connect(pg_url, timeout=5)
    try:  # a second location, so the block has two
        await migrate(conn)
        pushed = [shared.report_row("web/port", report(CheckState.UP))]
        await shared.push(conn, "n2", "us", "n2:1:test", pushed)
    finally:
        await conn.close()
    daemon = Daemon(load_config(path), flush_interval=0.02, environ={URL_ENV: pg_url})
    stop = asyncio.Event()
    task = asyncio.create_task(daemon.run(stop))
    try:
        served = await until_served(port, task)
    finally:
        stop.set()
        async with asyncio.timeout(15):
            await task
    read = await asyncio.to_thread(status_json, path, pg_url)
    ours, theirs = (checks_of(doc)["web/port"]["locations"] for doc in (served, read))
    assert list(ours) == list(theirs) == ["eu", "us"]
    for location in ours:
        assert set(ours[location]) == set(theirs[location]) == LOCATION_KEYS
        assert ours[location]["node"] == theirs[location]["node"]
        assert ours[location]["fresh"] is theirs[location]["fresh"] is True
    assert theirs["eu"]["state"] == "down" and theirs["us"]["state"] == "up"


async def until_served(port: int, task: asyncio.Task[None]) -> dict[str, Any]:
    """/status.json once its check has two locations, within 20 s."""

    def get() -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/status.json", timeout=2) as r:
                found: dict[str, Any] = json.loads(r.read())
        except OSError:
            return None
        views = checks_of(found)["web/port"]["locations"]
        return found if len(views) == 2 and views["eu"]["state"] == "down" else None

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if task.done():
            task.result()
        found = await asyncio.to_thread(get)
        if found is not None:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError("/status.json never showed both locations")


# -- monitor history --location ------------------------------------------------------------------


def test_history_names_this_nodes_location(tmp_path: Path) -> None:
    """Its own location's history needs no database (none is set here)."""
    config = seeded(tmp_path)
    for args in ((), ("--location", "eu")):
        result = invoke(config, None, "history", "--json", *args)
        assert result.exit_code == 0, result.output
        found = json.loads(result.output)
        assert list(found)[:3] == ["since", "until", "location"] and found["location"] == "eu"
        assert [c["id"] for c in found["components"]] == ["web", "api"]
        table = invoke(config, None, "history", *args)
        assert table.exit_code == 0, table.output
        assert "probes and latency from location eu (this node)" in table.output


def test_history_of_another_location_names_its_nodes(tmp_path: Path, pg_url: str) -> None:
    asyncio.run(seed(pg_url))
    config = seeded(tmp_path)
    result = invoke(config, pg_url, "history", "--location", "us")
    assert result.exit_code == 2, result.output
    assert "results of us are kept by its nodes (n2, n4 (silent)); run monitor history there" in (
        result.output
    )
    assert "this node probes from eu ([cluster] location in" in result.output
    unknown = invoke(config, pg_url, "history", "--location", "mars")
    assert unknown.exit_code == 2, unknown.output
    assert "no node of mars is known to the cluster" in unknown.output


def test_history_of_another_location_without_the_database(tmp_path: Path) -> None:
    config = seeded(tmp_path)
    url = f"postgresql://u:secret@127.0.0.1:{free_port()}/x"
    result = invoke(config, url, "history", "--location", "us")
    assert result.exit_code == 2, result.output
    assert "results of us are kept by its nodes, which cannot be read now:" in result.output
    assert "ConnectionRefusedError" in result.output and "secret" not in result.output


def test_history_location_needs_cluster(tmp_path: Path) -> None:
    config = seeded(tmp_path, cluster=False)
    result = invoke(config, None, "history", "--location", "eu")
    assert result.exit_code == 2, result.output
    assert f"--location needs a [cluster] table in {config}" in result.output
    plain = invoke(config, None, "history", "--json")
    assert plain.exit_code == 0 and "location" not in json.loads(plain.output)
    table = invoke(config, None, "history")
    assert table.exit_code == 0 and "from location" not in table.output
