"""The recorder: what the engine decided, as the writes of one transaction.

A probe's result row, its check's new status, each transition it caused, the component status a
component transition led to, and the outbox entry that publishes it go to the writer together,
so the database never holds a transition without its cause nor an unpublished component change.
A probe that changed no state lets the writer hold its check's status (`STATE_EVERY`).
Pure: no I/O, no clock; `log_changes` says the same changes in the log, beside it.

It owns one rule of publishing (`Route.outbox`): a component's change goes to the outbox of the
publisher that shows the component. The delivery worker queues what the page never got with
the same rule.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from monitor.engine import Change
from monitor.model import ProbeResult
from monitor.state import CheckStatus, ComponentStatus, ComponentTransition, Status
from monitor.store import (
    ERROR_KIND_CODE,
    OUTCOME_CODE,
    STATE_EVERY,
    ResultRow,
    Stmt,
    save_check_status,
    save_component_status,
    save_outbox_entry,
    save_transition,
)

log = logging.getLogger("monitor")

Write = ResultRow | Stmt


@dataclass(frozen=True, slots=True)
class Route:
    """Where component changes are published: `publisher`'s outbox, for the components it shows
    (`targets`). Without a publisher nothing is."""

    publisher: str | None = None
    targets: Collection[str] = frozenset()

    def shows(self, component: str) -> bool:
        return self.publisher is not None and component in self.targets

    def outbox(self, component: str, transition: ComponentTransition) -> list[Write]:
        """The entry that publishes `component`'s change, if a publisher shows it."""
        if self.publisher is None or component not in self.targets:
            return []
        return [save_outbox_entry(self.publisher, component, transition)]

    def publishes(self, changes: Iterable[Change]) -> bool:
        """Whether recording `changes` queues anything for the publisher."""
        return any(change.check is None and self.shows(change.component) for change in changes)


Probed = tuple[int, float, ProbeResult, CheckStatus]
"""A probe's result as the engine took it: (the check's row id, when the probe started in Unix
seconds, the result, the check's status after it). A plain tuple: one is made per probe."""


def result_row(check_id: int, at: float, result: ProbeResult) -> ResultRow:
    return (
        int(at * 1000),
        check_id,
        OUTCOME_CODE[result.outcome],
        int(result.latency * 1_000_000),
        result.status_code,
        ERROR_KIND_CODE[result.error_kind] if result.error_kind is not None else None,
        result.error,
    )


def record(changes: Iterable[Change], route: Route, probed: Probed | None = None) -> list[Write]:
    """The writes of one transaction: the probe (`probed`, when a result caused `changes`), then
    each change with the component status it led to and its outbox entry."""
    writes: list[Write]
    changes = list(changes)
    if probed is None:
        check_id, writes = None, []
    else:
        check_id, at, result, status = probed
        lag = 0.0 if changes else STATE_EVERY  # only counters moved: no hurry
        writes = [result_row(check_id, at, result), save_check_status(check_id, status, lag=lag)]
    for change in changes:
        transition = change.transition
        if isinstance(transition, ComponentTransition):
            assert change.status is not None
            writes.append(save_component_status(change.component, change.status))
            writes.append(save_transition(change.component, None, transition))
            writes += route.outbox(change.component, transition)
        else:  # a check's transitions come from its probes
            writes.append(save_transition(change.component, check_id, transition))
    return writes


def snapshot(statuses: Mapping[str, ComponentStatus]) -> list[Write]:
    """Every component's status as it stands: after a start or a reload re-judged them."""
    return [save_component_status(component, status) for component, status in statuses.items()]


def is_worse(transition: ComponentTransition) -> bool:
    """Whether a component got worse: worth a warning in the log. Entering maintenance never
    is; leaving it always is (what the checks found meanwhile is news)."""
    before, after = transition.before, transition.after
    if after is Status.UNDER_MAINTENANCE:
        return False
    return before is Status.UNDER_MAINTENANCE or after.severity > before.severity


def log_changes(changes: Iterable[Change]) -> None:
    """One line per change: a component's at WARNING when it got worse, else INFO."""
    for change in changes:
        transition = change.transition
        if isinstance(transition, ComponentTransition):
            log.log(
                logging.WARNING if is_worse(transition) else logging.INFO,
                "component %s: %s -> %s: %s",
                change.component,
                transition.before,
                transition.after,
                transition.reason,
            )
        else:
            log.info(
                "check %s: %s -> %s (%s)",
                change.check,
                transition.before,
                transition.after,
                transition.reason,
            )
