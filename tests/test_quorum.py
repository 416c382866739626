"""The location quorum, table-tested: which state the locations' votes make a check's."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.cluster.votes import Report, decide, majority, votes
from monitor.state import CheckState, CheckStatus

UP, SLOW, FLAKY, DOWN = CheckState.UP, CheckState.SLOW, CheckState.FLAKY, CheckState.DOWN
NOW = 1000.0
STALE = 30.0
THREE = ["ap-south", "eu-west", "us-east"]


def report(location: str, state: CheckState, age: float = 1.0, node: str = "") -> Report:
    status = CheckStatus(state, since=0.0, last_at=NOW - age, last_error=f"{state} at {location}")
    return Report(node or f"n-{location}", location, status)


def decided(
    reports: list[Report], locations: list[str] = THREE, quorum: int | None = None
) -> CheckState | None:
    decision = decide(reports, locations=locations, quorum=quorum, now=NOW, stale_after=STALE)
    return decision.status.state if decision.status is not None else None


@pytest.mark.parametrize(
    ("states", "quorum", "expected"),
    [
        ((UP, UP, UP), None, UP),
        ((DOWN, UP, UP), None, UP),  # one location's trouble is its own
        ((DOWN, DOWN, UP), None, DOWN),  # two of three agree
        ((DOWN, DOWN, DOWN), None, DOWN),
        ((DOWN, SLOW, UP), None, SLOW),  # down counts for slow: two see at least slow
        ((DOWN, FLAKY, UP), None, FLAKY),
        ((FLAKY, SLOW, UP), None, SLOW),
        ((SLOW, SLOW, UP), None, SLOW),
        ((DOWN, FLAKY, SLOW), None, FLAKY),
        ((DOWN, UP, UP), 1, DOWN),  # quorum 1: any location is enough
        ((SLOW, UP, UP), 1, SLOW),
        ((DOWN, DOWN, UP), 3, UP),  # quorum 3: all must agree
        ((DOWN, DOWN, SLOW), 3, SLOW),
    ],
)
def test_the_worst_state_a_quorum_of_locations_reports(states, quorum, expected) -> None:
    reports = [report(loc, state) for loc, state in zip(THREE, states, strict=True)]
    assert decided(reports, quorum=quorum) is expected
    assert decided(list(reversed(reports)), quorum=quorum) is expected  # order is no vote


@pytest.mark.parametrize(
    ("ages", "states", "expected"),
    [
        ((1, 1, 31), (DOWN, DOWN, UP), DOWN),  # a stale location abstains
        ((1, 31, 31), (DOWN, UP, UP), None),  # one fresh of a quorum of two: no decision
        ((31, 31, 31), (DOWN, DOWN, DOWN), None),
        ((1, 1, 31), (DOWN, UP, DOWN), UP),  # a tie of the fresh: not a quorum for down
        ((30, 1, 1), (DOWN, DOWN, UP), DOWN),  # exactly stale_after old is still fresh
    ],
)
def test_stale_locations_abstain(ages, states, expected) -> None:
    reports = [report(loc, state, age) for loc, state, age in zip(THREE, states, ages, strict=True)]
    assert decided(reports) is expected


def test_a_location_that_never_reported_abstains_and_is_said() -> None:
    reports = [report("eu-west", DOWN), report("us-east", DOWN)]
    decision = decide(reports, locations=THREE, quorum=None, now=NOW, stale_after=STALE)
    assert decision.status is not None and decision.status.state is DOWN
    assert decision.reason == "down from eu-west, us-east; 1 location(s) never reported"
    only_one = decide(reports[:1], locations=THREE, quorum=None, now=NOW, stale_after=STALE)
    assert only_one.quorum_lost and only_one.quorum == 2


def test_the_reason_names_the_locations_that_agree() -> None:
    reports = [report("eu-west", DOWN), report("us-east", DOWN), report("ap-south", UP, 40)]
    decision = decide(reports, locations=THREE, quorum=None, now=NOW, stale_after=STALE)
    assert decision.reason == "down from eu-west, us-east; stale: ap-south"
    assert decision.status is not None
    assert decision.status.last_error in {"down at eu-west", "down at us-east"}


def test_a_location_leaving_the_config_no_longer_votes() -> None:
    reports = [report("eu-west", DOWN), report("us-east", DOWN), report("ap-south", UP)]
    assert decided(reports, locations=["ap-south", "eu-west"], quorum=2) is UP
    assert decided(reports, locations=["ap-south", "eu-west"], quorum=1) is DOWN
    assert decided(reports, locations=["ap-south"]) is UP  # us-east and eu-west ignored


def test_within_a_location_the_freshest_node_counts() -> None:
    reports = [
        report("eu-west", DOWN, age=5, node="a"),
        report("eu-west", UP, age=1, node="b"),
        report("us-east", UP, age=1),
    ]
    cast = votes(reports, NOW, STALE)
    assert cast["eu-west"].report.node == "b"
    assert decided(reports, locations=["eu-west", "us-east"]) is UP


def test_one_location_is_the_freshest_report() -> None:
    reports = [report("default", DOWN, age=3, node="a"), report("default", UP, 1, node="b")]
    assert decided(reports, locations=["default"]) is UP
    assert decided(reports[:1], locations=["default"]) is DOWN


@pytest.mark.parametrize(("count", "expected"), [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3)])
def test_the_default_quorum_is_a_majority(count: int, expected: int) -> None:
    assert majority(count) == expected


STATES = st.sampled_from(list(CheckState))


@given(
    count=st.integers(3, 7),
    agreed=STATES,
    odd=st.one_of(st.none(), st.tuples(STATES, st.floats(0, 100))),  # absent, or any vote
    which=st.integers(0, 6),
    quorum_up=st.integers(0, 1),  # the majority, or one more while that is not all of them
)
def test_no_single_location_ever_changes_a_global_state(
    count: int,
    agreed: CheckState,
    odd: tuple[CheckState, float] | None,
    which: int,
    quorum_up: int,
) -> None:
    """Whatever one location reports (any state, stale, or nothing at all), the others'
    agreement is the global state, with three locations or more and a majority quorum."""
    names = [f"loc-{i}" for i in range(count)]
    quorum = min(majority(count) + quorum_up, count - 1)
    lone = names[which % count]
    reports = [report(name, agreed) for name in names if name != lone]
    if odd is not None:
        reports.append(report(lone, odd[0], age=odd[1]))
    assert decided(reports, locations=names, quorum=quorum) is agreed
