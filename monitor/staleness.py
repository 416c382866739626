"""Stale checks: a check that has not produced a result for several intervals, whatever the cause.

A check that never runs (a probe that cannot be built, a stuck worker, a scheduler that stopped
firing) keeps its last state, and that state may be `up`. Staleness is how such a blind spot
shows: `monitor status` marks the check, `monitor_checks_stale` counts it and `/healthz` turns
503 while any check is stale. Pure: time comes in as an argument.
"""

from __future__ import annotations

from monitor.model import Check

STALE_INTERVALS = 3
"""A check with no result for this many intervals (plus its timeout) is stale."""


def stale_after(check: Check) -> float:
    """Seconds without a result after which `check` is stale."""
    return STALE_INTERVALS * check.interval + check.timeout


def is_stale(check: Check, last_result: float | None, watched_since: float, now: float) -> bool:
    """Whether `check` is stale at `now`. `last_result` is when its last result came (None:
    never); `watched_since` when it began to be probed (the daemon's start, or a reload that
    added it), so a check never probed is stale only once it has had time to be."""
    reference = watched_since if last_result is None else max(last_result, watched_since)
    return now - reference > stale_after(check)


def describe(items: list[str], limit: int = 5) -> str:
    """'api/healthz, db/tcp and 3 more' for a reason or log line."""
    shown = ", ".join(items[:limit])
    more = len(items) - limit
    return shown + (f" and {more} more" if more > 0 else "")
