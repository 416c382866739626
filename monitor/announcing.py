"""Scheduled maintenance announced on the page at run time: the delivery worker's side of
monitor.announce. What the page has is kept in the ledger (monitor.ledger) the moment the page
answers; on start the page's upcoming maintenance is read and any with our marker that the
ledger lacks (created just before a crash) is adopted, so nothing is announced twice. What the
page should have is worked out again from the config and the clock on every turn, so a restart,
a reload, a 429 or a page outage loses nothing: the next turn that reaches the page sends it."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence

from monitor.announce import Announced, Announcement, Move, Step, steps, wanted
from monitor.incidents import Target
from monitor.ledger import Ledger
from monitor.model import Maintenance
from monitor.publishers.base import Announcing

log = logging.getLogger("monitor.publish")

LOOK_EVERY = 60.0
"""Seconds at most between two looks at what the page should announce (occurrences come within
`announce_ahead` as time passes)."""


def announced(announcement: Announcement, page_id: str) -> Announced:
    return Announced(
        announcement.key,
        page_id,
        announcement.components,
        announcement.start,
        announcement.end,
        announcement.title,
        announcement.fingerprint,
    )


def from_marker(key: str, page_id: str) -> Announced | None:
    """What a marker found on the page says (components, start); None if it is not one of ours.
    Its fingerprint is unknown, so a wanted one is updated once to be sure of what it says."""
    components, at, moment = key.rpartition("@")
    try:
        start = dt.datetime.strptime(moment, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return None
    if not at or not components:
        return None
    seconds = start.timestamp()
    return Announced(key, page_id, tuple(components.split("+")), seconds, seconds, "", "")


class Announcer:
    def __init__(
        self,
        provider: Announcing,
        ledger: Ledger,
        publisher: str,
        windows: Sequence[Maintenance],
        targets: Mapping[str, Target],
        ahead: float,
    ) -> None:
        self.provider, self.ledger, self.publisher = provider, ledger, publisher
        self.windows, self.targets, self.ahead = tuple(windows), dict(targets), ahead
        self._refused: set[tuple[str, str]] = set()  # (key, fingerprint) the page refused
        self.have: dict[str, Announced] = {}  # as of the last turn, for /status.json

    async def adopt(self) -> None:
        """Record what the page has with our marker and the ledger lacks. Raises
        PublishError when the page cannot be read."""
        found = await self.provider.announced_maintenance()
        have = await self._have()
        known = {record.page_id for record in have.values()}
        for page_id, key in found:
            if key in have or page_id in known:  # a moved one's page may show its old marker
                continue
            record = from_marker(key, page_id)
            if record is not None:
                log.info("adopting scheduled maintenance %s (%s) found on the page", key, page_id)
                await self._record(record)

    async def next_step(self, now: float) -> Step | None:
        """The first step due at `now`, or None."""
        have = await self._have()
        for step in steps(wanted(self.windows, self.targets, now, self.ahead), have, now):
            if step.want is None or (step.want.key, step.want.fingerprint) not in self._refused:
                return step
        return None

    async def send(self, step: Step) -> None:
        """Send one step and record its effect. Raises the provider's PublishError."""
        want, have = step.want, step.have
        if step.move is Move.CREATE:
            assert want is not None
            await self._record(announced(want, await self.provider.create_maintenance(want)))
        elif step.move is Move.UPDATE:
            assert want is not None and have is not None
            await self.provider.update_maintenance(have.page_id, want)
            await self._record(announced(want, have.page_id), replaces=have.key)
        elif step.move is Move.CANCEL:
            assert have is not None
            await self.provider.cancel_maintenance(have.page_id)
            await self.forget(step)
        else:
            await self.forget(step)

    async def forget(self, step: Step) -> None:
        """Drop our record of the announcement the step was about (gone from the page)."""
        if step.have is not None:
            await self.ledger.forget_announced(self.publisher, step.have.key)

    async def refuse(self, step: Step) -> None:
        """The page refused this: not again with the same words until the config changes (a
        cancel it refused is left to the page: our record is dropped)."""
        if step.want is not None:
            self._refused.add((step.want.key, step.want.fingerprint))
        else:
            await self.forget(step)

    async def _have(self) -> dict[str, Announced]:
        self.have = await self.ledger.load_announced(self.publisher)
        return self.have

    async def _record(self, record: Announced, replaces: str | None = None) -> None:
        await self.ledger.record_announced(self.publisher, record, replaces)


def can_announce(provider: object) -> bool:
    return callable(getattr(provider, "create_maintenance", None))


__all__ = ["LOOK_EVERY", "Announcer", "announced", "can_announce", "from_marker"]
