"""Which node's word counts for a check: the seam where several locations will vote.

Pure: no I/O, no clock. Every node reports its own state of each check (its own hysteresis,
as a single daemon has); `decide` turns the reports of the live nodes into the one state the
leader judges the component on. Today all nodes are in one place, so the freshest report (the
latest probe) wins, whoever made it; a quorum over locations replaces this function and nothing
around it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from monitor.state import CheckStatus


@dataclass(frozen=True, slots=True)
class Report:
    """One node's state of one check."""

    node: str
    location: str
    status: CheckStatus

    @property
    def last_at(self) -> float:
        return self.status.last_at if self.status.last_at is not None else float("-inf")


def decide(reports: Iterable[tuple[str, Report]]) -> dict[str, Report]:
    """Per check key, the report that counts: the one with the latest probe (ties: the node
    first by name, so every leader decides the same)."""
    best: dict[str, Report] = {}
    for key, report in reports:
        have = best.get(key)
        if have is None or (report.last_at, have.node) > (have.last_at, report.node):
            best[key] = report
    return best


def states(decided: Mapping[str, Report]) -> dict[str, CheckStatus]:
    """The check states to judge on. A state keeps the `since` its node gave it."""
    return {key: replace(report.status) for key, report in decided.items()}
