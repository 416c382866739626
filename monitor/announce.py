"""Scheduled maintenance announced on the page: which occurrences of the config's
[[maintenance]] windows the page should show `announce_ahead` before they start, and the steps
that take the page from what we announced to that. Pure: time is an argument.

An occurrence is known by its marker, `key`: its components and its start ("api+web@2026-12-06
T01:00:00Z"), sent with it to the page so that one created just before a crash is found again.
A window changed in the config changes what an occurrence should say (its end, title, message,
reminders): the announced one is updated. One whose start moved takes the place of an announced
one of the same components that is no longer wanted, in order of start: also an update. One that
is wanted no more is cancelled if it has not started; one that has started is left to finish.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from enum import Enum

from monitor.incidents import Target
from monitor.maintenance import occurrences
from monitor.model import Maintenance


@dataclass(frozen=True)
class Announcement:
    """One occurrence as the page should show it."""

    key: str
    components: tuple[str, ...]  # our component ids
    remote_ids: tuple[str, ...]  # theirs on the page
    start: float
    end: float
    title: str
    message: str
    remind: bool = True
    auto_start: bool = True
    auto_complete: bool = True

    @property
    def fingerprint(self) -> str:
        """What the page shows of it: a change here is an update."""
        fields = asdict(self)
        del fields["key"]
        text = json.dumps(fields, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Announced:
    """One occurrence the page has, as we recorded it (or found it by its marker)."""

    key: str
    page_id: str
    components: tuple[str, ...]
    start: float
    end: float
    title: str
    fingerprint: str


class Move(Enum):
    CREATE = "create"
    UPDATE = "update"
    CANCEL = "cancel"  # delete it from the page: it has not started
    FORGET = "forget"  # it ended (or started and is wanted no more): drop our record


@dataclass(frozen=True)
class Step:
    move: Move
    want: Announcement | None = None  # CREATE, UPDATE
    have: Announced | None = None  # UPDATE, CANCEL, FORGET

    def describe(self) -> str:
        what = self.want or self.have
        assert what is not None
        return f"{self.move.value} scheduled maintenance {what.key}"


def marker(components: Sequence[str], start: float) -> str:
    moment = dt.datetime.fromtimestamp(start, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{'+'.join(components)}@{moment}"


def default_title(names: Sequence[str]) -> str:
    return f"Scheduled maintenance: {', '.join(names)}"


def default_message(names: Sequence[str]) -> str:
    return f"We will be performing scheduled maintenance on {', '.join(names)}."


def wanted(
    windows: Sequence[Maintenance], targets: Mapping[str, Target], now: float, ahead: float
) -> list[Announcement]:
    """Every occurrence the page should show at `now`: those of windows with a component on the
    page, starting within `ahead` (and not yet ended), in order of start. Nothing when `ahead`
    is 0."""
    if ahead <= 0:
        return []
    found: dict[str, Announcement] = {}
    for window in windows:
        shown = tuple(sorted(c for c in set(window.components) if c in targets))
        if not shown:
            continue
        names = [targets[c].name for c in shown]
        for start, end in occurrences(window, now, now + ahead):
            key = marker(shown, start)
            found.setdefault(
                key,
                Announcement(
                    key=key,
                    components=shown,
                    remote_ids=tuple(targets[c].remote_id for c in shown),
                    start=start,
                    end=end,
                    title=window.title or default_title(names),
                    message=window.message or default_message(names),
                    remind=window.remind,
                    auto_start=window.auto_start,
                    auto_complete=window.auto_complete,
                ),
            )
    return sorted(found.values(), key=lambda a: (a.start, a.key))


def steps(want: Sequence[Announcement], have: Mapping[str, Announced], now: float) -> list[Step]:
    """What to send, in order of start, to take the page from `have` to `want`."""
    wanted_keys = {a.key for a in want}
    out: list[Step] = []
    gone: dict[tuple[str, ...], list[Announced]] = defaultdict(list)
    for prior in sorted(have.values(), key=lambda a: (a.start, a.key)):
        if prior.key in wanted_keys:
            continue
        if prior.end <= now or prior.start <= now:
            out.append(Step(Move.FORGET, have=prior))  # over, or begun: left to finish
        else:
            gone[prior.components].append(prior)
    for new in want:
        old = have.get(new.key)
        if old is None and gone.get(new.components) and new.start > now:
            old = gone[new.components].pop(0)  # the same window, moved
            out.append(Step(Move.UPDATE, want=new, have=old))
        elif old is None:
            if new.start > now:  # one already begun is not announced after the fact
                out.append(Step(Move.CREATE, want=new))
        elif old.fingerprint != new.fingerprint and new.start > now:
            out.append(Step(Move.UPDATE, want=new, have=old))
    out.extend(Step(Move.CANCEL, have=old) for olds in gone.values() for old in olds)
    return sorted(out, key=_order)


def _order(step: Step) -> tuple[float, str]:
    what = step.want or step.have
    assert what is not None
    return (what.start, what.key)


__all__ = [
    "Announced",
    "Announcement",
    "Move",
    "Step",
    "default_message",
    "default_title",
    "marker",
    "steps",
    "wanted",
]
