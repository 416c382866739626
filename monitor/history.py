"""Uptime arithmetic over a window: pure functions of status changes, monitored time and rollups.

- A component's status at any moment is the `after` of its last change before it.
- Only monitored time counts: time when the daemon ran (the `runs` table). A gap (daemon down)
  is neither up nor down; it is left out of every ratio, like maintenance.
- uptime = operational time / (monitored time - maintenance time). Degraded performance, partial
  and major outage all count as down time.
- An incident is a period away from operational (degraded, partial or major) between two other
  statuses; its duration is wall-clock time, gaps included, because the outage went on while
  nobody watched. MTTR is the mean duration of the incidents that ended in the window.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from monitor.state import OUTAGE, Status

# Latency histogram bucket upper bounds in milliseconds; the last bucket is everything above.
# The stored rollups count with these edges (monitor.store.codes.LATENCY_BUCKETS_MS): never
# change one, tests/test_storage_format.py holds them.
BUCKETS_MS: tuple[float, ...] = (
    1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 150, 200, 300, 500, 700,
    1000, 1500, 2000, 3000, 5000, 7000, 10000, 15000, 20000, 30000,
)  # fmt: skip
BUCKET_BOUNDS_US = tuple(int(b * 1000) for b in BUCKETS_MS)
N_BUCKETS = len(BUCKETS_MS) + 1


def bucket_of(latency_us: int) -> int:
    """The histogram bucket of a latency: the first bound at or above it."""
    return bisect.bisect_left(BUCKET_BOUNDS_US, latency_us)


def percentile(counts: Sequence[int], q: float) -> float | None:
    """The q-quantile (0-1) from bucket counts, as the upper bound of its bucket in ms (the
    overflow bucket reports the last bound): never more than one bucket from the truth."""
    total = sum(counts)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(counts):
        seen += count
        if seen >= rank and count:
            return float(BUCKETS_MS[min(index, len(BUCKETS_MS) - 1)])
    return float(BUCKETS_MS[-1])


def percentiles(counts: Sequence[int], qs: Sequence[float]) -> list[float | None]:
    """`percentile` of each of `qs` (ascending), in one pass over the counts: a report asks
    for three of every day."""
    assert list(qs) == sorted(qs), qs
    total = sum(counts)
    if total == 0:
        return [None] * len(qs)
    ranks = [q * total for q in qs]
    out: list[float | None] = []
    seen = 0
    for index, count in enumerate(counts):
        if not count:
            continue
        seen += count
        while len(out) < len(ranks) and seen >= ranks[len(out)]:
            out.append(float(BUCKETS_MS[min(index, len(BUCKETS_MS) - 1)]))
        if len(out) == len(ranks):
            return out
    return out + [float(BUCKETS_MS[-1])] * (len(ranks) - len(out))


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A change of a component's own status, as stored in `transitions`."""

    at: float
    before: Status
    after: Status
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Segment:
    start: float
    end: float
    status: Status


@dataclass(frozen=True, slots=True)
class Period:
    """Time away from operational: one incident."""

    start: float
    end: float | None  # None: still going at the end of the window
    worst: Status
    reason: str

    @property
    def duration(self) -> float | None:
        return None if self.end is None else self.end - self.start


@dataclass(frozen=True, slots=True)
class Day:
    date: str
    uptime: float | None
    worst_status: Status | None


@dataclass
class Summary:
    uptime: float | None
    downtime: float
    maintenance: float
    monitored: float
    incidents: list[Period]
    mttr: float | None
    days: list[Day] = field(default_factory=list)
    time_in: dict[Status, float] = field(default_factory=dict)


def timeline(changes: Sequence[StatusChange], since: float, until: float) -> list[Segment]:
    """The component's status over [since, until) as segments, from its changes in time order.
    Before its first change it had that change's `before` status."""
    if not changes:
        return [Segment(since, until, Status.OPERATIONAL)] if since < until else []
    times = [c.at for c in changes]
    index = bisect.bisect_right(times, since)
    status = changes[index - 1].after if index > 0 else changes[0].before
    segments, start = [], since
    for change in changes[index:]:
        if change.at >= until:
            break
        if change.at > start:
            segments.append(Segment(start, change.at, status))
            start = change.at
        status = change.after
    if start < until:
        segments.append(Segment(start, until, status))
    return segments


def intersect(segments: Iterable[Segment], runs: Sequence[tuple[float, float]]) -> list[Segment]:
    """The parts of `segments` inside monitored time (`runs`: sorted, non-overlapping)."""
    out = []
    for segment in segments:
        for start, end in runs:
            lo, hi = max(segment.start, start), min(segment.end, end)
            if lo < hi:
                out.append(Segment(lo, hi, segment.status))
    return out


def merge_runs(runs: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for start, end in sorted(runs):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def periods(changes: Sequence[StatusChange], since: float, until: float) -> list[Period]:
    """Incidents overlapping the window: each run of outage statuses, wall-clock."""
    out: list[Period] = []
    current: tuple[float, Status, str] | None = None
    first = changes[0].before if changes else Status.OPERATIONAL
    if first in OUTAGE:
        current = (since, first, "")
    for change in changes:
        if change.at >= until:
            break
        if change.after in OUTAGE:
            if current is None:
                current = (change.at, change.after, change.reason)
            elif change.after.severity > current[1].severity:
                current = (current[0], change.after, current[2] or change.reason)
        elif current is not None:
            if change.at > since:
                out.append(Period(current[0], change.at, current[1], current[2]))
            current = None
    if current is not None:
        out.append(Period(current[0], None, current[1], current[2]))
    return [p for p in out if p.end is None or p.end > since]


def summarise(
    changes: Sequence[StatusChange],
    runs: Sequence[tuple[float, float]],
    since: float,
    until: float,
    tz: ZoneInfo | dt.timezone = dt.UTC,
) -> Summary:
    """Uptime, downtime, incidents, MTTR and a per-day view over [since, until)."""
    runs = merge_runs(runs)
    watched = intersect(timeline(changes, since, until), runs)
    time_in = {status: 0.0 for status in Status}
    for segment in watched:
        time_in[segment.status] += segment.end - segment.start
    maintenance = time_in[Status.UNDER_MAINTENANCE]
    monitored = sum(time_in.values())
    counted = monitored - maintenance
    incidents = periods(changes, since, until)
    ended = [p.duration for p in incidents if p.duration is not None]
    return Summary(
        uptime=time_in[Status.OPERATIONAL] / counted if counted > 0 else None,
        downtime=sum(time_in[s] for s in OUTAGE),
        maintenance=maintenance,
        monitored=monitored,
        incidents=incidents,
        mttr=sum(ended) / len(ended) if ended else None,
        days=_days(watched, since, until, tz),
        time_in=time_in,
    )


@functools.lru_cache(maxsize=8)
def day_bounds(
    since: float, until: float, tz: ZoneInfo | dt.timezone
) -> tuple[tuple[str, float], ...]:
    """(date, start) of every day that [since, until) touches in `tz`, plus the end as a last
    entry ("", end of the last day)."""
    day = dt.datetime.fromtimestamp(since, tz).date()
    last = dt.datetime.fromtimestamp(max(since, until - 1e-6), tz).date()
    bounds = []
    while day <= last:
        bounds.append((day.isoformat(), dt.datetime.combine(day, dt.time(), tz).timestamp()))
        day += dt.timedelta(days=1)
    bounds.append(("", dt.datetime.combine(day, dt.time(), tz).timestamp()))
    return tuple(bounds)


def _days(
    watched: Sequence[Segment], since: float, until: float, tz: ZoneInfo | dt.timezone
) -> list[Day]:
    bounds = day_bounds(since, until, tz)
    starts = [start for _, start in bounds]
    per_day: list[dict[Status, float]] = [{} for _ in bounds[:-1]]
    for segment in watched:  # spread each segment over the days it touches
        index = max(0, bisect.bisect_right(starts, segment.start) - 1)
        while index < len(per_day) and starts[index] < segment.end:
            overlap = min(segment.end, starts[index + 1]) - max(segment.start, starts[index])
            if overlap > 0:
                time_in = per_day[index]
                time_in[segment.status] = time_in.get(segment.status, 0.0) + overlap
            index += 1
    days = []
    for (date, _), time_in in zip(bounds, per_day, strict=False):
        if len(time_in) == 1:  # the common day: one status all day long
            (status,) = time_in
            uptime = (
                None
                if status is Status.UNDER_MAINTENANCE
                else (1.0 if status is Status.OPERATIONAL else 0.0)
            )
            days.append(Day(date, uptime, status))
            continue
        counted = sum(v for s, v in time_in.items() if s is not Status.UNDER_MAINTENANCE)
        days.append(
            Day(
                date=date,
                uptime=time_in.get(Status.OPERATIONAL, 0.0) / counted if counted > 0 else None,
                worst_status=max(time_in, key=lambda s: s.severity) if time_in else None,
            )
        )
    return days


def latency_by_day(
    series: Iterable[tuple[float, Sequence[int]]],
    since: float,
    until: float,
    tz: ZoneInfo | dt.timezone = dt.UTC,
) -> list[list[int]]:
    """The latency histogram of each day of `summarise`'s days, from (start of an hour or a
    day, counts per bucket) rollups: each rollup counts on the day its start falls in (a
    rollup starting before the window on the first day), so the days add up to the window."""
    bounds = day_bounds(since, until, tz)
    starts = [start for _, start in bounds[:-1]]
    days = [[0] * N_BUCKETS for _ in starts]
    for start, counts in series:
        index = min(max(0, bisect.bisect_right(starts, start) - 1), len(days) - 1)
        days[index] = [a + b for a, b in zip(days[index], counts, strict=True)]
    return days
