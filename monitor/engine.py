"""The status engine: every check's and component's status, advanced by the pure rules.

It holds state and nothing else: no I/O, no clock (time is an argument), no threads. The daemon
feeds it probe results and maintenance changes; the recorder (recorder.py) turns what it
returns into writes. A check's state is stepped here (state.py's rules); a component's is
judged by judge.py from the states of its checks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from monitor.judge import ComponentChecks, judge
from monitor.model import Component, ProbeResult, check_key
from monitor.state import (
    CheckStatus,
    CheckTransition,
    ComponentStatus,
    ComponentTransition,
    Status,
    Thresholds,
    step_check,
)


@dataclass(frozen=True, slots=True)
class Change:
    """A transition to record: a check's (check = its key) or a component's (check = None,
    with `status`, the component's status it led to)."""

    component: str
    check: str | None
    transition: CheckTransition | ComponentTransition
    status: ComponentStatus | None = None


class StatusEngine:
    def __init__(
        self,
        components: Sequence[Component],
        at: float,
        checks: Mapping[str, CheckStatus] | None = None,
        statuses: Mapping[str, ComponentStatus] | None = None,
    ) -> None:
        """Start from saved statuses where there are some; new checks start up, new
        components operational, both since `at`."""
        checks = checks or {}
        statuses = statuses or {}
        self.thresholds: dict[str, Thresholds] = {}
        self.checks: dict[str, CheckStatus] = {}
        self.members: dict[str, dict[str, str]] = {}  # component -> check name -> check key
        self.owner: dict[str, str] = {}  # check key -> component
        for component in components:
            self.members[component.id] = {}
            for check in component.checks:
                key = check_key(component, check)
                self.thresholds[key] = Thresholds.of(check)
                self.checks[key] = checks.get(key) or CheckStatus(since=at)
                self.members[component.id][check.name] = key
                self.owner[key] = component.id
        self.statuses: dict[str, ComponentStatus] = {
            c.id: statuses.get(c.id)
            or ComponentStatus(Status.OPERATIONAL, at, "monitoring started")
            for c in components
        }
        self.maintenance: dict[str, str | None] = {c.id: None for c in components}

    def reconfigure(self, components: Sequence[Component], at: float) -> list[Change]:
        """Take a new config: checks and components that stay keep their state; new ones start
        fresh; removed ones are forgotten. Components whose checks changed are re-judged."""
        before = {cid: dict(members) for cid, members in self.members.items()}
        fresh = StatusEngine(components, at, self.checks, self.statuses)
        self.thresholds, self.checks = fresh.thresholds, fresh.checks
        self.members, self.owner, self.statuses = fresh.members, fresh.owner, fresh.statuses
        self.maintenance = {cid: self.maintenance.get(cid) for cid in fresh.maintenance}
        return [
            change
            for cid in self.members
            if before.get(cid) != self.members[cid]
            for change in self._judge(cid, at)
        ]

    def observe(self, key: str, result: ProbeResult, at: float) -> list[Change]:
        """Fold a probe result into its check; re-judge the component if the check changed."""
        status, transition = step_check(self.checks[key], result, at, self.thresholds[key])
        self.checks[key] = status
        if transition is None:
            return []
        component = self.owner[key]
        return [Change(component, key, transition), *self._judge(component, at)]

    def set_checks(
        self, states: Mapping[str, CheckStatus], at: float, why: Mapping[str, str] | None = None
    ) -> list[Change]:
        """Take check states decided elsewhere (cluster mode: the nodes' reports) and re-judge
        the components whose checks changed state. `why` gives a changed check's reason."""
        changes: list[Change] = []
        touched: dict[str, None] = {}
        for key, status in states.items():
            before = self.checks.get(key)
            if before is None:  # not in this config (a node running another one)
                continue
            self.checks[key] = status
            if status.state is not before.state:
                reason = (why or {}).get(key) or status.last_error or status.state.value
                transition = CheckTransition(at, before.state, status.state, reason)
                changes.append(Change(self.owner[key], key, transition))
            touched[self.owner[key]] = None
        for component in touched:
            changes += self._judge(component, at)
        return changes

    def set_maintenance(self, component: str, description: str | None, at: float) -> list[Change]:
        """Enter (a description) or leave (None) a maintenance window."""
        if self.maintenance[component] == description:
            return []
        self.maintenance[component] = description
        return self._judge(component, at)

    def judge_all(self, at: float) -> list[Change]:
        """Re-judge every component: on start, after the saved state was restored."""
        return [change for component in self.statuses for change in self._judge(component, at)]

    def component_checks(self, component: str) -> ComponentChecks:
        """What `component` is judged on now."""
        states = {name: self.checks[key] for name, key in self.members[component].items()}
        return ComponentChecks(states, self.maintenance[component])

    def _judge(self, component: str, at: float) -> list[Change]:
        status, transition = judge(self.statuses[component], self.component_checks(component), at)
        self.statuses[component] = status
        return [] if transition is None else [Change(component, None, transition, status)]
