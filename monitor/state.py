"""The status rules: probe outcomes -> check states -> component status. Pure: no I/O, no clock.

A check's state moves only when a rule says so (see docs/status-rules.md):

- `down` after `fail_after` consecutive fails; back after `recover_after` consecutive non-fails.
- `slow` after `fail_after` consecutive slows; cleared after `recover_after` consecutive oks.
- `flaky` when at least `flaky_enter` of the last `flaky_window` probes failed (and at least
  two); cleared only when at most `flaky_exit` of them did, so it does not flap at the edge.
- Flap damping: when the state has changed `flap_changes` times within `flap_window` probes, the
  check is held in the worst state it had until it has gone `flap_window` probes without a
  change.

A component is under_maintenance inside a window; else major_outage when all its checks are
down, partial_outage when some are down or any is flaky, degraded_performance when any is
slow, else operational.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from monitor.model import Check, Outcome, ProbeResult


class CheckState(StrEnum):
    UP = "up"
    SLOW = "slow"
    FLAKY = "flaky"
    DOWN = "down"

    @property
    def severity(self) -> int:
        """How bad: up < slow < flaky < down. "Worse than" is a greater severity."""
        return _CHECK_SEVERITY[self]


_CHECK_SEVERITY = {CheckState.UP: 0, CheckState.SLOW: 1, CheckState.FLAKY: 2, CheckState.DOWN: 3}


class Status(StrEnum):
    OPERATIONAL = "operational"
    DEGRADED_PERFORMANCE = "degraded_performance"
    PARTIAL_OUTAGE = "partial_outage"
    MAJOR_OUTAGE = "major_outage"
    UNDER_MAINTENANCE = "under_maintenance"

    @property
    def severity(self) -> int:
        """How bad: operational < under_maintenance < degraded_performance < partial_outage <
        major_outage. "Worse than" is a greater severity: a day's worst status, an incident's
        worst. Maintenance is no outage but not quite operational either."""
        return _STATUS_SEVERITY[self]


_STATUS_SEVERITY = {
    Status.OPERATIONAL: 0,
    Status.UNDER_MAINTENANCE: 1,
    Status.DEGRADED_PERFORMANCE: 2,
    Status.PARTIAL_OUTAGE: 3,
    Status.MAJOR_OUTAGE: 4,
}


OUTAGE = frozenset({Status.DEGRADED_PERFORMANCE, Status.PARTIAL_OUTAGE, Status.MAJOR_OUTAGE})
"""The statuses that make an incident (maintenance does not)."""


@dataclass(frozen=True, slots=True)
class Thresholds:
    fail_after: int = 3
    recover_after: int = 2
    flaky_window: int = 10
    flaky_enter: float = 0.3
    flaky_exit: float = 0.1
    flap_changes: int = 4
    flap_window: int = 10

    @classmethod
    def of(cls, check: Check) -> Thresholds:
        return cls(
            fail_after=check.fail_after,
            recover_after=check.recover_after,
            flaky_window=check.flaky_window,
            flaky_enter=check.flaky_enter,
            flaky_exit=check.flaky_exit,
            flap_changes=check.flap_changes,
            flap_window=check.flap_window,
        )

    @property
    def flaky_enter_fails(self) -> int:
        """Fails in the window that make a check flaky: never fewer than two."""
        return max(2, math.ceil(self.flaky_enter * self.flaky_window - 1e-9))

    @property
    def flaky_exit_fails(self) -> int:
        """Fails in the window at or under which a flaky check is clear again."""
        return min(
            self.flaky_enter_fails - 1, math.floor(self.flaky_exit * self.flaky_window + 1e-9)
        )


@dataclass(frozen=True, slots=True)
class CheckStatus:
    """Everything the rules remember about one check; saved and restored across restarts."""

    state: CheckState = CheckState.UP
    since: float = 0.0  # when `state` began, Unix seconds
    probes: int = 0
    fails_in_row: int = 0
    good_in_row: int = 0  # non-fails
    slow_in_row: int = 0
    ok_in_row: int = 0
    window: int = 0  # bit i set: the i-th most recent probe failed (last flaky_window probes)
    is_down: bool = False
    is_slow: bool = False
    is_flaky: bool = False
    raw: CheckState = CheckState.UP  # the state before flap damping
    raw_changes: tuple[int, ...] = ()  # probe numbers at which `raw` changed, recent ones only
    held: CheckState | None = None  # flap damping holds the check here
    last_outcome: Outcome | None = None
    last_latency: float | None = None
    last_at: float | None = None
    last_error: str | None = None  # the last failure's message, like "timeout after 5.0 s"

    def fails_in_window(self, window: int) -> int:
        return (self.window & ((1 << window) - 1)).bit_count()


@dataclass(frozen=True, slots=True)
class CheckTransition:
    at: float
    before: CheckState
    after: CheckState
    reason: str


def _raw_state(down: bool, flaky: bool, slow: bool) -> CheckState:
    if down:
        return CheckState.DOWN
    if flaky:
        return CheckState.FLAKY
    if slow:
        return CheckState.SLOW
    return CheckState.UP


def _worse(a: CheckState, b: CheckState) -> CheckState:
    return a if a.severity >= b.severity else b


def step_check(
    prev: CheckStatus, result: ProbeResult, at: float, th: Thresholds
) -> tuple[CheckStatus, CheckTransition | None]:
    """Fold one probe result into a check's status; return the new status and any transition."""
    outcome = result.outcome
    failed = outcome is Outcome.FAIL
    probes = prev.probes + 1
    fails_in_row = prev.fails_in_row + 1 if failed else 0
    good_in_row = 0 if failed else prev.good_in_row + 1
    slow_in_row = prev.slow_in_row + 1 if outcome is Outcome.SLOW else 0
    ok_in_row = prev.ok_in_row + 1 if outcome is Outcome.OK else 0
    window = ((prev.window << 1) | failed) & ((1 << th.flaky_window) - 1)

    is_down = prev.is_down
    if is_down and good_in_row >= th.recover_after:
        is_down = False
        window = 0  # the outage's fails were an outage, not intermittent errors
    elif not is_down and fails_in_row >= th.fail_after:
        is_down = True

    fails = window.bit_count()
    if is_down:
        is_flaky = False
    elif prev.is_flaky:
        is_flaky = fails > th.flaky_exit_fails
    else:
        is_flaky = fails >= th.flaky_enter_fails

    is_slow = ok_in_row < th.recover_after if prev.is_slow else slow_in_row >= th.fail_after

    raw = _raw_state(is_down, is_flaky, is_slow)
    raw_changes = prev.raw_changes
    if raw is not prev.raw:
        raw_changes = (*raw_changes, probes)
    raw_changes = tuple(n for n in raw_changes if n > probes - th.flap_window)

    held = prev.held
    if held is None and raw is not prev.raw and len(raw_changes) >= th.flap_changes:
        held = _worse(prev.state, raw)  # flapping: hold the worst it has been lately
    elif held is not None:
        # Released after flap_window probes without a change, but never on the evidence of one
        # probe: a check held down leaves it only after recover_after good probes in a row.
        settled = held is not CheckState.DOWN or good_in_row >= th.recover_after
        held = None if not raw_changes and settled else _worse(held, raw)
    state = _worse(held, raw) if held is not None else raw

    error = prev.last_error
    if failed:
        error = result.error or str(result.error_kind)
    new = CheckStatus(
        state=state,
        since=prev.since if state is prev.state else at,
        probes=probes,
        fails_in_row=fails_in_row,
        good_in_row=good_in_row,
        slow_in_row=slow_in_row,
        ok_in_row=ok_in_row,
        window=window,
        is_down=is_down,
        is_slow=is_slow,
        is_flaky=is_flaky,
        raw=raw,
        raw_changes=raw_changes,
        held=held,
        last_outcome=outcome,
        last_latency=result.latency,
        last_at=at,
        last_error=error,
    )
    if state is prev.state:
        return new, None
    return new, CheckTransition(at, prev.state, state, _check_reason(new, result, th))


def _check_reason(status: CheckStatus, result: ProbeResult, th: Thresholds) -> str:
    held = " (held: flapping)" if status.held is not None and status.raw is not status.state else ""
    if status.state is CheckState.DOWN:
        fails = status.fails_in_row or th.fail_after
        return f"{fails} fails in a row, last: {status.last_error}{held}"
    if status.state is CheckState.FLAKY:
        fails = status.fails_in_window(th.flaky_window)
        return (
            f"{fails} of the last {th.flaky_window} probes failed, last: {status.last_error}{held}"
        )
    if status.state is CheckState.SLOW:
        slows = status.slow_in_row or th.fail_after
        return f"{slows} slow probes in a row, last {_ms(result.latency)}{held}"
    return f"{status.good_in_row} good probes in a row"


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


@dataclass(frozen=True, slots=True)
class ComponentStatus:
    status: Status = Status.OPERATIONAL
    since: float = 0.0
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ComponentTransition:
    at: float
    before: Status
    after: Status
    reason: str


def judge_component(
    checks: Mapping[str, CheckStatus], maintenance: str | None
) -> tuple[Status, str]:
    """A component's status and the reason in words, from its checks' states.

    `checks` maps check names to statuses; `maintenance` is None or the window's description.
    """
    if maintenance is not None:
        return Status.UNDER_MAINTENANCE, f"maintenance: {maintenance}"
    by_state: dict[CheckState, list[str]] = {state: [] for state in CheckState}
    for name, check in checks.items():
        by_state[check.state].append(name)
    total = len(checks)
    down, flaky, slow = (
        by_state[CheckState.DOWN],
        by_state[CheckState.FLAKY],
        by_state[CheckState.SLOW],
    )

    def counted(names: list[str], state: str) -> str:
        if total == 1:
            return f"{names[0]} {state}: "
        if len(names) == total:
            return f"all {total} checks {state}: "
        return f"{len(names)} of {total} checks {state}: "

    def listed(details: list[str]) -> str:
        return details[0].split(" ", 1)[1] if total == 1 else "; ".join(details)

    parts = []
    if down:
        details = [f"{n} {checks[n].last_error}" for n in down]
        parts.append(counted(down, "down") + listed(details))
    if flaky:
        details = [f"{n} failing intermittently, last: {checks[n].last_error}" for n in flaky]
        parts.append(counted(flaky, "flaky") + listed(details))
    if slow:
        details = [f"{n} {_ms(checks[n].last_latency)}" for n in slow]
        parts.append(counted(slow, "slow") + listed(details))
    if total and len(down) == total:
        status = Status.MAJOR_OUTAGE
    elif down or flaky:
        status = Status.PARTIAL_OUTAGE
    elif slow:
        status = Status.DEGRADED_PERFORMANCE
    else:
        return (
            Status.OPERATIONAL,
            f"all {total} checks up" if total != 1 else f"{next(iter(checks))} up",
        )
    return status, ". ".join(parts)


def step_component(
    prev: ComponentStatus,
    checks: Mapping[str, CheckStatus],
    maintenance: str | None,
    at: float,
) -> tuple[ComponentStatus, ComponentTransition | None]:
    """Re-judge a component; a transition only when its status changes."""
    status, reason = judge_component(checks, maintenance)
    if status is prev.status:
        return replace(prev, reason=reason), None
    return ComponentStatus(status, at, reason), ComponentTransition(at, prev.status, status, reason)


def worst(states: Sequence[CheckState]) -> CheckState:
    return max(states, key=lambda state: state.severity, default=CheckState.UP)
