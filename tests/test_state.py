"""The status rules, as tables and as properties over random outcome sequences."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from monitor.model import ErrorKind, Outcome, ProbeResult
from monitor.state import (
    CheckState,
    CheckStatus,
    ComponentStatus,
    Status,
    Thresholds,
    judge_component,
    step_check,
    step_component,
)

TH = Thresholds(fail_after=3, recover_after=2)
OK, SLOW, FAIL = "O", "S", "F"


def result(code: str) -> ProbeResult:
    if code == FAIL:
        return ProbeResult.failed(ErrorKind.TIMEOUT, "timeout after 5.0 s", 5.0)
    return ProbeResult(Outcome.SLOW if code == SLOW else Outcome.OK, 1.2 if code == SLOW else 0.01)


def run(
    codes: Iterable[str], th: Thresholds = TH, start: CheckStatus | None = None
) -> list[CheckStatus]:
    """The status after each probe; probe n happens at time n."""
    status = start or CheckStatus()
    out = []
    for n, code in enumerate(codes, 1):
        status, _ = step_check(status, result(code), float(n), th)
        out.append(status)
    return out


def states(codes: str, th: Thresholds = TH) -> str:
    letter = {CheckState.UP: "u", CheckState.SLOW: "s", CheckState.FLAKY: "f", CheckState.DOWN: "d"}
    return "".join(letter[s.state] for s in run(codes, th))


@pytest.mark.parametrize(
    ("codes", "expected", "rule"),
    [
        ("FF", "uu", "fail_after - 1 fails: no change"),
        ("FFF", "uud", "exactly fail_after fails: down"),
        ("FFFFF", "uuddd", "down stays down while failing"),
        ("FFFO", "uudd", "recover_after - 1 good probes: still down"),
        ("FFFOO", "uuddu", "exactly recover_after good probes: up"),
        ("FFFOS", "uuddu", "slow probes count as good for recovery from down"),
        ("FFFOFOO", "uuddddu", "a fail restarts the recovery count"),
        ("FFOFFO", "uuufff", "fails not in a row: flaky (3 of 10), never down"),
        ("F", "u", "a single failed probe never changes a state"),
        ("SS", "uu", "fail_after - 1 slows: no change"),
        ("SSS", "uus", "exactly fail_after slows: slow"),
        ("SSSO", "uuss", "recover_after - 1 oks: still slow"),
        ("SSSOO", "uussu", "exactly recover_after oks: up"),
        ("SSSFF", "uusss", "fails short of fail_after keep it slow"),
        ("SSSFFF", "uusssd", "fail_after fails make a slow check down"),
        ("OOFOOFOOF", "uuuuuuuuf", "3 fails in the window of 10: flaky"),
        ("OOFOOFOOF" + "O" * 6, "u" * 8 + "f" * 7, "flaky while 2 of the last 10 failed"),
        ("OOFOOFOOF" + "O" * 7, "u" * 8 + "f" * 7 + "u", "cleared at exactly 1 fail in 10"),
    ],
)
def test_check_rules(codes: str, expected: str, rule: str) -> None:
    assert states(codes) == expected, rule


def test_flaky_has_a_lower_exit_than_entry_threshold() -> None:
    th = Thresholds(fail_after=3, recover_after=2, flaky_window=10, flaky_enter=0.3, flaky_exit=0.1)
    assert (th.flaky_enter_fails, th.flaky_exit_fails) == (3, 1)
    # 2 fails in the window: not enough to enter, but not clear enough to leave.
    entered = run("OOFOOFOOF")[-1]
    assert entered.state is CheckState.FLAKY
    after = run("OOOOOOFOOF", start=entered)  # window now holds exactly 2 fails
    assert after[-1].fails_in_window(10) == 2
    assert after[-1].state is CheckState.FLAKY
    assert states("OOOOOOFOOF") == "u" * 10


def test_recovering_from_down_does_not_leave_the_outage_in_the_flaky_window() -> None:
    assert states("FFFFFFOO" + "OOO") == "uudddddu" + "uuu"


def test_flapping_is_held_in_the_worst_state_until_stable() -> None:
    # down at 3, up at 5, down at 8, then the 4th change within 10 probes would be up at 10.
    seq = run("FFFOOFFFOO" + "O" * 12)
    assert "".join(s.state.value[0] for s in seq[:10]) == "uudduuuddd"
    held = seq[9]
    assert (
        held.state is CheckState.DOWN and held.raw is CheckState.UP and held.held is CheckState.DOWN
    )
    stable_at = next(i for i, s in enumerate(seq, 1) if i > 10 and s.state is CheckState.UP)
    assert stable_at == 20, "released once 10 probes passed without a change"
    assert all(s.state is CheckState.DOWN for s in seq[9:19])


def test_since_and_transitions() -> None:
    status = CheckStatus()
    seen = []
    for n, code in enumerate("OFFFOO", 1):
        status, transition = step_check(status, result(code), 100.0 + n, TH)
        if transition:
            seen.append((transition.at, transition.before, transition.after, transition.reason))
    assert seen == [
        (
            104.0,
            CheckState.UP,
            CheckState.DOWN,
            "3 fails in a row, last: timeout after 5.0 s",
        ),
        (106.0, CheckState.DOWN, CheckState.UP, "2 good probes in a row"),
    ]
    assert status.since == 106.0


def down() -> CheckStatus:
    return run("FFF")[-1]


def flaky() -> CheckStatus:
    return run("OOFOOFOOF")[-1]


def slow() -> CheckStatus:
    return run("SSS")[-1]


UP = CheckStatus()


@pytest.mark.parametrize(
    ("checks", "maintenance", "status", "reason"),
    [
        ({"a": UP}, None, Status.OPERATIONAL, "a up"),
        ({"a": UP, "b": UP}, None, Status.OPERATIONAL, "all 2 checks up"),
        (
            {"a": down()},
            None,
            Status.MAJOR_OUTAGE,
            "a down: timeout after 5.0 s",
        ),
        (
            {"eu": down(), "us": down()},
            None,
            Status.MAJOR_OUTAGE,
            "all 2 checks down: eu timeout after 5.0 s; us timeout after 5.0 s",
        ),
        (
            {"eu": down(), "us": UP, "ap": UP},
            None,
            Status.PARTIAL_OUTAGE,
            "1 of 3 checks down: eu timeout after 5.0 s",
        ),
        (
            {"a": flaky(), "b": UP},
            None,
            Status.PARTIAL_OUTAGE,
            "1 of 2 checks flaky: a failing intermittently, last: timeout after 5.0 s",
        ),
        ({"a": slow(), "b": UP}, None, Status.DEGRADED_PERFORMANCE, "1 of 2 checks slow: a 1.2 s"),
        (
            {"a": down()},
            "nightly until 04:00 UTC",
            Status.UNDER_MAINTENANCE,
            "maintenance: nightly until 04:00 UTC",
        ),
    ],
)
def test_component_rules(
    checks: dict[str, CheckStatus], maintenance: str | None, status: Status, reason: str
) -> None:
    assert judge_component(checks, maintenance) == (status, reason)


def test_component_transition_only_on_change() -> None:
    prev = ComponentStatus(Status.OPERATIONAL, 1.0, "all 1 checks up")
    same, none = step_component(prev, {"a": UP}, None, 5.0)
    assert none is None and same.since == 1.0
    new, transition = step_component(prev, {"a": down()}, None, 6.0)
    assert transition is not None and (transition.before, transition.after) == (
        Status.OPERATIONAL,
        Status.MAJOR_OUTAGE,
    )
    assert new.since == 6.0


outcomes = st.lists(st.sampled_from([OK, SLOW, FAIL]), max_size=300)
thresholds = st.builds(
    Thresholds,
    fail_after=st.integers(2, 5),
    recover_after=st.integers(1, 5),
    flaky_window=st.integers(5, 20),
    flaky_enter=st.sampled_from([0.2, 0.3, 0.5]),
    flaky_exit=st.sampled_from([0.0, 0.1]),
)


@example(  # a hold released on a failed probe once let a check leave down
    codes=list("FSSFFOOOOOOOOOOF"),
    th=Thresholds(fail_after=2, recover_after=1, flaky_window=5, flaky_enter=0.2, flaky_exit=0.0),
)
@example(  # a hold released into a flaky state kept by its exit threshold
    codes=list("FSSFFOFOFOOOOOFOOOO"),
    th=Thresholds(fail_after=2, recover_after=1, flaky_window=6, flaky_enter=0.2, flaky_exit=0.0),
)
@settings(max_examples=300, deadline=None)
@given(codes=outcomes, th=thresholds)
def test_transitions_follow_the_rules(codes: list[str], th: Thresholds) -> None:
    prev = CheckStatus()
    for n, status in enumerate(run(codes, th), 1):
        recent = codes[max(0, n - th.fail_after) : n]
        if status.state is not prev.state and status.held is None:
            if status.state is CheckState.DOWN:
                assert recent == [FAIL] * th.fail_after
            if status.state is CheckState.SLOW and prev.state is CheckState.UP:
                assert recent == [SLOW] * th.fail_after
            if status.state is CheckState.FLAKY and prev.held is None:
                assert status.fails_in_window(th.flaky_window) >= max(2, th.flaky_enter_fails)
            if status.state is CheckState.FLAKY and prev.held is not None:
                # A released hold takes the raw state, which stays flaky until it clears.
                assert status.fails_in_window(th.flaky_window) > th.flaky_exit_fails
            if prev.state is CheckState.DOWN:
                assert FAIL not in codes[n - th.recover_after : n]
        prev = status


@settings(max_examples=200, deadline=None)
@given(codes=outcomes, th=thresholds)
def test_a_lone_failure_changes_nothing(codes: list[str], th: Thresholds) -> None:
    # Keep fails at least a window apart and slows out: no rule can fire.
    spaced = []
    last_fail = -th.flaky_window
    for code in codes:
        if code == FAIL and len(spaced) - last_fail >= th.flaky_window:
            last_fail = len(spaced)
            spaced.append(FAIL)
        else:
            spaced.append(OK)
    assert all(s.state is CheckState.UP for s in run(spaced, th))


@settings(max_examples=200, deadline=None)
@given(
    data=st.lists(st.tuples(st.integers(0, 2), st.sampled_from([OK, SLOW, FAIL])), max_size=300),
    th=thresholds,
)
def test_component_changes_never_outnumber_check_changes(
    data: list[tuple[int, str]], th: Thresholds
) -> None:
    checks = {name: CheckStatus() for name in ("a", "b", "c")}
    component = ComponentStatus()
    check_changes = component_changes = 0
    for n, (index, code) in enumerate(data, 1):
        name = "abc"[index]
        checks[name], transition = step_check(checks[name], result(code), float(n), th)
        check_changes += transition is not None
        component, change = step_component(component, checks, None, float(n))
        component_changes += change is not None
    assert component_changes <= check_changes


@pytest.mark.parametrize("pattern", ["OF", "FO", "OOF", "FFO", "OFF", "FFFOO", "SO", "SSSOO"])
def test_a_repeating_pattern_settles_instead_of_flapping(pattern: str) -> None:
    component = ComponentStatus()
    check = CheckStatus()
    changes_at = []
    for n, code in enumerate(pattern * 100, 1):
        check, _ = step_check(check, result(code), float(n), TH)
        component, change = step_component(component, {"a": check}, None, float(n))
        if change:
            changes_at.append(n)
    assert not [n for n in changes_at if n > 30], changes_at
