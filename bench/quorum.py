"""False incidents from network faults: one probe location against three with a quorum of two.

A deterministic simulation over the project's own pure rules: no network, no sleeps, no clock.
The target is healthy the whole time, so every incident in the first scenario is false. One
http check with the shipped defaults (built by the real config parser: interval 30 s,
fail_after 3, recover_after 2, flaky and flap damping as documented) is probed from --locations
locations for --days days. Each location's probe fails on its own with --fail-rate, and each
location is cut off now and then (a Poisson process, --cuts-per-day per location, each cut
--cut-min to --cut-max minutes, every probe of the location failing meanwhile). Each location
probes at its own random phase of the interval.

The second scenario is the same trace (the same seed gives the same faults) plus --outages real
outages of --outage-min to --outage-max minutes, during which every location's probes fail.

Each trace is replayed through:
- 1 location: the first location's probes through `StatusEngine.observe` (a single daemon);
- N locations, quorum Q: every location's own hysteresis (`step_check`, `Thresholds.of`), at
  each probe the leader's `decide_all` (stale_after by `stale_after_of`) and
  `StatusEngine.set_checks`, as `monitor/cluster/leader.py` does every second (taken again
  only when a location's state or freshness changed; --every-probe: at every probe).
The component's transitions then go through the incident `Planner` (monitoring_for 10 min, the
default) as the delivery worker would send them to a page that always answers; an incident is
a create. With --fake-page they also go through the real `Delivery` and Statuspage provider to
the fake Statuspage of the tests (tests/fake_statuspage.py, on loopback) on a simulated clock,
and the incidents on that page are counted. Run it from the repository root.

An outage of the component or an incident is "false" when it overlaps no real outage. A real
outage is detected when the component is in an outage status at some time within it; the delay
is from its start to the first such time.

    python bench/quorum.py                              # 5 seeds x 7 days, both scenarios, ~10 s
    python bench/quorum.py --fake-page                  # also through Delivery to a fake page
    python bench/quorum.py --seeds 10 --days 28 --fail-rate 0.05 --cuts-per-day 4
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from statistics import fmean
from typing import Any

from common import ROOT, print_table, save

sys.path.insert(0, str(ROOT))
from monitor.cluster.votes import Report, decide_all, stale_after_of  # noqa: E402
from monitor.config.loader import parse_config, parse_toml  # noqa: E402
from monitor.delivery import Delivery  # noqa: E402
from monitor.engine import StatusEngine  # noqa: E402
from monitor.incidents import (  # noqa: E402
    IncidentStatus,
    Kind,
    Pending,
    Planner,
    Remote,
    Target,
)
from monitor.model import Component, ErrorKind, Outcome, ProbeResult, check_key  # noqa: E402
from monitor.publishers.base import RateLimiter  # noqa: E402
from monitor.publishers.statuspage import StatuspageProvider  # noqa: E402
from monitor.state import (  # noqa: E402
    OUTAGE,
    CheckStatus,
    ComponentStatus,
    ComponentTransition,
    Status,
    Thresholds,
    step_check,
)

DAY = 86400.0
WEEK = 7 * DAY
START = 1_767_225_600.0  # 2026-01-01 00:00 UTC: a fixed, past start, so every run is the same
OK = ProbeResult(Outcome.OK, 0.05, status_code=200)
FAIL = ProbeResult.failed(ErrorKind.TIMEOUT, "timeout after 10.0 s", 10.0)
NAMES = ("eu-west", "us-east", "ap-south", "us-west", "eu-north", "sa-east", "af-south")
Span = tuple[float, float]


@dataclass(frozen=True)
class Faults:
    days: float
    interval: float
    fail_rate: float
    cuts_per_day: float
    cut_min: float  # minutes
    cut_max: float
    outages: int
    outage_min: float  # minutes
    outage_max: float


@dataclass
class Trace:
    """Which probe of which location fails. `probes[i]` is location i's (time, failed) list."""

    end: float
    probes: list[list[tuple[float, bool]]]
    cuts: list[list[Span]]
    outages: list[Span]

    def events(self, locations: int) -> list[tuple[float, int, bool]]:
        """The first `locations` locations' probes, in time order: (time, location, failed)."""
        merged = [(t, i, failed) for i in range(locations) for t, failed in self.probes[i]]
        return sorted(merged)


def config(interval: float, locations: Sequence[str], quorum: int) -> tuple[Component, float]:
    """The component and `monitoring_for` as the real config parser makes them from a
    checks.toml that sets only the interval, the locations and the quorum: the rest is the
    shipped defaults."""
    quoted = ", ".join(f'"{name}"' for name in locations)
    text = f"""
[defaults]
interval = "{interval:g}s"
timeout = "{min(10.0, interval):g}s"
[cluster]
database_env = "UNUSED_HERE"
location = "{locations[0]}"
[[component]]
name = "API"
id = "api"
locations = [{quoted}]
quorum = {quorum}
[[component.check]]
type = "http"
name = "healthz"
url = "https://api.example.com/healthz"
"""
    parsed = parse_config(parse_toml(text.encode()), Path("quorum.toml"))
    return parsed.components[0], parsed.publisher.monitoring_for


def spans(rng: random.Random, end: float, per_day: float, low: float, high: float) -> list[Span]:
    """A Poisson process of `per_day` spans a day, each `low` to `high` minutes long."""
    out: list[Span] = []
    t = START
    while per_day > 0:
        t += rng.expovariate(per_day / DAY)
        if t >= end:
            break
        out.append((t, t + rng.uniform(low, high) * 60))
    return out


def real_outages(rng: random.Random, end: float, faults: Faults) -> list[Span]:
    """`faults.outages` outages apart from each other and from the ends by at least an hour."""
    out: list[Span] = []
    for _ in range(10_000):
        if len(out) == faults.outages:
            return sorted(out)
        begin = rng.uniform(START + 3600, end - 3600 - faults.outage_max * 60)
        span = (begin, begin + rng.uniform(faults.outage_min, faults.outage_max) * 60)
        if all(span[0] > b + 3600 or span[1] < a - 3600 for a, b in out):
            out.append(span)
    raise SystemExit(f"cannot place {faults.outages} outages an hour apart in {faults.days} days")


def inside(t: float, where: Sequence[Span]) -> bool:
    return any(a <= t < b for a, b in where)


def make_trace(seed: int, faults: Faults, locations: int, with_outages: bool) -> Trace:
    """The seed alone decides the faults; the outages come from a stream of their own, so both
    scenarios of a seed share every fault."""
    rng = random.Random(f"faults-{seed}")
    end = START + faults.days * DAY
    rounds = int(faults.days * DAY // faults.interval)
    outages = []
    if with_outages:
        outages = real_outages(random.Random(f"outages-{seed}"), end, faults)
    probes, cuts = [], []
    for _ in range(locations):
        phase = rng.uniform(0, faults.interval)
        cut = spans(rng, end, faults.cuts_per_day, faults.cut_min, faults.cut_max)
        times = [START + phase + k * faults.interval for k in range(rounds)]
        fails = [rng.random() < faults.fail_rate for _ in times]
        probes.append(
            [
                (t, random_fail or inside(t, cut) or inside(t, outages))
                for t, random_fail in zip(times, fails, strict=True)
            ]
        )
        cuts.append(cut)
    return Trace(end, probes, cuts, outages)


def replay_one(component: Component, trace: Trace) -> list[ComponentTransition]:
    """A single daemon probing from the first location."""
    key = check_key(component, component.checks[0])
    engine = StatusEngine([component], START)
    out = []
    for t, _, failed in trace.events(1):
        for change in engine.observe(key, FAIL if failed else OK, t):
            if change.check is None:
                assert isinstance(change.transition, ComponentTransition)
                out.append(change.transition)
    return out


def replay_quorum(
    component: Component, trace: Trace, stale_after: float | None, every_probe: bool = False
) -> list[ComponentTransition]:
    """Every location's hysteresis, the leader's vote at each probe, the engine's judgment.

    The vote is taken again only when a location's state or freshness changed since the last
    one (unless `every_probe`): the decided state depends on nothing else, and taking it at
    every probe makes the default run five times longer for the same transitions."""
    assert component.locations is not None
    check = component.checks[0]
    key = check_key(component, check)
    th = Thresholds.of(check)
    stale = stale_after_of(check.interval, stale_after)
    names = component.locations
    states = {name: CheckStatus(since=START) for name in names}
    engine = StatusEngine([component], START)
    out = []
    voted_on: tuple[object, ...] = ()
    for t, i, failed in trace.events(len(names)):
        name = names[i]
        states[name], _ = step_check(states[name], FAIL if failed else OK, t, th)
        seen = tuple(
            (s.state, s.last_at is not None and t - s.last_at <= stale) for s in states.values()
        )
        if seen == voted_on and not every_probe:
            continue
        voted_on = seen
        reports = [(key, Report(f"node-{loc}", loc, states[loc])) for loc in names]
        decisions = decide_all(reports, [component], now=t, stale_after=stale_after)
        decided = {k: d.status for k, d in decisions.items() if d.status is not None}
        why = {k: d.reason for k, d in decisions.items()}
        for change in engine.set_checks(decided, t, why):
            if change.check is None:
                assert isinstance(change.transition, ComponentTransition)
                out.append(change.transition)
    return out


def not_operational(transitions: Sequence[ComponentTransition], end: float) -> list[Span]:
    """The spans the component was in an outage status (degraded, partial or major: `OUTAGE`,
    what the page makes an incident of); an open one ends at `end`."""
    out: list[Span] = []
    began: float | None = None
    for tr in transitions:
        if tr.after in OUTAGE and began is None:  # the page's rule: this opens an incident
            began = tr.at
        elif tr.after not in OUTAGE and began is not None:
            out.append((began, tr.at))
            began = None
    if began is not None:
        out.append((began, end))
    return out


def overlaps(span: Span, others: Sequence[Span]) -> bool:
    return any(span[0] <= b and span[1] >= a for a, b in others)


def page_incidents(
    transitions: Sequence[ComponentTransition], planner: Planner, target: Target, end: float
) -> list[Span]:
    """The incidents a page that always answers gets: the Planner's actions applied at once, as
    the delivery worker applies them (`Delivery._send`), each transition delivered when it is
    made, and each monitoring period ended at its deadline. Returns (start, resolved) spans."""
    remote = Remote()
    pending: list[Pending] = []
    opened: dict[str, float] = {}  # incident id -> start
    out: list[Span] = []
    made = 0

    def drain(now: float) -> None:
        nonlocal remote, pending, made
        for _ in range(1000):
            action = planner.plan(target, remote, pending, now)
            if action is None:
                return
            after = action.after
            request = action.request
            if action.kind is Kind.CREATE and request is not None:
                if request.backfill_date is not None:
                    out.append((request.backfill_date, now))
                else:
                    made += 1
                    incident = f"i{made}"
                    opened[incident] = now
                    after = replace(after, incident_id=incident)
            elif (
                action.kind is Kind.UPDATE
                and request is not None
                and request.status is IncidentStatus.RESOLVED
                and action.incident_id in opened
            ):
                out.append((opened.pop(action.incident_id), now))
            if action.through is not None:
                pending = [p for p in pending if p.id > action.through]
            remote = after
        raise SystemExit("the planner did not settle within 1000 actions")

    def deadlines(until: float) -> None:
        while (deadline := planner.next_deadline(remote)) is not None and deadline <= until:
            drain(deadline)
            if planner.next_deadline(remote) == deadline:
                return

    for n, tr in enumerate(transitions, 1):
        deadlines(tr.at)
        pending.append(Pending(n, tr.at, tr.before, tr.after, tr.reason))
        drain(tr.at)
    deadlines(end + planner.hold)
    out += [(start, end) for start in opened.values()]
    return sorted(out)


@dataclass
class Replay:
    """One replay's numbers."""

    scenario: str
    setup: str
    seed: int
    weeks: float
    transitions: list[ComponentTransition]
    incidents: list[Span]
    outages: list[Span]
    end: float
    on_fake_page: int | None = None
    false_spans: list[Span] = field(init=False)
    false_incidents: list[Span] = field(init=False)
    false_major: int = field(init=False)
    delays: list[float | None] = field(init=False)  # per real outage; None: not detected

    def __post_init__(self) -> None:
        spans = not_operational(self.transitions, self.end)
        self.false_spans = [s for s in spans if not overlaps(s, self.outages)]
        self.false_incidents = [s for s in self.incidents if not overlaps(s, self.outages)]
        worst: dict[Span, Status] = {}
        for span in self.false_spans:
            hit = [tr.after for tr in self.transitions if span[0] <= tr.at < span[1]]
            worst[span] = max(hit, key=lambda s: s.severity)
        self.false_major = sum(s is Status.MAJOR_OUTAGE for s in worst.values())
        self.delays = [self.delay(outage, spans) for outage in self.outages]

    @staticmethod
    def delay(outage: Span, spans: Sequence[Span]) -> float | None:
        begin, end = outage
        if any(a <= begin < b for a, b in spans):
            return 0.0
        starts = [a for a, _ in spans if begin <= a <= end]
        return min(starts) - begin if starts else None

    def row(self) -> dict[str, Any]:
        detected = [d for d in self.delays if d is not None]
        return {
            "scenario": self.scenario,
            "setup": self.setup,
            "seed": self.seed,
            "incidents": len(self.incidents),
            "on_fake_page": self.on_fake_page,
            "false_incidents_per_week": len(self.false_incidents) / self.weeks,
            "false_outages_per_week": len(self.false_spans) / self.weeks,
            "false_major_per_week": self.false_major / self.weeks,
            "false_minutes_per_week": sum(b - a for a, b in self.false_spans) / 60 / self.weeks,
            "real_outages": len(self.outages),
            "real_detected": len(detected),
            "delay_mean_s": fmean(detected) if detected else None,
            "delays_s": self.delays,
        }


# -- the real Delivery against the fake Statuspage, on a simulated clock ----------------------


class MemoryLedger:
    """The `monitor.ledger.Ledger` protocol in memory: one outbox, what the page shows."""

    def __init__(self) -> None:
        self.remotes: dict[str, Remote] = {}
        self.outbox: dict[str, list[Pending]] = {}
        self.ids = 0

    async def load_outbox(self, publisher: str) -> dict[str, tuple[Remote | None, list[Pending]]]:
        cids = set(self.remotes) | set(self.outbox)
        return {cid: (self.remotes.get(cid), list(self.outbox.get(cid, []))) for cid in cids}

    def queue(self, publisher: str, component: str, transition: ComponentTransition) -> None:
        self.ids += 1
        tr = transition
        entry = Pending(self.ids, tr.at, tr.before, tr.after, tr.reason)
        self.outbox.setdefault(component, []).append(entry)

    async def record_delivery(
        self,
        publisher: str,
        component: str,
        remote: Remote,
        through: int | None,
        at: float,
        error: str | None = None,
    ) -> None:
        self.remotes[component] = remote
        if through is not None:
            left = [p for p in self.outbox.get(component, []) if p.id > through]
            self.outbox[component] = left

    async def record_published(
        self, publisher: str, incident_id: str, component: str, started: float
    ) -> None:
        pass

    async def record_publisher_health(self, publisher: str, error: str | None, at: float) -> None:
        if error is not None:
            raise SystemExit(f"the fake page did not take a request: {error}")

    async def load_announced(self, publisher: str) -> dict[str, Any]:
        return {}

    async def record_announced(self, publisher: str, announced: Any, replaces: Any = None) -> None:
        pass

    async def forget_announced(self, publisher: str, key: str) -> None:
        pass


async def deliver_to_fake(
    fake: Any, name: str, transitions: Sequence[ComponentTransition], hold: float, end: float
) -> int:
    """Replay `transitions` through the real Delivery to the fake page; its incidents there."""
    now = [START]

    def clock() -> float:
        return now[0]

    target = Target(name, name, fake.add_component(name))
    planner = Planner(hold)
    ledger = MemoryLedger()
    limiter = RateLimiter(0, clock=clock)  # no pacing: the simulated clock stands still
    provider = StatuspageProvider(fake.url, "page1", fake.api_key, limiter, timeout=5.0)
    operational = ComponentStatus(Status.OPERATIONAL, START, "")
    delivery = Delivery(
        provider,
        limiter,
        ledger,
        {name: target},
        planner,
        current=lambda _: operational,
        clock=clock,
    )

    async def drain() -> None:
        # step() sleeps when it has nothing to send: call it only when the planner has work
        while True:
            remote, pending = (await ledger.load_outbox("statuspage")).get(name, (None, []))
            if planner.plan(target, remote or Remote(), pending, clock()) is None:
                return
            await delivery.step()

    def deadline() -> float | None:
        return planner.next_deadline(ledger.remotes.get(name, Remote()))

    async def deadlines(until: float) -> None:
        while (at := deadline()) is not None and at <= until:
            now[0] = at
            await drain()
            if deadline() == at:
                return

    try:
        await delivery.reconcile()
        for tr in transitions:
            await deadlines(tr.at)
            now[0] = tr.at
            ledger.queue("statuspage", name, tr)
            await drain()
        await deadlines(end + hold)
    finally:
        await provider.close()
    ours = [
        incident
        for incident in fake.incidents()
        if incident.get("metadata", {}).get("monitor", {}).get("component") == name
    ]
    left = [i["id"] for i in ours if i["status"] != "resolved"]
    if left and (not transitions or transitions[-1].after not in OUTAGE):
        print(f"BUG: {name}: incidents left unresolved on the fake page: {left}")
    return len(ours)


async def fake_page_counts(results: Sequence[Replay], hold: float) -> None:
    from tests.fake_statuspage import FakeStatuspage

    fake = FakeStatuspage().start()
    try:
        for n, result in enumerate(results):
            name = f"r{n}"
            result.on_fake_page = await deliver_to_fake(
                fake, name, result.transitions, hold, result.end
            )
    finally:
        fake.stop()


# -- the run --------------------------------------------------------------------------------


def run(args: argparse.Namespace, component: Component, hold: float) -> Iterator[Replay]:
    faults = Faults(
        args.days,
        args.interval,
        args.fail_rate,
        args.cuts_per_day,
        args.cut_min,
        args.cut_max,
        args.outages,
        args.outage_min,
        args.outage_max,
    )
    planner = Planner(hold)
    target = Target("api", "API", "page-api")
    weeks = args.days * DAY / WEEK
    quorum_setup = f"{args.locations} locations, quorum {args.quorum}"
    for scenario, with_outages in (("faults", False), ("faults + outages", True)):
        if with_outages and args.outages == 0:
            continue
        for seed in range(1, args.seeds + 1):
            trace = make_trace(seed, faults, args.locations, with_outages)
            failed = [sum(f for _, f in probes) for probes in trace.probes]
            print(
                f"{scenario}, seed {seed}: failed probes per location {failed} of "
                f"{len(trace.probes[0])}, cuts {[len(c) for c in trace.cuts]}, "
                f"real outages (min) {[round((b - a) / 60, 1) for a, b in trace.outages]}",
                flush=True,
            )
            for setup, transitions in (
                ("1 location", replay_one(component, trace)),
                (quorum_setup, replay_quorum(component, trace, args.stale_after, args.every_probe)),
            ):
                incidents = page_incidents(transitions, planner, target, trace.end)
                yield Replay(
                    scenario,
                    setup,
                    seed,
                    weeks,
                    transitions,
                    incidents,
                    trace.outages,
                    trace.end,
                )


def mean_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per scenario and setup, the mean over the seeds (detections: summed)."""
    out = []
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["scenario"], row["setup"]), []).append(row)
    for (scenario, setup), group in groups.items():
        delays = [d for r in group for d in r["delays_s"] if d is not None]
        alone = {r["seed"]: r["delays_s"] for r in groups[(scenario, "1 location")]}
        paired = [
            d - one
            for r in group
            for d, one in zip(r["delays_s"], alone[r["seed"]], strict=True)
            if d is not None and one is not None
        ]
        fake = [r["on_fake_page"] for r in group]
        out.append(
            {
                "scenario": scenario,
                "setup": setup,
                "seed": "mean",
                "incidents": fmean(r["incidents"] for r in group),
                "on_fake_page": None if None in fake else fmean(fake),
                **{
                    key: fmean(r[key] for r in group)
                    for key in (
                        "false_incidents_per_week",
                        "false_outages_per_week",
                        "false_major_per_week",
                        "false_minutes_per_week",
                    )
                },
                "real_outages": sum(r["real_outages"] for r in group),
                "real_detected": sum(r["real_detected"] for r in group),
                "delay_mean_s": fmean(delays) if delays else None,
                "delay_max_s": max(delays, default=None),
                "delay_vs_one_s": fmean(paired) if paired else None,
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--interval", type=float, default=30.0, help="seconds between probes")
    parser.add_argument("--locations", type=int, default=3)
    parser.add_argument("--quorum", type=int, default=2)
    parser.add_argument("--stale-after", type=float, default=None, help="[cluster] stale_after")
    parser.add_argument("--fail-rate", type=float, default=0.02, help="of each location's probes")
    parser.add_argument("--cuts-per-day", type=float, default=1.0, help="per location, on average")
    parser.add_argument("--cut-min", type=float, default=1.0, help="minutes")
    parser.add_argument("--cut-max", type=float, default=10.0, help="minutes")
    parser.add_argument("--outages", type=int, default=3, help="real outages in the 2nd scenario")
    parser.add_argument("--outage-min", type=float, default=5.0, help="minutes")
    parser.add_argument("--outage-max", type=float, default=30.0, help="minutes")
    parser.add_argument(
        "--every-probe", action="store_true", help="take the vote at every probe (5x slower)"
    )
    parser.add_argument("--fake-page", action="store_true", help="also deliver to a fake page")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if not 1 <= args.quorum <= args.locations <= len(NAMES):
        parser.error(f"need 1 <= quorum <= locations <= {len(NAMES)}")
    began = time.process_time()
    component, hold = config(args.interval, NAMES[: args.locations], args.quorum)
    results = list(run(args, component, hold))
    if args.fake_page:
        asyncio.run(fake_page_counts(results, hold))
    rows = [r.row() for r in results]
    for row, result in zip(rows, results, strict=True):
        row["on_fake_page"] = result.on_fake_page
    means = mean_rows(rows)
    columns = [
        ("scenario", "scenario"),
        ("setup", "setup"),
        ("seed", "seed"),
        ("incidents", "incidents"),
        *([("on_fake_page", "on fake page")] if args.fake_page else []),
        ("false_incidents_per_week", "false incidents/wk"),
        ("false_outages_per_week", "false outages/wk"),
        ("false_major_per_week", "false down/wk"),
        ("false_minutes_per_week", "false non-op min/wk"),
        ("real_detected", "real detected"),
        ("real_outages", "of"),
        ("delay_mean_s", "mean delay s"),
    ]
    print_table(rows, columns)
    print()
    print_table(
        means, [*columns, ("delay_max_s", "max delay s"), ("delay_vs_one_s", "vs 1 location s")]
    )
    mismatch = [r for r in rows if r["on_fake_page"] not in (None, r["incidents"])]
    if mismatch:
        print(f"MISMATCH: the fake page's count differs from the planner's in {len(mismatch)} runs")
    took = time.process_time() - began
    print(f"CPU time: {took:.1f} s")
    data = {"args": vars(args) | {"json": None}, "rows": rows, "means": means, "cpu_s": took}
    print(f"json: {save('quorum', data, args.json)}")


if __name__ == "__main__":
    main()
