"""The incident lifecycle as a pure planner: what is the next request to send to the page?

Per component we remember what the page shows (`Remote`) and keep the status changes not yet
delivered (`Pending`, the outbox). `plan` looks at both and returns ONE action (a create, an
update, or a component status), with the outbox entries it covers and what the page will show
once it succeeded. The delivery worker sends it, saves the result, and asks again; so a crash
anywhere resumes from the last saved step, and a queue of flaps collapses into its net effect:

- leaving operational opens one incident (investigating, impact from the worst status);
- a change while open updates it; recovery sets the component operational and moves the incident
  to monitoring; `monitoring_for` later without a relapse it is resolved; a relapse while
  monitoring re-escalates the same incident;
- an outage that began and ended while nothing could be delivered is sent afterwards as one
  backfilled incident;
- a request notifies the page's subscribers once the incident has reached a status of `notify`
  while running (so one that opens degraded notifies at its escalation), and from then on to
  its resolution; a backfill, or a recovery of an incident that never notified, stays quiet.

No I/O, no clock: `now` is an argument.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from monitor.model import PublisherSettings
from monitor.state import OUTAGE, Status


class IncidentStatus(StrEnum):
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"


class Impact(StrEnum):
    NONE = "none"
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"


IMPACT = {
    Status.DEGRADED_PERFORMANCE: Impact.MINOR,
    Status.PARTIAL_OUTAGE: Impact.MAJOR,
    Status.MAJOR_OUTAGE: Impact.CRITICAL,
}


@dataclass(frozen=True, slots=True)
class IncidentRequest:
    """One incident create or update, in our terms; the provider maps it to its API."""

    name: str
    status: IncidentStatus
    body: str
    remote_component: str  # the component's id on the page
    component_status: Status  # set on the page in the same call
    impact: Impact
    component: str  # our component id: goes into the incident's metadata
    key: str  # our id of this incident (component and start): metadata too
    backfill_date: float | None = None  # set: a historical, already resolved incident
    notify: bool = True  # the page tells its subscribers of this create or update


@dataclass(frozen=True, slots=True)
class RemoteIncident:
    id: str
    name: str
    status: str  # the page's incident status (investigating, ..., resolved)
    component: str | None  # our component id, from metadata, when the incident is ours
    key: str | None


@dataclass(frozen=True, slots=True)
class RemoteComponent:
    id: str
    name: str
    status: str
    group: str | None  # the name of its group, if any
    is_group: bool = False


WORDS = {
    Status.OPERATIONAL: "operational",
    Status.DEGRADED_PERFORMANCE: "degraded performance",
    Status.PARTIAL_OUTAGE: "partial outage",
    Status.MAJOR_OUTAGE: "major outage",
    Status.UNDER_MAINTENANCE: "under maintenance",
}


# The built-in words: plain, per status, for the public. Check names, hosts, URLs, addresses and
# error messages ({reason}) stay in the database, the log and the CLI; a template asks for them.
PLAIN_INVESTIGATING = {
    Status.MAJOR_OUTAGE: "We are investigating an outage of {component}.",
    Status.PARTIAL_OUTAGE: "We are investigating a partial outage of {component}.",
    Status.DEGRADED_PERFORMANCE: "{component} is experiencing degraded performance.",
}
PLAIN_UPDATE = {
    Status.MAJOR_OUTAGE: "{component} is now experiencing an outage. We are investigating.",
    Status.PARTIAL_OUTAGE: (
        "{component} is now experiencing a partial outage. We are investigating."
    ),
    Status.DEGRADED_PERFORMANCE: "{component} is now experiencing degraded performance.",
}
PLAIN_BACKFILL = {
    Status.MAJOR_OUTAGE: "{component} had an outage from {since} to {until}.",
    Status.PARTIAL_OUTAGE: "{component} had a partial outage from {since} to {until}.",
    Status.DEGRADED_PERFORMANCE: "{component} had degraded performance from {since} to {until}.",
}
PLAIN_RESOLVED = "This incident has been resolved."


@dataclass(frozen=True, slots=True)
class Templates:
    """The words of incidents. Fields: {component} (its public name) {status} {reason} {since}
    {until}. None: the built-in plain words for the status (PLAIN_*)."""

    name: str = "{component}: {status}"
    investigating: str | None = None
    update: str | None = None
    monitoring: str = "{component} has recovered; we are monitoring."
    resolved: str = PLAIN_RESOLVED
    backfill: str | None = None

    def of(self, phase: str, status: Status) -> str:
        """The template of `phase` (investigating, update, backfill) for `status`."""
        chosen: str | None = getattr(self, phase)
        if chosen is not None:
            return chosen
        plain = {
            "investigating": PLAIN_INVESTIGATING,
            "update": PLAIN_UPDATE,
            "backfill": PLAIN_BACKFILL,
        }[phase]
        return plain.get(status, plain[Status.MAJOR_OUTAGE])


DEFAULT_NOTIFY = frozenset({Status.MAJOR_OUTAGE, Status.PARTIAL_OUTAGE})


def notify_from(settings: PublisherSettings) -> frozenset[Status]:
    """The statuses whose incidents notify the page's subscribers (`[publisher] notify`)."""
    return frozenset(Status(word) for word in settings.notify)


def templates_from(settings: PublisherSettings) -> Templates:
    """The config's wording where it sets some, the built-in wording elsewhere."""
    chosen = {
        "name": settings.incident_name,
        "investigating": settings.body_investigating,
        "update": settings.body_update,
        "monitoring": settings.body_monitoring,
        "resolved": settings.body_resolved,
        "backfill": settings.body_backfill,
    }
    return Templates(**{field: text for field, text in chosen.items() if text is not None})


@dataclass(frozen=True, slots=True)
class Pending:
    """A status change of a component waiting in the outbox."""

    id: int
    at: float
    before: Status
    after: Status
    reason: str


@dataclass(frozen=True, slots=True)
class Remote:
    """What we believe the page shows for one component. Saved after every delivered action."""

    incident_id: str | None = None
    key: str | None = None  # our id of the open incident: "<component>:<start ms>"
    incident_status: IncidentStatus | None = None  # investigating or monitoring; None: none open
    started_at: float | None = None
    recovered_at: float | None = None  # when the open incident went to monitoring
    worst: Status | None = None  # the worst status of the open incident's outage
    last_reason: str = ""
    page_status: Status | None = None  # the component status we last set (None: unknown)
    target: Status = Status.OPERATIONAL  # the status of the last change delivered
    suppressed: bool = False  # a human resolved our incident mid-outage: none until it ends
    notified: bool = False  # the open incident has notified the page's subscribers


class Kind(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    COMPONENT = "component"
    SKIP = "skip"  # consume entries, no request needed


@dataclass(frozen=True, slots=True)
class Action:
    kind: Kind
    after: Remote  # the page once this succeeded (a create's id is filled in by the caller)
    through: int | None = None  # covers the outbox entries with ids up to this one
    request: IncidentRequest | None = None
    incident_id: str | None = None
    status: Status | None = None  # for COMPONENT

    def describe(self) -> str:
        if self.kind is Kind.COMPONENT:
            return f"set component {self.status}"
        if self.request is None:
            return str(self.kind)
        what = "backfill" if self.request.backfill_date is not None else self.kind
        return (
            f"{what} incident {self.incident_id or ''} {self.request.status} "
            f"(component {self.request.component_status}): {self.request.name!r}"
        ).replace("  ", " ")


@dataclass(frozen=True, slots=True)
class Target:
    """The component being published. `name` is its public name: the page sees only that."""

    id: str
    name: str
    remote_id: str


def _time(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _worst(statuses: Sequence[Status | None]) -> Status:
    known = [s for s in statuses if s is not None]
    return max(known, key=lambda s: s.severity, default=Status.OPERATIONAL)


def _episode_end(pending: Sequence[Pending], start: int, now: float, hold: float) -> int | None:
    """Index of the change that ends the outage running at `start`: the first recovery not
    followed by a relapse within `hold` seconds (and `hold` has passed by `now`)."""
    for j in range(start, len(pending)):
        if pending[j].after in OUTAGE:
            continue
        relapse = next((p for p in pending[j + 1 :] if p.after in OUTAGE), None)
        if relapse is None:
            return j if now >= pending[j].at + hold else None
        if relapse.at >= pending[j].at + hold:
            return j
    return None


class Planner:
    def __init__(
        self,
        monitoring_for: float,
        templates: Templates | None = None,
        notify: Collection[Status] = DEFAULT_NOTIFY,
    ) -> None:
        self.hold = monitoring_for
        self.t = templates or Templates()
        self.notify = frozenset(notify)

    def _notifies(self, remote: Remote, status: IncidentStatus, seen: Iterable[Status]) -> bool:
        """Whether a create or update tells the subscribers: always once the incident has; else
        only while the outage runs (investigating) and it reached a status of `notify`. So an
        incident that opens degraded notifies when it escalates, and a recovery, a resolution
        or a backfill of an incident that never notified stays quiet."""
        if remote.notified:
            return True
        return status is IncidentStatus.INVESTIGATING and any(s in self.notify for s in seen)

    def next_deadline(self, remote: Remote) -> float | None:
        """When `plan` will have something to do with no new change: the end of monitoring."""
        if remote.incident_status is IncidentStatus.MONITORING and remote.recovered_at is not None:
            return remote.recovered_at + self.hold
        return None

    def plan(
        self, target: Target, remote: Remote, pending: Sequence[Pending], now: float
    ) -> Action | None:
        if remote.incident_status is not None:
            return self._with_incident(target, remote, pending, now)
        if not pending:
            if remote.page_status is not remote.target:
                return self._component(remote, remote.target, None)
            return None
        if remote.suppressed:
            j = next((i for i, p in enumerate(pending) if p.after not in OUTAGE), None)
            if j is None:
                return Action(Kind.SKIP, remote, through=pending[-1].id)
            cleared = replace(remote, suppressed=False, target=pending[j].after)
            return self._component(cleared, pending[j].after, pending[j].id)
        first = next((i for i, p in enumerate(pending) if p.after in OUTAGE), None)
        if first is None:
            last = pending[-1]
            return self._component(replace(remote, target=last.after), last.after, last.id)
        if first > 0:  # changes before the outage (maintenance, say): only their net status
            before = pending[first - 1]
            return self._component(replace(remote, target=before.after), before.after, before.id)
        end = _episode_end(pending, 0, now, self.hold)
        if end is not None:
            return self._backfill(target, remote, pending[: end + 1])
        return self._open(target, remote, pending)

    def _component(self, remote: Remote, status: Status, through: int | None) -> Action:
        if remote.page_status is status:
            return Action(Kind.SKIP, remote, through=through)
        return Action(Kind.COMPONENT, replace(remote, page_status=status), through, status=status)

    def _request(
        self,
        target: Target,
        key: str,
        status: IncidentStatus,
        body: str,
        component_status: Status,
        worst: Status,
        backfill_date: float | None = None,
        notify: bool = False,
    ) -> IncidentRequest:
        return IncidentRequest(
            name=self.t.name.format(
                component=target.name, status=WORDS[worst], reason="", since="", until=""
            ),
            status=status,
            body=body,
            remote_component=target.remote_id,
            component_status=component_status,
            impact=IMPACT.get(worst, Impact.NONE),
            component=target.id,
            key=key,
            backfill_date=backfill_date,
            notify=notify,
        )

    def _words(
        self, template: str, target: Target, status: Status, reason: str, **times: float
    ) -> str:
        return template.format(
            component=target.name,
            status=WORDS[status],
            reason=reason.rstrip("."),
            since=_time(times.get("since", 0.0)),
            until=_time(times.get("until", 0.0)),
        )

    def _backfill(self, target: Target, remote: Remote, episode: Sequence[Pending]) -> Action:
        start, end = episode[0], episode[-1]
        worst_entry = max(episode, key=lambda p: p.after.severity)
        body = self._words(
            self.t.of("backfill", worst_entry.after),
            target,
            worst_entry.after,
            worst_entry.reason,
            since=start.at,
            until=end.at,
        )
        request = self._request(
            target,
            f"{target.id}:{round(start.at * 1000)}",
            IncidentStatus.RESOLVED,
            body,
            end.after,
            worst_entry.after,
            backfill_date=start.at,
        )
        return Action(Kind.CREATE, replace(remote, target=end.after), end.id, request=request)

    def _open(self, target: Target, remote: Remote, pending: Sequence[Pending]) -> Action:
        start, last = pending[0], pending[-1]
        worst = _worst([p.after for p in pending])
        key = f"{target.id}:{round(start.at * 1000)}"
        if last.after in OUTAGE:
            status = IncidentStatus.INVESTIGATING
            template = self.t.of("investigating", last.after)
            body = self._words(template, target, last.after, last.reason)
            recovered = None
        else:
            status = IncidentStatus.MONITORING
            body = self._words(self.t.monitoring, target, worst, start.reason, since=last.at)
            recovered = last.at
        after = replace(
            remote,
            key=key,
            incident_status=status,
            started_at=start.at,
            recovered_at=recovered,
            worst=worst,
            last_reason=max(pending, key=lambda p: p.after.severity).reason,
            page_status=last.after,
            target=last.after,
            notified=False,
        )
        notify = self._notifies(after, status, [p.after for p in pending])
        request = self._request(target, key, status, body, last.after, worst, notify=notify)
        return Action(Kind.CREATE, replace(after, notified=notify), last.id, request=request)

    def _with_incident(
        self, target: Target, remote: Remote, pending: Sequence[Pending], now: float
    ) -> Action | None:
        assert remote.key is not None
        relapse = next((i for i, p in enumerate(pending) if p.after in OUTAGE), None)
        if remote.incident_status is IncidentStatus.MONITORING and remote.recovered_at is not None:
            deadline = remote.recovered_at + self.hold
            if now >= deadline and (relapse is None or pending[relapse].at >= deadline):
                # Monitoring ran its course: resolve, taking the calm changes before any relapse.
                calm = pending[:relapse] if relapse is not None else pending
                entry = calm[-1] if calm else None
                return self._resolve(target, remote, entry, remote.recovered_at)
        if not pending:  # nothing new; but someone may have changed the component by hand
            if remote.page_status is not remote.target:
                return self._component(remote, remote.target, None)
            return None
        end = _episode_end(pending, 0, now, self.hold)
        if end is not None:
            return self._resolve(target, remote, pending[end], pending[end].at)
        last = pending[-1]
        worst = _worst([remote.worst, *(p.after for p in pending)])
        if last.after in OUTAGE:
            status = IncidentStatus.INVESTIGATING
            reason = last.reason
            body = self._words(self.t.of("update", last.after), target, last.after, reason)
            recovered = None
        else:
            status = IncidentStatus.MONITORING
            outage = [p for p in pending if p.after in OUTAGE]
            reason = outage[-1].reason if outage else remote.last_reason
            body = self._words(self.t.monitoring, target, worst, reason, since=last.at)
            recovered = last.at if outage or remote.recovered_at is None else remote.recovered_at
        after = replace(
            remote,
            incident_status=status,
            recovered_at=recovered,
            worst=worst,
            last_reason=reason,
            page_status=last.after,
            target=last.after,
        )
        notify = self._notifies(remote, status, [p.after for p in pending])
        after = replace(after, notified=notify)
        request = self._request(target, remote.key, status, body, last.after, worst, notify=notify)
        return Action(Kind.UPDATE, after, last.id, request=request, incident_id=remote.incident_id)

    def _resolve(
        self, target: Target, remote: Remote, entry: Pending | None, since: float
    ) -> Action:
        assert remote.key is not None
        status = entry.after if entry is not None else remote.target
        body = self._words(self.t.resolved, target, status, remote.last_reason, since=since)
        worst = remote.worst or Status.OPERATIONAL
        request = self._request(
            target,
            remote.key,
            IncidentStatus.RESOLVED,
            body,
            status,
            worst,
            notify=remote.notified,
        )
        after = Remote(page_status=status, target=status)
        return Action(
            Kind.UPDATE,
            after,
            entry.id if entry is not None else None,
            request=request,
            incident_id=remote.incident_id,
        )
