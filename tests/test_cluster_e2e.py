"""Cluster mode end to end: real `monitor run` nodes, a real PostgreSQL, the fake Statuspage."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import main

from .cluster_helpers import Node, leader_of, ours, senders, start_nodes
from .conftest import DaemonProcess, Target, wait_for
from .fake_statuspage import FakeStatuspage, fake_statuspage_fixture  # noqa: F401

pytestmark = pytest.mark.slow


def test_three_nodes_one_incident_from_one_leader(
    tmp_path: Path,
    target: Target,
    fake_statuspage: FakeStatuspage,
    daemons: Callable[..., DaemonProcess],
    pg_url: str,
) -> None:
    remote_id = fake_statuspage.add_component("Payment API")
    nodes = start_nodes(tmp_path, 3, daemons, pg_url, target, fake_statuspage, remote_id)
    leader = leader_of(nodes)
    wait_for(lambda: all(n.cluster_nodes() == 3 for n in nodes), 20, "3 nodes")
    target.set("/pay", status=500)
    wait_for(lambda: len(ours(fake_statuspage)) == 1, 20, "an incident")
    assert fake_statuspage.component(remote_id)["status"] == "major_outage"
    target.set("/pay", status=200)
    wait_for(lambda: ours(fake_statuspage)[0]["status"] == "resolved", 20, "its resolution")
    assert fake_statuspage.component(remote_id)["status"] == "operational"
    assert len(ours(fake_statuspage)) == 1
    assert senders(fake_statuspage) == {leader.name}
    for node in nodes:  # every node shows the cluster's status, as of its last look
        wait_for(
            lambda node=node: node.status()["components"][0]["status"] == "operational",
            5,
            f"{node.name} to show the recovery",
        )
        assert node.status()["cluster"]["leader"] == leader.name
        assert node.healthz()[0] == 200
    # `monitor incidents` on any node, the leader or not, reads the cluster's
    (incident,) = ours(fake_statuspage)
    for node in nodes:
        wait_for(
            lambda node=node: incidents_of(node) == [(incident["id"], "major_outage")],
            5,
            f"{node.name}'s copy of the incident",
        )


def incidents_of(node: Node) -> list[tuple[str | None, str]]:
    result = CliRunner().invoke(
        main, ["incidents", "-c", str(node.folder / "checks.toml"), "--json"]
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    return [(i["status_page_incident"], i["worst_status"]) for i in document["incidents"]]


def test_a_reload_reaches_the_leader_and_keeps_the_node_name(
    tmp_path: Path,
    target: Target,
    fake_statuspage: FakeStatuspage,
    daemons: Callable[..., DaemonProcess],
    pg_url: str,
) -> None:
    import signal

    from .cluster_helpers import query

    remote_id = fake_statuspage.add_component("Payment API")
    search_id = fake_statuspage.add_component("Search")
    nodes = start_nodes(tmp_path, 2, daemons, pg_url, target, fake_statuspage, remote_id)
    leader = leader_of(nodes)
    for node in nodes:
        path = node.folder / "checks.toml"
        text = path.read_text().replace(f'node = "{node.name}"\n', "")  # --node would be lost
        path.write_text(
            text
            + f"""
[[component]]
name = "Search"
id = "search"
remote_id = "{search_id}"
  [[component.check]]
  type = "http"
  name = "home"
  url = "{target.url}/search"
"""
        )
    # the name came from the file; a reload must not turn the node into its host name
    for node in nodes:
        node.daemon.signal(signal.SIGHUP)
    wait_for(
        lambda: (
            query(pg_url, "SELECT count(*) FROM component_state WHERE component = 'search'")
            == [(1,)]
        ),
        20,
        "the leader to judge the new component",
    )
    target.set("/search", status=503)
    wait_for(lambda: len(ours(fake_statuspage)) == 1, 20, "an incident for Search")
    assert fake_statuspage.component(search_id)["status"] == "major_outage"
    assert fake_statuspage.component(remote_id)["status"] == "operational"
    assert leader_of(nodes) is leader
    names: set[str] = set()

    def named() -> bool:
        names.clear()
        names.update(row[0] for row in query(pg_url, "SELECT name FROM nodes"))
        return names == {n.name for n in nodes}

    try:
        wait_for(named, 10, "both nodes under their own names, and no other")
    except AssertionError:
        said = {
            n.name: [
                line for line in n.daemon.log.splitlines() if "INFO monitor: check" not in line
            ]
            for n in nodes
        }
        raise AssertionError(f"the nodes table has {sorted(names)}; logs: {said}") from None
