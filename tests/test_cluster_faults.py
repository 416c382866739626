"""Cluster mode under real faults: kill -9, SIGSTOP past the lease, PostgreSQL stopped, a node
cut from the database by a proxy. Real nodes, a real PostgreSQL, the fake Statuspage counting."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .cluster_helpers import (
    leader_of,
    ours,
    query,
    requests_from,
    restart,
    start_nodes,
)
from .conftest import DaemonProcess, Target, count_rows, wait_for
from .fake_statuspage import FakeStatuspage, fake_statuspage_fixture  # noqa: F401
from .faultproxy import FaultProxy
from .postgres import PostgresServer

pytestmark = pytest.mark.slow

LEASE = 2.0
TIMEOUT = LEASE / 3  # the publisher's timeout, by default, in cluster mode: the lock delay
INTERVAL = 1.0


def outage(fake: FakeStatuspage, target: Target) -> dict[str, object]:
    """Fail the target until the page has one open incident; return it."""
    target.set("/pay", status=500)
    wait_for(lambda: len(ours(fake)) == 1, 20, "an incident")
    return ours(fake)[0]


def test_kill_9_of_the_leader_mid_outage_another_node_resolves_it(
    tmp_path: Path,
    target: Target,
    fake_statuspage: FakeStatuspage,
    daemons: Callable[..., DaemonProcess],
    pg_url: str,
) -> None:
    remote_id = fake_statuspage.add_component("Payment API")
    nodes = start_nodes(tmp_path, 3, daemons, pg_url, target, fake_statuspage, remote_id)
    leader = leader_of(nodes)
    incident = outage(fake_statuspage, target)
    leader.daemon.signal(signal.SIGKILL)
    leader.daemon.wait(10)
    killed = fake_statuspage.clock()
    target.set("/pay", status=200)
    wait_for(lambda: ours(fake_statuspage)[0]["status"] == "resolved", 30, "the resolution")
    first = next(
        s.at for s in fake_statuspage.requests() if s.at > killed and s.node != leader.name
    )
    bound = LEASE + TIMEOUT + INTERVAL + 1.0  # + a tick and the renewal's pace
    assert first - killed < bound + 2.0, f"took over in {first - killed:.1f} s"
    assert [i["id"] for i in ours(fake_statuspage)] == [incident["id"]]
    assert fake_statuspage.component(remote_id)["status"] == "operational"
    survivors = [n for n in nodes if n is not leader]
    new = leader_of(survivors)
    assert requests_from(fake_statuspage, new.name) > 0
    assert requests_from(fake_statuspage, leader.name, after=killed) == 0


def test_a_leader_paused_past_its_lease_is_fenced_when_it_resumes(
    tmp_path: Path,
    target: Target,
    fake_statuspage: FakeStatuspage,
    daemons: Callable[..., DaemonProcess],
    pg_url: str,
) -> None:
    remote_id = fake_statuspage.add_component("Payment API")
    nodes = start_nodes(tmp_path, 3, daemons, pg_url, target, fake_statuspage, remote_id)
    old = leader_of(nodes)
    outage(fake_statuspage, target)
    old.daemon.signal(signal.SIGSTOP)
    try:
        target.set("/pay", status=200)
        wait_for(lambda: ours(fake_statuspage)[0]["status"] == "resolved", 30, "the resolution")
        new = leader_of([n for n in nodes if n is not old])
        epoch = query(pg_url, "SELECT epoch FROM lease")[0][0]
        writes_before = query(pg_url, "SELECT count(*) FROM transitions")[0][0]
        # the page changes while the old leader sleeps: it still believes in an outage
        target.set("/pay", status=500)
        wait_for(lambda: len(ours(fake_statuspage)) == 2, 20, "a second incident")
        resumed = fake_statuspage.clock()
    finally:
        old.daemon.signal(signal.SIGCONT)
    wait_for(lambda: "is no longer the leader" in old.daemon.log, 15, "the old leader to step down")
    target.set("/pay", status=200)
    wait_for(lambda: ours(fake_statuspage)[1]["status"] == "resolved", 30, "the 2nd resolution")
    assert requests_from(fake_statuspage, old.name, after=resumed) == 0
    assert leader_of(nodes) is new
    stale = query(
        pg_url, "SELECT count(*) FROM transitions WHERE id > $1 AND epoch < $2", 0, epoch
    )[0][0]
    written = query(pg_url, "SELECT count(*) FROM transitions")[0][0]
    assert written > writes_before
    # nothing was written under the old epoch after the new one began
    assert (
        stale
        == query(
            pg_url,
            "SELECT count(*) FROM transitions WHERE epoch < $1 AND id <= $2",
            epoch,
            writes_before,
        )[0][0]
    )
    assert [i["status"] for i in ours(fake_statuspage)] == ["resolved", "resolved"]


@pytest.fixture
def server() -> Iterator[PostgresServer]:
    from .conftest import require_postgres

    require_postgres()
    with PostgresServer() as pg:
        pg.start()
        yield pg


def test_postgres_stopped_for_30_s_mid_outage_loses_and_doubles_nothing(
    tmp_path: Path,
    target: Target,
    fake_statuspage: FakeStatuspage,
    daemons: Callable[..., DaemonProcess],
    server: PostgresServer,
) -> None:
    remote_id = fake_statuspage.add_component("Payment API")
    nodes = start_nodes(tmp_path, 3, daemons, server.url, target, fake_statuspage, remote_id)
    leader_of(nodes)
    outage(fake_statuspage, target)
    server.stop("fast")
    stopped = fake_statuspage.clock()
    try:
        for node in nodes:
            wait_for(
                lambda node=node: "cluster database unreachable" in node.healthz()[1],
                15,
                f"{node.name}'s /healthz to say why",
            )
            assert node.healthz()[0] == 503
            assert node.status()["cluster"]["error"]
        wait_for(lambda: all(not n.is_leader() for n in nodes), 15, "no leader")
        results = [count_rows(n.folder / "monitor.db") for n in nodes]
        target.set("/pay", status=200)  # recovers while the database is away
        wait_for(
            lambda: all(
                count_rows(n.folder / "monitor.db") > r + 3
                for n, r in zip(nodes, results, strict=True)
            ),
            20,
            "every node to keep probing and recording",
        )
        time.sleep(max(0.0, 30 - (fake_statuspage.clock() - stopped)))  # the outage lasts 30 s
        assert requests_after(fake_statuspage, stopped) == 0
    finally:
        server.start()
    wait_for(lambda: ours(fake_statuspage)[0]["status"] == "resolved", 30, "the resolution")
    wait_for(lambda: all(n.healthz()[0] == 200 for n in nodes), 15, "healthy again")
    assert len(ours(fake_statuspage)) == 1
    assert fake_statuspage.component(remote_id)["status"] == "operational"
    outbox = query(server.url, "SELECT state, count(*) FROM outbox GROUP BY state")
    assert dict(outbox) == {1: 2}  # the outage and its recovery, each delivered once


def requests_after(fake: FakeStatuspage, moment: float) -> int:
    return sum(1 for seen in fake.requests() if seen.at > moment)


def test_a_leader_cut_from_postgres_steps_down_and_another_takes_over(
    tmp_path: Path,
    target: Target,
    fake_statuspage: FakeStatuspage,
    daemons: Callable[..., DaemonProcess],
    server: PostgresServer,
) -> None:
    remote_id = fake_statuspage.add_component("Payment API")
    with FaultProxy("127.0.0.1", server.port) as proxy:
        cut_off = server.url_for("monitor", proxy.port)
        # node-a reaches the database only through the proxy, and leads: it starts first
        nodes = start_nodes(tmp_path, 1, daemons, cut_off, target, fake_statuspage, remote_id)
        assert leader_of(nodes) is nodes[0]
        nodes += start_nodes(
            tmp_path, 2, daemons, server.url, target, fake_statuspage, remote_id, first=1
        )
        outage(fake_statuspage, target)
        proxy.blackhole()
        cut = fake_statuspage.clock()
        wait_for(lambda: not nodes[0].is_leader(), 10, "node-a to step down")
        new = leader_of(nodes[1:])
        target.set("/pay", status=200)
        wait_for(lambda: ours(fake_statuspage)[0]["status"] == "resolved", 30, "the resolution")
        assert requests_from(fake_statuspage, "node-a", after=cut + LEASE) == 0
        assert requests_from(fake_statuspage, new.name, after=cut) > 0
        code, text = nodes[0].healthz()
        assert code == 503 and "cluster database unreachable" in text
        proxy.pass_()
        wait_for(lambda: nodes[0].healthz()[0] == 200, 20, "node-a back")
        assert leader_of(nodes) is new  # it does not take the lease back
        assert len(ours(fake_statuspage)) == 1


def test_random_kills_and_pauses_during_flapping_leave_the_page_equal_to_the_shared_state(
    tmp_path: Path,
    target: Target,
    fake_statuspage: FakeStatuspage,
    daemons: Callable[..., DaemonProcess],
    pg_url: str,
) -> None:
    import random

    seed = random.randrange(1 << 32)
    rng = random.Random(seed)
    remote_id = fake_statuspage.add_component("Payment API")
    nodes = start_nodes(tmp_path, 3, daemons, pg_url, target, fake_statuspage, remote_id)
    leader_of(nodes)
    paused: dict[str, float] = {}  # node -> when to SIGCONT it
    killed: dict[str, float] = {}  # node -> when to start it again
    flip_at, failing = time.monotonic() + rng.uniform(2, 5), False
    faults = 0
    next_fault = time.monotonic() + 1.0
    while faults < 20 or paused or killed:
        now = time.monotonic()
        if now >= flip_at and faults < 20:
            failing = not failing
            target.set("/pay", status=500 if failing else 200)
            flip_at = now + rng.uniform(2, 6)
        for node in nodes:
            if node.name in paused and now >= paused[node.name]:
                node.daemon.signal(signal.SIGCONT)
                del paused[node.name]
            if node.name in killed and now >= killed[node.name]:
                restart(node, daemons, pg_url)
                del killed[node.name]
        if faults < 20 and now >= next_fault:
            up = [n for n in nodes if n.name not in paused and n.name not in killed]
            if len(up) > 1:  # one node at least keeps going
                victim = rng.choice(up)
                if rng.random() < 0.5:
                    victim.daemon.signal(signal.SIGKILL)
                    victim.daemon.wait(10)
                    killed[victim.name] = now + rng.uniform(0.5, 3)
                else:
                    victim.daemon.signal(signal.SIGSTOP)
                    paused[victim.name] = now + rng.uniform(0.5, LEASE * 2.5)
                faults += 1
            next_fault = now + rng.uniform(0.5, 2.5)
        time.sleep(0.05)
    target.set("/pay", status=200)
    wait_for(
        lambda: (
            fake_statuspage.component(remote_id)["status"] == "operational"
            and all(i["status"] == "resolved" for i in ours(fake_statuspage))
        ),
        40,
        f"the page to settle (seed {seed})",
    )
    (status,) = query(pg_url, "SELECT status FROM component_state WHERE component = 'payments'")
    assert status[0] == fake_statuspage.component(remote_id)["status"], seed
    outages = query(
        pg_url,
        "SELECT count(*) FROM transitions WHERE check_key IS NULL AND before = 'operational' "
        "AND after <> 'under_maintenance'",
    )[0][0]
    assert outages >= 1, f"no outage was judged (seed {seed})"
    assert len(ours(fake_statuspage)) == outages, f"one incident per outage (seed {seed})"
    pending = query(pg_url, "SELECT count(*) FROM outbox WHERE state = 0")[0][0]
    assert pending == 0, seed


def test_the_leader_killed_after_the_page_took_its_post_leaves_one_incident(
    tmp_path: Path,
    target: Target,
    fake_statuspage: FakeStatuspage,
    daemons: Callable[..., DaemonProcess],
    pg_url: str,
) -> None:
    """The page created the incident, the leader died before recording it: the next leader
    finds it on the page by its marker and carries on with it."""
    remote_id = fake_statuspage.add_component("Payment API")
    nodes = start_nodes(tmp_path, 3, daemons, pg_url, target, fake_statuspage, remote_id)
    leader = leader_of(nodes)
    fake_statuspage.hang_next(1, accept=True, method="POST", path="*/incidents")
    target.set("/pay", status=500)
    fake_statuspage.wait_held(1, timeout=20)
    leader.daemon.signal(signal.SIGKILL)
    leader.daemon.wait(10)
    fake_statuspage.release()
    assert len(ours(fake_statuspage)) == 1  # the page has it; nobody recorded it
    target.set("/pay", status=200)
    wait_for(lambda: ours(fake_statuspage)[0]["status"] == "resolved", 30, "the resolution")
    assert len(ours(fake_statuspage)) == 1
    new = leader_of([n for n in nodes if n is not leader])
    assert "adopting incident" in new.daemon.log
