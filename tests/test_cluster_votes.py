"""The pure side of cluster mode: which report counts, and the engine taking decided states."""

from __future__ import annotations

import pytest

from monitor.cluster.votes import Report, decide_all
from monitor.engine import StatusEngine
from monitor.model import Component, HttpCheck
from monitor.state import CheckState, CheckStatus, ComponentTransition, Status


def report(node: str, state: CheckState, last_at: float | None) -> Report:
    return Report(node, "default", CheckStatus(state, since=1.0, last_at=last_at))


API = Component(
    id="c",
    name="C",
    checks=(
        HttpCheck(name="h", url="http://127.0.0.1:1/"),
        HttpCheck(name="one", url="http://127.0.0.1:1/"),
        HttpCheck(name="two", url="http://127.0.0.1:1/"),
    ),
)


def decided(reports: list[tuple[str, Report]]) -> dict[str, Report]:
    decisions = decide_all(reports, [API], now=12.0, stale_after=None)
    return {
        key: next(v.report for v in d.votes.values())
        for key, d in decisions.items()
        if d.status is not None
    }


@pytest.mark.parametrize(
    ("reports", "winner"),
    [
        ([("a", CheckState.DOWN, 10.0), ("b", CheckState.UP, 11.0)], "b"),
        ([("a", CheckState.DOWN, 12.0), ("b", CheckState.UP, 11.0)], "a"),
        ([("b", CheckState.UP, 11.0), ("a", CheckState.DOWN, 11.0)], "a"),  # a tie: by name
        ([("a", CheckState.UP, 11.0), ("b", CheckState.DOWN, 11.0)], "a"),
        ([("a", CheckState.UP, None), ("b", CheckState.DOWN, 3.0)], "b"),  # never probed
        ([("a", CheckState.SLOW, 5.0)], "a"),
    ],
)
def test_in_one_location_the_freshest_report_counts_whoever_made_it(reports, winner) -> None:
    assert decided([("c/h", report(*r)) for r in reports])["c/h"].node == winner
    # the order the reports arrive in never matters
    assert decided([("c/h", report(*r)) for r in reversed(reports)])["c/h"].node == winner


def test_each_check_is_decided_on_its_own() -> None:
    decisions = decide_all(
        [
            ("c/one", report("a", CheckState.DOWN, 9.0)),
            ("c/two", report("a", CheckState.UP, 9.0)),
            ("c/one", report("b", CheckState.UP, 8.0)),
            ("c/two", report("b", CheckState.DOWN, 10.0)),
        ],
        [API],
        now=12.0,
        stale_after=None,
    )
    got = {key: d.status.state for key, d in decisions.items() if d.status is not None}
    assert got == {"c/one": CheckState.DOWN, "c/two": CheckState.DOWN}
    assert decisions["c/h"].quorum_lost  # nobody reported it: nothing is decided


def _engine() -> StatusEngine:
    component = Component(
        id="api", name="API", checks=(HttpCheck(name="home", url="http://127.0.0.1:1/"),)
    )
    return StatusEngine([component], 0.0)


def test_the_leaders_engine_judges_the_decided_states() -> None:
    engine = _engine()
    down = CheckStatus(CheckState.DOWN, since=5.0, last_at=5.0, last_error="timeout after 1 s")
    changes = engine.set_checks({"api/home": down}, 6.0, {"api/home": "timeout (from b)"})
    assert [c.check for c in changes] == ["api/home", None]
    check, component = changes
    assert check.transition.reason == "timeout (from b)"
    assert isinstance(component.transition, ComponentTransition)
    assert component.transition.after is Status.MAJOR_OUTAGE
    assert engine.statuses["api"].status is Status.MAJOR_OUTAGE
    # the same state again (a fresher probe) changes nothing
    again = CheckStatus(CheckState.DOWN, since=5.0, last_at=7.0, last_error="timeout after 1 s")
    assert engine.set_checks({"api/home": again}, 7.0) == []
    up = CheckStatus(CheckState.UP, since=8.0, last_at=8.0)
    recovered = engine.set_checks({"api/home": up}, 8.0)
    assert recovered[-1].transition.after is Status.OPERATIONAL


def test_a_check_the_config_does_not_have_is_ignored() -> None:
    engine = _engine()
    other = CheckStatus(CheckState.DOWN, since=1.0, last_at=1.0)
    assert engine.set_checks({"gone/check": other}, 2.0) == []
    assert engine.statuses["api"].status is Status.OPERATIONAL
