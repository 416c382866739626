"""Every code the database stores, in one table: what a stored number or word means.

A code is part of the file format. Once released it keeps its meaning for ever: a new member of
an enum takes a new code (for numbers, the next one), a code is never renumbered nor reused, and
the code of a member that goes away stays retired here. The tables are keyed by the live enums,
so renaming or reordering a member changes nothing on disk. The migrations in `schema` write
their own literals and never read these; tests/test_storage_format.py holds the released codes
as frozen literals and fails when one here changes meaning.

Where each is stored (see docs/storage.md):

- `OUTCOME_CODE`: `results.outcome`; the rollups count them in the columns ok, slow, fail.
  `OUTCOME_WORD`: `last_outcome` in `check_state.data`.
- `ERROR_KIND_CODE`: `results.error_kind`.
- `CHECK_STATE_CODE`: `check_state.state`, a check's `transitions.before/after`, and `raw`,
  `held` in `check_state.data`.
- `STATUS_CODE`: `component_state.status`, a component's `transitions.before/after`,
  `outbox.before/after`, and `worst`, `page_status`, `target` in `publish_state.data`.
- `INCIDENT_STATUS_CODE`: `incident_status` in `publish_state.data`.
- `OUTBOX_*`: `outbox.state`.
- `LATENCY_BUCKETS_MS`: what the rollup columns b0..b27 count.
- `*_VERSION`: the `v` of the JSON in `check_state.data` and `publish_state.data`.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from typing import Final, TypeVar

from monitor.incidents import IncidentStatus
from monitor.model import ErrorKind, Outcome
from monitor.state import CheckState, Status

OUTCOME_CODE: Final[Mapping[Outcome, int]] = {
    Outcome.OK: 0,
    Outcome.SLOW: 1,
    Outcome.FAIL: 2,
}
OUTCOME_FAIL: Final = 2  # fails have no latency worth a bucket
OUTCOME_WORD: Final[Mapping[Outcome, str]] = {  # a check's last outcome, in check_state.data
    Outcome.OK: "ok",
    Outcome.SLOW: "slow",
    Outcome.FAIL: "fail",
}

ERROR_KIND_CODE: Final[Mapping[ErrorKind, int]] = {
    ErrorKind.TIMEOUT: 0,
    ErrorKind.REFUSED: 1,
    ErrorKind.DNS: 2,
    ErrorKind.TLS: 3,
    ErrorKind.STATUS: 4,
    ErrorKind.BODY: 5,
    ErrorKind.RESET: 6,
    ErrorKind.PROTOCOL: 7,
    ErrorKind.CONFIG: 8,
}

CHECK_STATE_CODE: Final[Mapping[CheckState, str]] = {
    CheckState.UP: "up",
    CheckState.SLOW: "slow",
    CheckState.FLAKY: "flaky",
    CheckState.DOWN: "down",
}

STATUS_CODE: Final[Mapping[Status, str]] = {
    Status.OPERATIONAL: "operational",
    Status.DEGRADED_PERFORMANCE: "degraded_performance",
    Status.PARTIAL_OUTAGE: "partial_outage",
    Status.MAJOR_OUTAGE: "major_outage",
    Status.UNDER_MAINTENANCE: "under_maintenance",
}

INCIDENT_STATUS_CODE: Final[Mapping[IncidentStatus, str]] = {
    IncidentStatus.INVESTIGATING: "investigating",
    IncidentStatus.IDENTIFIED: "identified",
    IncidentStatus.MONITORING: "monitoring",
    IncidentStatus.RESOLVED: "resolved",
}

OUTBOX_PENDING: Final = 0  # still owed to the page
OUTBOX_DELIVERED: Final = 1
OUTBOX_FAILED: Final = 2  # the page refused it for good; `outbox.error` says why

# Upper bounds in ms of the rollup columns b0..b26 (a latency at a bound is in its bucket);
# b27 counts everything slower. monitor.history reads the buckets with the same edges.
LATENCY_BUCKETS_MS: Final[tuple[int, ...]] = (
    1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 150, 200, 300, 500, 700,
    1000, 1500, 2000, 3000, 5000, 7000, 10000, 15000, 20000, 30000,
)  # fmt: skip
N_LATENCY_BUCKETS: Final = 28
_BOUNDS_US = tuple(ms * 1000 for ms in LATENCY_BUCKETS_MS)

CHECK_STATUS_VERSION: Final = 1  # check_state.data
REMOTE_VERSION: Final = 1  # publish_state.data


def bucket_of(latency_us: int) -> int:
    """The rollup column (b0..b27) that counts a latency."""
    return bisect.bisect_left(_BOUNDS_US, latency_us)


K = TypeVar("K")
V = TypeVar("V")


def _reverse(table: Mapping[K, V]) -> dict[V, K]:
    return {code: member for member, code in table.items()}


OUTCOME_OF: Final = _reverse(OUTCOME_CODE)
OUTCOME_WORD_OF: Final = _reverse(OUTCOME_WORD)
ERROR_KIND_OF: Final = _reverse(ERROR_KIND_CODE)
CHECK_STATE_OF: Final = _reverse(CHECK_STATE_CODE)
STATUS_OF: Final = _reverse(STATUS_CODE)
INCIDENT_STATUS_OF: Final = _reverse(INCIDENT_STATUS_CODE)
