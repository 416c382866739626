"""Probes from three locations and a quorum of two, end to end: three real nodes, each reaching
the target through its own proxy, a real PostgreSQL, the fake Statuspage counting."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .cluster_helpers import KEY_ENV, URL_ENV, Node, leader_of, node_config, ours
from .conftest import DaemonProcess, Target, free_port, wait_for
from .fake_statuspage import FakeStatuspage, fake_statuspage_fixture  # noqa: F401
from .faultproxy import FaultProxy

pytestmark = pytest.mark.slow

PLACES = {"node-a": "eu-west", "node-b": "us-east", "node-c": "ap-south"}


@pytest.fixture
def proxies(target: Target) -> Iterator[dict[str, FaultProxy]]:
    """One way to the target per location, each of which the test can cut."""
    found = [FaultProxy("127.0.0.1", target.port) for _ in PLACES]
    try:
        yield dict(zip(PLACES.values(), found, strict=True))
    finally:
        for proxy in found:
            proxy.close()


def views(node: Node) -> dict[str, dict[str, object]]:
    """Each location's view of the check, as `node` shows it."""
    check = node.status()["components"][0]["checks"][0]
    return check["locations"]  # type: ignore[no-any-return]


def seen(node: Node, want: dict[str, str]) -> bool:
    try:
        got = views(node)
    except OSError:
        return False
    return {loc: v["state"] for loc, v in got.items() if v["fresh"]} == want


def test_one_location_cut_off_publishes_nothing_two_make_an_incident(
    tmp_path: Path,
    target: Target,
    fake_statuspage: FakeStatuspage,
    daemons: Callable[..., DaemonProcess],
    pg_url: str,
    proxies: dict[str, FaultProxy],
) -> None:
    remote_id = fake_statuspage.add_component("Payment API")
    nodes = []
    for name, location in PLACES.items():
        port = free_port()
        path = node_config(
            tmp_path / name,
            name,
            port,
            target,
            fake_statuspage,
            remote_id,
            location=location,
            target_url=f"http://127.0.0.1:{proxies[location].port}",
            component='locations = ["eu-west", "us-east", "ap-south"]',
            extra='stale_after = "4s"',
        )
        env = {KEY_ENV: "test-key", URL_ENV: pg_url}
        nodes.append(Node(name, tmp_path / name, port, daemons(path, env=env)))
    leader = leader_of(nodes)
    all_up = {"eu-west": "up", "us-east": "up", "ap-south": "up"}
    wait_for(lambda: seen(leader, all_up), 20, "three fresh locations, all up")

    # one location cut off: its view shows it, the page hears nothing
    proxies["eu-west"].refuse()
    wait_for(lambda: seen(leader, {**all_up, "eu-west": "down"}), 15, "eu-west to see it down")
    wait_for(
        lambda: leader.metric_labels("monitor_location_check_up", location="eu-west") == 0.0,
        5,
        "monitor_location_check_up for eu-west",
    )
    assert leader.metric_labels("monitor_check_up") == 1.0
    assert ours(fake_statuspage) == []
    assert fake_statuspage.component(remote_id)["status"] == "operational"
    assert leader.status()["components"][0]["status"] == "operational"

    # a second one: two of three agree, one incident, its reason naming them
    proxies["us-east"].refuse()
    wait_for(lambda: len(ours(fake_statuspage)) == 1, 20, "an incident")
    assert fake_statuspage.component(remote_id)["status"] == "major_outage"
    wait_for(
        lambda: (
            "down from eu-west, us-east; up from ap-south"
            in str(leader.status()["components"][0]["reason"])
        ),
        5,
        "the reason to name the locations",
    )

    # back: recovered and resolved
    proxies["eu-west"].pass_()
    proxies["us-east"].pass_()
    wait_for(lambda: ours(fake_statuspage)[0]["status"] == "resolved", 20, "the resolution")
    assert len(ours(fake_statuspage)) == 1

    # a location's node killed: it abstains once stale, the other two still decide
    killed = next(n for n in nodes if n is not leader)
    killed.daemon.signal(signal.SIGKILL)
    killed.daemon.wait(10)
    gone = PLACES[killed.name]
    rest = {loc: "up" for loc in all_up if loc != gone}
    wait_for(lambda: seen(leader, rest), 15, f"{gone} to go stale")
    assert views(leader)[gone]["fresh"] is False
    assert leader.metric_labels("monitor_quorum_lost", component="payments") == 0.0
    for location in rest:
        proxies[location].refuse()
    wait_for(lambda: len(ours(fake_statuspage)) == 2, 20, "an incident decided by the other two")
    for location in rest:
        proxies[location].pass_()
    wait_for(lambda: ours(fake_statuspage)[1]["status"] == "resolved", 20, "its resolution")

    # and with only one fresh location left, nothing can be decided: shown, never published
    other = next(n for n in nodes if n is not leader and n is not killed)
    other.daemon.signal(signal.SIGKILL)
    other.daemon.wait(10)
    wait_for(
        lambda: leader.metric_labels("monitor_quorum_lost", component="payments") == 1.0,
        15,
        "monitor_quorum_lost",
    )
    proxies[PLACES[leader.name]].refuse()
    wait_for(
        lambda: seen(leader, {PLACES[leader.name]: "down"}), 15, "the last location to see down"
    )
    assert len(ours(fake_statuspage)) == 2  # one location alone publishes nothing
    assert fake_statuspage.component(remote_id)["status"] == "operational"
