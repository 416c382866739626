"""The component judge: the states of a component's checks -> the component's status.

The seam between the checks and the component. The engine gathers a component's check states
into one `ComponentChecks` and asks `judge`; nothing else looks at both. Probes from several
locations will give each check a state per location, and a quorum over them belongs here, in
this type and this function, and nowhere else. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from monitor.state import CheckStatus, ComponentStatus, ComponentTransition, step_component


@dataclass(frozen=True, slots=True)
class ComponentChecks:
    """What a component is judged on: its checks' states by check name, in config order, and
    its maintenance window (None, or the window's description)."""

    states: Mapping[str, CheckStatus]
    maintenance: str | None = None


def judge(
    prev: ComponentStatus, checks: ComponentChecks, at: float
) -> tuple[ComponentStatus, ComponentTransition | None]:
    """The component's status now, and its transition when the status changed (see
    docs/status-rules.md for the rules)."""
    return step_component(prev, checks.states, checks.maintenance, at)
