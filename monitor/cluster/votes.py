"""How the nodes' reports of a check become the one state the leader judges on: locations vote.

Pure: no I/O, no clock (time is an argument). Every node keeps its own hysteresis per check (as
a single daemon does) and reports the resulting state. Within a location the freshest report
counts (several nodes may share a location: the latest probe wins, whoever made it); that is
the location's vote. A location whose vote is older than `stale_after` abstains.

The check's global state is the worst state that at least `quorum` fresh locations report, or
something worse than it: one location seeing `down` while two see `up` changes nothing; two of
three seeing `down` make it `down`; `slow` and `flaky` count the same way (a location seeing
`down` also counts for `flaky` and `slow`). With fewer fresh locations than `quorum`, nothing is
decided: the global state holds where it was, and the lost quorum is shown, never published.

The locations of a check are its component's `locations`, or every location seen in the cluster;
its quorum is the component's `quorum`, or a majority of those locations. With one location
(every node in one place) this is "the freshest report counts".
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace

from monitor.model import Component, check_key
from monitor.state import CheckState, CheckStatus

STALE_INTERVALS = 3  # a location silent for this many probe intervals abstains...
STALE_AT_LEAST = 30.0  # ...but never sooner than this many seconds


@dataclass(frozen=True, slots=True)
class Report:
    """One node's state of one check."""

    node: str
    location: str
    status: CheckStatus

    @property
    def last_at(self) -> float:
        return self.status.last_at if self.status.last_at is not None else float("-inf")


@dataclass(frozen=True, slots=True)
class Vote:
    """One location's view of a check: its freshest report, and whether it is fresh."""

    location: str
    report: Report
    fresh: bool

    @property
    def state(self) -> CheckState:
        return self.report.status.state


@dataclass(frozen=True, slots=True)
class Decision:
    """A check's global state: `status` None when there is no quorum (hold the last one)."""

    status: CheckStatus | None
    votes: dict[str, Vote]  # by location, the check's locations only, in name order
    quorum: int
    reason: str  # "down from eu-west, us-east; up from ap-south"

    @property
    def quorum_lost(self) -> bool:
        return self.status is None


def majority(count: int) -> int:
    return count // 2 + 1


def locations_of(configured: Sequence[str] | None, seen: Collection[str]) -> list[str]:
    """The locations a check is probed from: the component's, or every one seen."""
    return sorted(set(configured) if configured else set(seen))


def votes(reports: Iterable[Report], now: float, stale_after: float) -> dict[str, Vote]:
    """Each location's vote: its freshest report (ties: the node first by name), fresh when
    its probe is no older than `stale_after` at `now`."""
    best: dict[str, Report] = {}
    for report in reports:
        have = best.get(report.location)
        if have is None or (report.last_at, have.node) > (have.last_at, report.node):
            best[report.location] = report
    return {
        location: Vote(location, report, now - report.last_at <= stale_after)
        for location, report in sorted(best.items())
    }


def decide(
    reports: Iterable[Report],
    *,
    locations: Sequence[str],
    quorum: int | None,
    now: float,
    stale_after: float,
) -> Decision:
    """The global state of one check from its reports (see the module's docstring)."""
    where = set(locations)
    cast = {loc: v for loc, v in votes(reports, now, stale_after).items() if loc in where}
    need = quorum if quorum is not None else majority(len(where))
    fresh = [v for v in cast.values() if v.fresh]
    reason = _reason(cast, len(where))
    if len(fresh) < need:
        return Decision(None, cast, need, reason)
    state = CheckState.UP
    for candidate in sorted(CheckState, key=lambda s: s.severity, reverse=True):
        if sum(v.state.severity >= candidate.severity for v in fresh) >= need:
            state = candidate
            break
    # the words and numbers of the freshest location that sees it so (or worse)
    agreeing = [v for v in fresh if v.state.severity >= state.severity]
    source = max(agreeing, key=lambda v: (v.report.last_at, v.location)).report.status
    return Decision(replace(source, state=state), cast, need, reason)


def _reason(cast: dict[str, Vote], expected: int) -> str:
    """ "down from eu-west, us-east; up from ap-south; stale: us-west" """
    by_state: dict[str, list[str]] = {}
    stale = []
    for location, vote in cast.items():
        if vote.fresh:
            by_state.setdefault(vote.state.value, []).append(location)
        else:
            stale.append(location)
    order = sorted(by_state, key=lambda s: CheckState(s).severity, reverse=True)
    parts = [f"{state} from {', '.join(by_state[state])}" for state in order]
    if stale:
        parts.append(f"stale: {', '.join(stale)}")
    if len(cast) < expected:
        parts.append(f"{expected - len(cast)} location(s) never reported")
    return "; ".join(parts)


def stale_after_of(interval: float, configured: float | None) -> float:
    """`[cluster] stale_after`, or 3 probe intervals, at least 30 s."""
    if configured is not None:
        return configured
    return max(STALE_AT_LEAST, STALE_INTERVALS * interval)


def decide_all(
    reports: Iterable[tuple[str, Report]],
    components: Sequence[Component],
    *,
    now: float,
    stale_after: float | None,
) -> dict[str, Decision]:
    """Every check's decision, by check key, from every live node's reports (key, report)."""
    by_key: dict[str, list[Report]] = {}
    seen: set[str] = set()
    for key, report in reports:
        by_key.setdefault(key, []).append(report)
        seen.add(report.location)
    out: dict[str, Decision] = {}
    for component in components:
        where = locations_of(component.locations, seen)
        for check in component.checks:
            key = check_key(component, check)
            out[key] = decide(
                by_key.get(key, ()),
                locations=where,
                quorum=component.quorum,
                now=now,
                stale_after=stale_after_of(check.interval, stale_after),
            )
    return out
