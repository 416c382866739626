"""The incident planner: the next request for the page, from what it shows and what is queued."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.incidents import (
    Action,
    Impact,
    IncidentStatus,
    Kind,
    Pending,
    Planner,
    Remote,
    Target,
)
from monitor.state import Status

OP, DEG, PART, MAJ, MAINT = (
    Status.OPERATIONAL,
    Status.DEGRADED_PERFORMANCE,
    Status.PARTIAL_OUTAGE,
    Status.MAJOR_OUTAGE,
    Status.UNDER_MAINTENANCE,
)
T = Target(id="api", name="Payment API", remote_id="cmp1")
PLANNER = Planner(monitoring_for=600)
UNKNOWN_OK = Remote(page_status=OP)


def changes(*steps: tuple[float, Status]) -> list[Pending]:
    out, before = [], OP
    for n, (at, after) in enumerate(steps, 1):
        out.append(Pending(n, at, before, after, f"reason {n}"))
        before = after
    return out


def apply(action: Action, incident_id: str = "inc1") -> Remote:
    if action.kind is Kind.CREATE and action.request and action.request.backfill_date is None:
        return replace(action.after, incident_id=incident_id)
    return action.after


def test_a_full_outage_cycle() -> None:
    pending = changes((10, MAJ))
    action = PLANNER.plan(T, UNKNOWN_OK, pending, now=10)
    assert action is not None and action.kind is Kind.CREATE and action.through == 1
    request = action.request
    assert request is not None
    assert (request.status, request.impact, request.component_status) == (
        IncidentStatus.INVESTIGATING,
        Impact.CRITICAL,
        MAJ,
    )
    assert request.name == "Payment API: major outage"
    assert request.body == "We are investigating an outage of Payment API."
    assert (request.component, request.key, request.remote_component) == (
        "api",
        "api:10000",
        "cmp1",
    )
    remote = apply(action)
    assert PLANNER.plan(T, remote, [], now=15) is None

    recovered = PLANNER.plan(T, remote, [Pending(2, 20, MAJ, OP, "all up")], now=20)
    assert recovered is not None and recovered.kind is Kind.UPDATE
    assert recovered.incident_id == "inc1" and recovered.request is not None
    assert (recovered.request.status, recovered.request.component_status) == (
        IncidentStatus.MONITORING,
        OP,
    )
    remote = apply(recovered)
    assert PLANNER.next_deadline(remote) == 620
    assert PLANNER.plan(T, remote, [], now=619) is None
    resolved = PLANNER.plan(T, remote, [], now=620)
    assert resolved is not None and resolved.request is not None
    assert resolved.request.status is IncidentStatus.RESOLVED and resolved.incident_id == "inc1"
    assert resolved.through is None
    assert apply(resolved) == Remote(page_status=OP, target=OP)


def test_zero_monitoring_resolves_at_once() -> None:
    planner = Planner(monitoring_for=0)
    remote = apply(planner.plan(T, UNKNOWN_OK, changes((10, PART)), now=10))  # type: ignore[arg-type]
    action = planner.plan(T, remote, [Pending(2, 20, PART, OP, "up")], now=20)
    assert action is not None and action.request is not None
    assert action.request.status is IncidentStatus.RESOLVED and action.through == 2


def test_escalation_updates_the_same_incident_and_never_lowers_impact() -> None:
    remote = apply(PLANNER.plan(T, UNKNOWN_OK, changes((10, PART)), now=10))  # type: ignore[arg-type]
    up = PLANNER.plan(T, remote, [Pending(2, 20, PART, MAJ, "worse")], now=20)
    assert up is not None and up.kind is Kind.UPDATE and up.request is not None
    assert (up.request.impact, up.request.component_status) == (Impact.CRITICAL, MAJ)
    remote = apply(up)
    down = PLANNER.plan(T, remote, [Pending(3, 30, MAJ, DEG, "better")], now=30)
    assert down is not None and down.request is not None
    assert (down.request.impact, down.request.component_status) == (Impact.CRITICAL, DEG)
    assert down.request.body == "Payment API is now experiencing degraded performance."


def test_a_relapse_while_monitoring_reescalates_the_same_incident() -> None:
    remote = apply(PLANNER.plan(T, UNKNOWN_OK, changes((10, MAJ)), now=10))  # type: ignore[arg-type]
    remote = apply(PLANNER.plan(T, remote, [Pending(2, 20, MAJ, OP, "up")], now=20))  # type: ignore[arg-type]
    relapse = PLANNER.plan(T, remote, [Pending(3, 100, OP, MAJ, "again")], now=100)
    assert relapse is not None and relapse.kind is Kind.UPDATE and relapse.incident_id == "inc1"
    assert relapse.request is not None
    assert relapse.request.status is IncidentStatus.INVESTIGATING
    assert relapse.after.recovered_at is None


def test_a_relapse_after_monitoring_ran_out_resolves_then_opens_a_new_one() -> None:
    remote = apply(PLANNER.plan(T, UNKNOWN_OK, changes((10, MAJ)), now=10))  # type: ignore[arg-type]
    remote = apply(PLANNER.plan(T, remote, [Pending(2, 20, MAJ, OP, "up")], now=20))  # type: ignore[arg-type]
    late = [Pending(3, 700, OP, MAJ, "again")]
    first = PLANNER.plan(T, remote, late, now=700)
    assert first is not None and first.request is not None
    assert first.request.status is IncidentStatus.RESOLVED and first.through is None
    second = PLANNER.plan(T, apply(first), late, now=700)
    assert second is not None and second.kind is Kind.CREATE and second.request is not None
    assert second.request.key == "api:700000"


def test_flaps_queued_while_the_page_was_down_make_one_request() -> None:
    pending = changes((100, MAJ), (110, OP), (120, MAJ), (130, PART))
    action = PLANNER.plan(T, UNKNOWN_OK, pending, now=140)
    assert action is not None and action.kind is Kind.CREATE and action.through == 4
    assert action.request is not None
    assert (action.request.component_status, action.request.impact) == (PART, Impact.CRITICAL)
    assert action.request.name == "Payment API: major outage"


def test_an_outage_that_began_and_ended_unseen_is_backfilled() -> None:
    pending = changes((100, MAJ), (200, OP))
    action = PLANNER.plan(T, UNKNOWN_OK, pending, now=900)
    assert action is not None and action.kind is Kind.CREATE and action.through == 2
    request = action.request
    assert request is not None and request.backfill_date == 100
    assert request.status is IncidentStatus.RESOLVED
    assert request.body == (
        "Payment API had an outage from 1970-01-01 00:01:40 UTC to 1970-01-01 00:03:20 UTC."
    )
    remote = apply(action)
    assert remote.incident_id is None
    assert PLANNER.plan(T, remote, [], now=900) is None


def test_backfill_first_then_the_current_outage() -> None:
    pending = changes((100, MAJ), (200, OP), (1000, PART))
    first = PLANNER.plan(T, UNKNOWN_OK, pending, now=1001)
    assert first is not None and first.request is not None
    assert first.request.backfill_date == 100 and first.through == 2
    second = PLANNER.plan(T, apply(first), pending[2:], now=1001)
    assert second is not None and second.kind is Kind.CREATE and second.request is not None
    assert second.request.status is IncidentStatus.INVESTIGATING and second.through == 3


def test_a_recent_unseen_outage_opens_in_monitoring() -> None:
    action = PLANNER.plan(T, UNKNOWN_OK, changes((100, MAJ), (200, OP)), now=300)
    assert action is not None and action.request is not None
    assert (action.request.status, action.request.component_status) == (
        IncidentStatus.MONITORING,
        OP,
    )
    assert PLANNER.next_deadline(apply(action)) == 800


def test_maintenance_and_unknown_page_status_set_the_component() -> None:
    action = PLANNER.plan(T, UNKNOWN_OK, changes((10, MAINT)), now=10)
    assert action is not None and action.kind is Kind.COMPONENT and action.status is MAINT
    back = PLANNER.plan(T, action.after, [Pending(2, 20, MAINT, OP, "over")], now=20)
    assert back is not None and back.kind is Kind.COMPONENT and back.status is OP
    unknown = PLANNER.plan(T, Remote(), [], now=0)
    assert unknown is not None and unknown.kind is Kind.COMPONENT and unknown.status is OP
    same = PLANNER.plan(T, UNKNOWN_OK, changes((10, OP)), now=10)
    assert same is not None and same.kind is Kind.SKIP


def test_an_incident_resolved_by_a_human_is_not_reopened_during_that_outage() -> None:
    remote = Remote(page_status=MAJ, target=MAJ, suppressed=True)
    assert PLANNER.plan(T, remote, [Pending(5, 50, MAJ, PART, "x")], now=50).kind is Kind.SKIP  # type: ignore[union-attr]
    over = PLANNER.plan(T, remote, [Pending(6, 60, PART, OP, "y")], now=60)
    assert over is not None and over.kind is Kind.COMPONENT and not over.after.suppressed


@settings(max_examples=300, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.floats(1, 900), st.sampled_from([OP, DEG, PART, MAJ, MAINT])), max_size=12
    ),
    hold=st.sampled_from([0.0, 60.0, 600.0]),
    reachable=st.lists(st.booleans(), min_size=1, max_size=40),
)
def test_never_two_open_incidents_and_everything_is_delivered(
    steps: list[tuple[float, Status]], hold: float, reachable: list[bool]
) -> None:
    """Random changes, a page that is sometimes unreachable: at most one open incident at a
    time, every entry consumed in the end, and the page ends at the last status."""
    planner = Planner(monitoring_for=hold)
    at, queue, before = 0.0, [], OP
    for n, (gap, after) in enumerate(steps, 1):
        at += gap
        if after is not before:
            queue.append(Pending(n, at, before, after, "r"))
            before = after
    remote, open_incidents, ids = UNKNOWN_OK, 0, 0
    now = 0.0
    for up in [*reachable, *([True] * 200)]:
        now += 50
        visible = [p for p in queue if p.at <= now]
        action = planner.plan(T, remote, visible, now)
        if action is None or not up:
            continue
        if action.kind is Kind.CREATE and action.request and action.request.backfill_date is None:
            assert remote.incident_id is None, "a second incident while one is open"
            ids += 1
            open_incidents += 1
        request = action.request
        if request and request.status is IncidentStatus.RESOLVED and request.backfill_date is None:
            open_incidents -= 1
        remote = apply(action, f"inc{ids}")
        assert open_incidents in (0, 1)
        if action.through is not None:
            queue = [p for p in queue if p.id > action.through]
    now += hold + 1
    for _ in range(20):
        action = planner.plan(T, remote, queue, now)
        if action is None:
            break
        remote = apply(action, f"inc{ids}")
        if action.through is not None:
            queue = [p for p in queue if p.id > action.through]
    assert action is None, "the planner settles"
    assert queue == []
    assert remote.page_status is before
    outage = before in (DEG, PART, MAJ)
    assert (remote.incident_id is not None) is outage, "open exactly while in an outage"


def _notices(planner: Planner, steps: list[tuple[float, Status]], until: float) -> list[str]:
    """Plays `steps` one at a time against a page that takes everything; returns each
    incident request as 'status:notify'."""
    remote, seen, before = UNKNOWN_OK, [], OP
    queue: list[Pending] = []
    for n, (at, after) in enumerate(steps, 1):
        queue.append(Pending(n, at, before, after, f"reason {n}"))
        before = after
        while (action := planner.plan(T, remote, queue, at)) is not None:
            if action.request is not None:
                seen.append(f"{action.request.status}:{action.request.notify}")
            remote = apply(action)
            queue = [p for p in queue if action.through is None or p.id > action.through]
    while (action := planner.plan(T, remote, queue, until)) is not None:
        assert action.request is not None
        seen.append(f"{action.request.status}:{action.request.notify}")
        remote = apply(action)
        queue = []
    return seen


NOTIFY_CASES = [
    # (notify, steps) -> what each incident request says and whether it notifies
    (
        {MAJ, PART},
        [(10, DEG), (20, MAJ), (30, OP)],
        ["investigating:False", "investigating:True", "monitoring:True", "resolved:True"],
    ),
    (
        {MAJ, PART},
        [(10, DEG), (30, OP)],
        ["investigating:False", "monitoring:False", "resolved:False"],
    ),
    (
        {MAJ, PART},
        [(10, MAJ), (20, DEG), (30, OP)],
        ["investigating:True", "investigating:True", "monitoring:True", "resolved:True"],
    ),
    (
        set(),
        [(10, MAJ), (30, OP)],
        ["investigating:False", "monitoring:False", "resolved:False"],
    ),
    (
        {DEG},
        [(10, DEG), (20, PART), (30, OP)],
        ["investigating:True", "investigating:True", "monitoring:True", "resolved:True"],
    ),
    (
        {MAJ},
        [(10, PART), (20, OP), (25, MAJ), (30, OP)],  # a relapse to major while monitoring
        [
            "investigating:False",
            "monitoring:False",
            "investigating:True",
            "monitoring:True",
            "resolved:True",
        ],
    ),
]


def test_notify_decides_which_requests_tell_the_subscribers() -> None:
    for notify, steps, expected in NOTIFY_CASES:
        planner = Planner(monitoring_for=600, notify=notify)
        assert _notices(planner, steps, until=1000) == expected, (notify, steps)


def test_a_backfill_and_an_incident_opening_recovered_do_not_notify() -> None:
    planner = Planner(monitoring_for=600, notify={MAJ, PART, DEG})
    backfill = planner.plan(T, UNKNOWN_OK, changes((100, MAJ), (200, OP)), now=900)
    assert backfill is not None and backfill.request is not None
    assert backfill.request.backfill_date == 100 and backfill.request.notify is False
    late = planner.plan(T, UNKNOWN_OK, changes((100, MAJ), (200, OP)), now=300)
    assert late is not None and late.request is not None
    assert late.request.status is IncidentStatus.MONITORING and late.request.notify is False


def test_whether_an_incident_notified_is_remembered_and_reset() -> None:
    planner = Planner(monitoring_for=600)
    opened = planner.plan(T, UNKNOWN_OK, changes((10, PART)), now=10)
    assert opened is not None and opened.after.notified
    remote = apply(opened)
    resolved = planner.plan(T, remote, [Pending(2, 20, PART, OP, "up")], now=700)
    assert resolved is not None and resolved.request is not None
    assert resolved.request.status is IncidentStatus.RESOLVED and resolved.request.notify
    assert not resolved.after.notified, "the next incident starts afresh"
