"""Cluster mode: how long a failover takes, and what cluster mode costs per probe.

Both parts run the real `monitor run` against a real PostgreSQL server (tests/postgres.py: a
throwaway server of the benchmark's own, as the `postgres` user under root) and the target of
the other benchmarks (bench/target.py). Run it from the repository root (it imports tests.*).

failover: three nodes (lease --leases, 1 s interval, fail_after = recover_after = 2, as in
tests/cluster_helpers.py) publish to a fresh fake Statuspage (tests/fake_statuspage.py) and a
fresh database each run. The target fails; once the leader has published the incident (it is
on the page and the shared outbox has nothing pending), the target recovers and, at the same
moment, the leader is killed with SIGKILL. Measured from the kill, on the fake page's clock
(`Seen.at`, `Seen.node` = X-Monitor-Node):
- first request: the next request from another node (the new leader's reconcile);
- resolved: the request that resolved the incident.
Against the bound lease + lock delay (the publisher timeout, lease/3, that a new leader waits
for requests the last one may have had in flight) + one probe interval + one tick, and the
protocol's worst case for the first request: lease + one campaign period (lease/5: a standby
sees the lease expired only when it next tries to take it) + lock delay. Each run
also checks that the page got exactly one incident, created once, resolved, and the component
back to operational; a line starting with "BUG" says what was not so, with the nodes' logs.

cost: one `monitor run` with --checks http checks every second (no publisher), alone and then
the same config with `[cluster]` (one node, leader of itself, a fresh database), over the same
--duration window each, --rounds times alternately. CPU is utime + stime from /proc of the
daemon, and of every process of the PostgreSQL server (the postmaster, its children, and
the children it reaped), per probe that reached the target in the window.

    python bench/cluster.py                     # both: 10 failovers at lease 2s; 200 checks, 2 x 20 s each
    python bench/cluster.py failover --runs 3 --leases 2s,15s
    python bench/cluster.py cost --checks 1000 --duration 30 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import (
    CLK_TCK,
    ROOT,
    Daemon,
    Target,
    cpu_seconds,
    free_port,
    http_get,
    monitor_config,
    paths,
    percentile,
    print_table,
    save,
    stop,
    wait_for,
)

sys.path.insert(0, str(ROOT))
from tests.fake_statuspage import FakeStatuspage  # noqa: E402
from tests.postgres import PostgresServer  # noqa: E402

KEY_ENV = "BENCH_STATUSPAGE_KEY"
URL_ENV = "BENCH_DATABASE_URL"
INTERVAL = 1.0
NODES = ("node-a", "node-b", "node-c")


def seconds(text: str) -> float:
    return float(text.rstrip("s"))


# -- failover ------------------------------------------------------------------------------


def node_config(
    folder: Path, name: str, url: str, fake: FakeStatuspage, remote_id: str, lease: str
) -> Path:
    """tests/cluster_helpers.py's node, on the benchmark's target."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "checks.toml"
    path.write_text(
        f"""[monitor]
database = "monitor.db"
listen = "127.0.0.1:{free_port()}"
[defaults]
interval = "{INTERVAL:g}s"
timeout = "0.8s"
fail_after = 2
recover_after = 2
[publisher]
type = "statuspage"
url = "{fake.url}"
page_id = "page1"
api_key_env = "{KEY_ENV}"
rate_limit = 50
monitoring_for = "0s"
[cluster]
database_env = "{URL_ENV}"
node = "{name}"
lease = "{lease}"
[[component]]
name = "Payment API"
id = "payments"
remote_id = "{remote_id}"
  [[component.check]]
  type = "http"
  name = "healthz"
  url = "{url}"
"""
    )
    return path


def ours(fake: FakeStatuspage) -> list[dict[str, Any]]:
    return [i for i in fake.incidents() if i.get("metadata")]


def pending(pg: PostgresServer, database: str) -> int:
    """Outbox entries the leaders have not delivered yet."""
    return int(pg.psql("SELECT count(*) FROM outbox WHERE state = 0", database).strip() or 0)


def recorded(pg: PostgresServer, database: str) -> int:
    return int(pg.psql("SELECT count(*) FROM published_incidents", database).strip() or 0)


@dataclass
class Bounds:
    lease: float
    timeout: float  # the publisher's, lease / 3: the new leader's wait
    tick: float

    @property
    def total(self) -> float:
        return self.lease + self.timeout + INTERVAL + self.tick

    @property
    def campaign(self) -> float:
        """How often a standby tries to take the lease: it sees an expired lease only then."""
        return self.lease / 5

    @property
    def takeover(self) -> float:
        """The protocol's worst case for the new leader's first request: the lease ran its
        full term, the standbys' next campaign came a whole period later, then the wait."""
        return self.lease + self.campaign + self.timeout

    @classmethod
    def of(cls, lease: float) -> Bounds:
        return cls(lease, min(10.0, lease / 3), min(1.0, lease / 10))


def failover_run(
    n: int, work: Path, pg: PostgresServer, target: Target, lease: str
) -> dict[str, object]:
    bounds = Bounds.of(seconds(lease))
    fake = FakeStatuspage().start()
    database_url = pg.fresh_database()
    database = database_url.rsplit("/", 1)[1]
    remote_id = fake.add_component("Payment API")
    path = f"/pay{n}"
    nodes: dict[str, Daemon] = {}
    row: dict[str, object] = {"lease": lease, "run": n}
    problems: list[str] = []
    try:
        env = {**os.environ, KEY_ENV: fake.api_key, URL_ENV: database_url}
        for name in NODES:
            config = node_config(work / name, name, target.url(path), fake, remote_id, lease)
            nodes[name] = Daemon(config, env=env)
        for daemon in nodes.values():
            daemon.wait_started(60)
        # a leader has started publishing: its reconcile reached the page
        wait_for(lambda: fake.requests(), 30 + 2 * bounds.total, "a leader's first request")
        http_get(target.url(f"/_control?fail={path}"))
        wait_for(lambda: ours(fake), 30 + bounds.total, "the incident on the page")
        wait_for(
            lambda: pending(pg, database) == 0 and recorded(pg, database) == 1,
            30,
            "the outbox drained and the incident recorded",
        )
        posts = fake.requests("POST", "*/incidents")
        leader = posts[0].node
        assert leader in nodes, f"the incident came from {leader!r}"
        # the target recovers and the leader dies at the same moment
        http_get(target.url(f"/_control?ok={path}"))
        killed = time.monotonic()
        os.kill(nodes[leader].pid, signal.SIGKILL)
        nodes[leader].proc.wait(10)

        def resolved() -> list[Any]:
            return [
                s
                for s in fake.requests("PATCH", "*/incidents/*")
                if s.at >= killed and (s.json or {}).get("incident", {}).get("status") == "resolved"
            ]

        try:
            wait_for(resolved, 30 + 3 * bounds.total, "the incident's resolution")
            # whatever was decided is delivered: no late second incident goes unseen
            wait_for(lambda: pending(pg, database) == 0, 30, "the outbox drained")
        except SystemExit as exc:
            problems.append(str(exc))
        after = [s for s in fake.requests() if s.at >= killed and s.node != leader]
        first = after[0] if after else None
        done = resolved()
        row |= {
            "killed": leader,
            "new_leader": first.node if first else None,
            "first_request_s": first.at - killed if first else float("nan"),
            "first_request": f"{first.method} {first.path.split('/', 3)[-1]}" if first else None,
            "resolved_s": done[0].at - killed if done else float("nan"),
            "bound_s": bounds.total,
            "takeover_bound_s": bounds.takeover,
        }
        incidents = ours(fake)
        creations = fake.requests("POST", "*/incidents")
        if len(incidents) != 1 or len(creations) != 1:
            problems.append(
                f"{len(incidents)} incidents on the page, {len(creations)} created "
                f"(from {[s.node for s in creations]})"
            )
        if not incidents or any(i["status"] != "resolved" for i in incidents):
            problems.append(f"incident statuses at the end: {[i['status'] for i in incidents]}")
        if fake.component(remote_id)["status"] != "operational":
            problems.append(f"component at the end: {fake.component(remote_id)['status']}")
        if first is not None and first.at - killed > bounds.takeover:
            problems.append(
                f"first request {first.at - killed:.2f} s after the kill, later than the "
                f"protocol allows ({bounds.takeover:.2f} s)"
            )
        if done and done[0].at - killed > bounds.total + bounds.campaign:
            problems.append(
                f"resolved {done[0].at - killed:.2f} s after the kill, later than the bound "
                f"plus a campaign period ({bounds.total + bounds.campaign:.2f} s)"
            )
        row["ok"] = not problems
    finally:
        live = [d for d in nodes.values() if d.proc.poll() is None]
        for daemon in live:
            daemon.proc.send_signal(signal.SIGTERM)
        for daemon in live:
            stop(daemon.proc, 30)
        fake.stop()
    if problems:
        print(f"BUG in run {n} (lease {lease}): " + "; ".join(problems), flush=True)
        for name, daemon in nodes.items():
            print(f"  --- {name} ({daemon.log}):")
            for line in daemon.log.read_text(errors="replace").splitlines():
                if any(w in line for w in ("leader", "lease", "incident", "ERROR", "WARNING")):
                    print(f"  {line}")
        row["problems"] = problems
    return row


def failover(work: Path, pg: PostgresServer, leases: list[str], runs: int) -> dict[str, object]:
    target = Target(work, workers=1)  # /_control is per process
    rows: list[dict[str, object]] = []
    summary: dict[str, object] = {}
    try:
        for lease in leases:
            bounds = Bounds.of(seconds(lease))
            print(
                f"== failover, lease {lease}: bound {bounds.total:.2f} s = lease {bounds.lease:g} "
                f"+ lock delay (publisher timeout) {bounds.timeout:.2f} + interval {INTERVAL:g} "
                f"+ tick {bounds.tick:g}; the protocol's worst case for the first request: "
                f"lease + campaign period {bounds.campaign:g} + lock delay = "
                f"{bounds.takeover:.2f} s",
                flush=True,
            )
            these = []
            for n in range(runs):
                row = failover_run(n, work / f"lease{lease}-{n}", pg, target, lease)
                these.append(row)
                print(
                    f"run {n}: killed {row.get('killed')}, {row.get('new_leader')} sent "
                    f"{row.get('first_request')} after {row.get('first_request_s', float('nan')):.2f} s, "
                    f"resolved after {row.get('resolved_s', float('nan')):.2f} s"
                    f"{'' if row.get('ok') else '  <- see BUG above'}",
                    flush=True,
                )
            rows += these
            summary[lease] = {
                key: {
                    "p50": percentile([float(r[key]) for r in these], 50),  # type: ignore[arg-type]
                    "max": max(float(r[key]) for r in these),  # type: ignore[arg-type]
                }
                for key in ("first_request_s", "resolved_s")
            } | {
                "bound_s": bounds.total,
                "takeover_bound_s": bounds.takeover,
                "runs": len(these),
                "ok": sum(bool(r["ok"]) for r in these),
            }
    finally:
        target.stop()
    print()
    print_table(
        rows,
        [
            ("lease", "lease"),
            ("run", "run"),
            ("killed", "killed"),
            ("new_leader", "new leader"),
            ("first_request_s", "first request s"),
            ("resolved_s", "resolved s"),
            ("takeover_bound_s", "worst case s"),
            ("bound_s", "bound s"),
            ("ok", "one incident, resolved"),
        ],
    )
    for lease, s in summary.items():
        first, done = s["first_request_s"], s["resolved_s"]  # type: ignore[index]
        print(
            f"lease {lease}: first request from another node p50 {first['p50']:.2f} s, max "
            f"{first['max']:.2f} s; resolved p50 {done['p50']:.2f} s, max {done['max']:.2f} s; "
            f"worst case {s['takeover_bound_s']:.2f} s, bound {s['bound_s']:.2f} s; {s['ok']} of {s['runs']} runs with exactly one "  # type: ignore[index]
            "incident, resolved",
            flush=True,
        )
    return {"rows": rows, "summary": summary}


# -- cost ----------------------------------------------------------------------------------


def server_cpu_seconds(postmaster: int) -> float:
    """utime + stime of the PostgreSQL server: the postmaster, its live children (backends and
    background workers; each is its own process group, so they are found by parent), and the
    children it has reaped (cutime + cstime): a backend that exits keeps counting."""
    try:
        fields = Path(f"/proc/{postmaster}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return cpu_seconds(postmaster) + (int(fields[13]) + int(fields[14])) / CLK_TCK


def arrivals_in(arrivals: dict[str, list[float]], begin: float, end: float) -> int:
    return sum(1 for times in arrivals.values() for t in times if begin <= t < end)


def cost_run(
    work: Path, pg: PostgresServer, target: Target, checks: int, duration: float, cluster: bool
) -> dict[str, object]:
    work.mkdir(parents=True, exist_ok=True)
    listen = f"127.0.0.1:{free_port()}"
    config = monitor_config(
        work, (target.url(p) for p in paths(checks)), interval=INTERVAL, timeout=0.8, listen=listen
    )
    env = dict(os.environ)
    if cluster:
        env[URL_ENV] = pg.fresh_database()
        with config.open("a") as file:
            file.write(f'[cluster]\ndatabase_env = "{URL_ENV}"\nnode = "solo"\n')
    daemon = Daemon(config, env=env)
    try:
        daemon.wait_started(60)
        if cluster:  # the leader's work (judging, the shared writes) is part of the cost
            wait_for(
                lambda: b"monitor_cluster_leader 1.0" in http_get(f"http://{listen}/metrics"),
                60,
                "the node to lead",
            )
        time.sleep(2 * INTERVAL)  # warm-up: every check probed, every report pushed once
        begin = time.time()
        ours0, pg0 = cpu_seconds(daemon.pid), server_cpu_seconds(pg.pid or 0)
        time.sleep(duration)
        ours1, pg1 = cpu_seconds(daemon.pid), server_cpu_seconds(pg.pid or 0)
        end = time.time()
        load = os.getloadavg()[0]  # others on the machine make the CPU per probe noisy
    finally:
        stop(daemon.proc)
    return {
        "mode": "cluster" if cluster else "single",
        "begin": begin,
        "end": end,
        "daemon_cpu_s": ours1 - ours0,
        "postgres_cpu_s": pg1 - pg0,
        "load1": load,
    }


def cost(
    work: Path, pg: PostgresServer, checks: int, duration: float, rounds: int
) -> dict[str, object]:
    print(
        f"== cost: {checks} checks every {INTERVAL:g} s, {duration:g} s windows, {rounds} "
        "round(s) of single then cluster (lease 15s, the default)",
        flush=True,
    )
    target = Target(work)
    rows = []
    try:
        for r in range(rounds):
            for cluster in (False, True):
                row = cost_run(work / f"cost-{r}-{cluster}", pg, target, checks, duration, cluster)
                row["round"] = r
                rows.append(row)
    finally:
        arrivals = target.stop()
    for row in rows:
        probes = arrivals_in(arrivals, float(row["begin"]), float(row["end"]))  # type: ignore[arg-type]
        row["probes"] = probes
        row["daemon_ms_per_probe"] = float(row["daemon_cpu_s"]) * 1000 / max(1, probes)  # type: ignore[arg-type]
        row["postgres_ms_per_probe"] = float(row["postgres_cpu_s"]) * 1000 / max(1, probes)  # type: ignore[arg-type]
        row["total_ms_per_probe"] = row["daemon_ms_per_probe"] + row["postgres_ms_per_probe"]  # type: ignore[operator]
    print()
    print_table(
        rows,
        [
            ("round", "round"),
            ("mode", "mode"),
            ("probes", "probes"),
            ("daemon_ms_per_probe", "daemon CPU ms/probe"),
            ("postgres_ms_per_probe", "PostgreSQL CPU ms/probe"),
            ("total_ms_per_probe", "total ms/probe"),
            ("load1", "load avg 1 min"),
        ],
    )

    def mean(mode: str, key: str) -> float:
        values = [float(r[key]) for r in rows if r["mode"] == mode]  # type: ignore[arg-type]
        return sum(values) / len(values)

    summary = {
        mode: {
            key: mean(mode, key)
            for key in ("daemon_ms_per_probe", "postgres_ms_per_probe", "total_ms_per_probe")
        }
        for mode in ("single", "cluster")
    }
    single, clustered = summary["single"], summary["cluster"]
    summary["ratio"] = {
        "daemon": clustered["daemon_ms_per_probe"] / single["daemon_ms_per_probe"],
        "with_postgres": clustered["total_ms_per_probe"] / single["total_ms_per_probe"],
    }
    print(
        f"single: {single['daemon_ms_per_probe']:.3f} ms/probe (PostgreSQL idle: "
        f"{single['postgres_ms_per_probe']:.3f}); cluster: daemon {clustered['daemon_ms_per_probe']:.3f} "
        f"+ PostgreSQL {clustered['postgres_ms_per_probe']:.3f} = {clustered['total_ms_per_probe']:.3f} "
        f"ms/probe; cluster/single: daemon {summary['ratio']['daemon']:.2f}x, with PostgreSQL "
        f"{summary['ratio']['with_postgres']:.2f}x",
        flush=True,
    )
    return {"checks": checks, "duration_s": duration, "rows": rows, "summary": summary}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", nargs="?", choices=("all", "failover", "cost"), default="all")
    parser.add_argument("--runs", type=int, default=10, help="failovers per lease")
    parser.add_argument("--leases", default="2s", help="comma-separated, e.g. 2s,15s")
    parser.add_argument("--checks", type=int, default=200, help="cost: checks every second")
    parser.add_argument("--duration", type=float, default=20.0, help="cost: window per mode, s")
    parser.add_argument("--rounds", type=int, default=2, help="cost: single/cluster pairs")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="monitor-cluster-"))
    data: dict[str, object] = {"cpus": len(os.sched_getaffinity(0))}
    with PostgresServer() as pg:
        if args.part in ("all", "failover"):
            data["failover"] = failover(work, pg, args.leases.split(","), args.runs)
            print()
        if args.part in ("all", "cost"):
            data["cost"] = cost(work, pg, args.checks, args.duration, args.rounds)
    print(f"json: {save('cluster', data, args.json)}; work folder {work}")


if __name__ == "__main__":
    main()
