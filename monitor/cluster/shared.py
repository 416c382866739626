"""The shared state in PostgreSQL, read and written: one function per thing a node or the leader
does, each its own short statement or transaction. Every write of the leader is fenced
(`Lease.fence` first, in the same transaction); a node's own reports are not, they are its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from monitor.cluster.lease import Lease
from monitor.cluster.votes import Report
from monitor.engine import Change
from monitor.recorder import Route
from monitor.state import (
    CheckState,
    CheckStatus,
    ComponentStatus,
    ComponentTransition,
    Status,
)
from monitor.store.codes import CHECK_STATE_CODE
from monitor.store.saved import decode_check_status, encode_check_status

if TYPE_CHECKING:
    import asyncpg

Row = tuple[str, str, float, float | None, str]
"""A node's report of one check as pushed: (key, state, since, last probe at, data)."""


def report_row(key: str, status: CheckStatus) -> Row:
    return (key, status.state.value, status.since, status.last_at, encode_check_status(status))


def _status(state: str, since: float, data: str) -> CheckStatus:
    return decode_check_status(CHECK_STATE_CODE[CheckState(state)], round(since * 1000), data)


def _columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """Rows as columns, for `unnest`."""
    return [[row[i] for row in rows] for i in range(width)]


async def push(
    conn: asyncpg.Connection,
    node: str,
    location: str,
    incarnation: str,
    rows: Sequence[Row],
    keep: Sequence[str] | None = None,
) -> None:
    """A node's heartbeat and its changed reports, in one transaction; `keep`, when given, is
    every key the node probes (its reports of other keys are dropped: a reload removed them)."""
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO nodes (name, location, incarnation, started_at, last_seen) "
            "VALUES ($1, $2, $3, now(), now()) "
            "ON CONFLICT (name) DO UPDATE SET location = excluded.location, "
            "last_seen = excluded.last_seen, incarnation = excluded.incarnation, "
            "started_at = CASE WHEN nodes.incarnation = excluded.incarnation "
            "THEN nodes.started_at ELSE excluded.started_at END",
            node,
            location,
            incarnation,
        )
        if rows:
            await conn.execute(
                "INSERT INTO node_checks (node, key, state, since, last_at, data) "
                "SELECT $1, * FROM unnest($2::text[], $3::text[], $4::float8[], $5::float8[], "
                "$6::text[]) "
                "ON CONFLICT (node, key) DO UPDATE SET state = excluded.state, "
                "since = excluded.since, last_at = excluded.last_at, data = excluded.data",
                node,
                *_columns(rows, 5),
            )
        if keep is not None:
            await conn.execute(
                "DELETE FROM node_checks WHERE node = $1 AND NOT (key = ANY($2::text[]))",
                node,
                list(keep),
            )


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    location: str
    last_seen: float  # Unix seconds, the server's clock
    age: float  # seconds since, the server's clock


async def nodes(conn: asyncpg.Connection) -> list[Node]:
    rows = await conn.fetch(
        "SELECT name, location, extract(epoch FROM last_seen) AS seen, "
        "extract(epoch FROM now() - last_seen) AS age FROM nodes ORDER BY name"
    )
    return [Node(r["name"], r["location"], float(r["seen"]), float(r["age"])) for r in rows]


async def forget_nodes(conn: asyncpg.Connection, lease: Lease, after: float) -> list[str]:
    """Drop the nodes not heard from for `after` seconds, and their reports (fenced)."""
    async with conn.transaction():
        await lease.fence(conn)
        gone = [
            row["name"]
            for row in await conn.fetch(
                "DELETE FROM nodes WHERE last_seen < now() - make_interval(secs => $1) "
                "RETURNING name",
                after,
            )
        ]
        if gone:
            await conn.execute("DELETE FROM node_checks WHERE node = ANY($1::text[])", gone)
    return gone


class Reports:
    """The leader's copy of every node's reports, refreshed by `load`: a report is decoded
    again only when its row changed."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], tuple[tuple[Any, ...], Report]] = {}

    async def load(self, conn: asyncpg.Connection, live_within: float) -> list[tuple[str, Report]]:
        """(key, report) of every node heard from within `live_within` seconds."""
        rows = await conn.fetch(
            "SELECT c.node, n.location, c.key, c.state, c.since, c.data "
            "FROM node_checks c JOIN nodes n ON n.name = c.node "
            "WHERE n.last_seen > now() - make_interval(secs => $1)",
            live_within,
        )
        fresh: dict[tuple[str, str], tuple[tuple[Any, ...], Report]] = {}
        for row in rows:
            ident = (row["node"], row["key"])
            raw = tuple(row)
            have = self._rows.get(ident)
            if have is not None and have[0] == raw:
                fresh[ident] = have
                continue
            status = _status(row["state"], row["since"], row["data"])
            fresh[ident] = (raw, Report(row["node"], row["location"], status))
        self._rows = fresh
        return [(key, report) for (_, key), (_, report) in fresh.items()]


async def restore(
    conn: asyncpg.Connection,
) -> tuple[dict[str, CheckStatus], dict[str, ComponentStatus]]:
    """The state the last leader left: each check's judged state, each component's status."""
    checks = {
        r["key"]: _status(r["state"], r["since"], r["data"])
        for r in await conn.fetch("SELECT key, state, since, data FROM check_state")
    }
    statuses = {
        r["component"]: ComponentStatus(Status(r["status"]), r["since"], r["reason"])
        for r in await conn.fetch("SELECT component, status, since, reason FROM component_state")
    }
    return checks, statuses


async def record(
    conn: asyncpg.Connection,
    lease: Lease,
    changes: Iterable[Change],
    route: Route,
    checks: Iterable[tuple[str, CheckStatus]] = (),
    statuses: Iterable[tuple[str, ComponentStatus]] = (),
) -> list[int]:
    """The leader's changes in one fenced transaction: each check's new state, each transition,
    the component's status and its outbox entry. `checks` and `statuses` are saved as well (a
    start's snapshot). Returns the ids of the outbox entries. Raises LeaseLost."""
    changes = list(changes)
    check_rows = dict(checks)
    status_rows = dict(statuses)
    transitions: list[tuple[float, str, str | None, str, str, str]] = []
    outbox: list[tuple[str, str, float, str, str, str]] = []
    for change in changes:
        t = change.transition
        transitions.append((t.at, change.component, change.check, t.before, t.after, t.reason))
        if isinstance(t, ComponentTransition):
            assert change.status is not None
            status_rows[change.component] = change.status
            if route.shows(change.component):
                assert route.publisher is not None
                outbox.append(
                    (route.publisher, change.component, t.at, t.before, t.after, t.reason)
                )
    async with conn.transaction():
        await lease.fence(conn)
        # One statement each, arrays unnested: never executemany here, whose pipelined
        # messages a connection cut midway would leave the server executing without the Sync
        # that ends them, holding the fence's lock with no idle timeout to free it.
        if check_rows:
            await conn.execute(
                "INSERT INTO check_state (key, state, since, data) "
                "SELECT * FROM unnest($1::text[], $2::text[], $3::float8[], $4::text[]) "
                "ON CONFLICT (key) DO UPDATE SET state = excluded.state, "
                "since = excluded.since, data = excluded.data",
                *_columns(
                    [
                        (key, s.state.value, s.since, encode_check_status(s))
                        for key, s in check_rows.items()
                    ],
                    4,
                ),
            )
        if status_rows:
            await conn.execute(
                "INSERT INTO component_state (component, status, since, reason) "
                "SELECT * FROM unnest($1::text[], $2::text[], $3::float8[], $4::text[]) "
                "ON CONFLICT (component) DO UPDATE SET status = excluded.status, "
                "since = excluded.since, reason = excluded.reason",
                *_columns(
                    [(c, s.status.value, s.since, s.reason) for c, s in status_rows.items()], 4
                ),
            )
        if transitions:
            await conn.execute(
                "INSERT INTO transitions (at, component, check_key, before, after, reason, "
                "epoch) SELECT *, $7 FROM unnest($1::float8[], $2::text[], $3::text[], "
                "$4::text[], $5::text[], $6::text[])",
                *_columns(transitions, 6),
                lease.epoch,
            )
        ids: list[int] = []
        for row in outbox:
            ids.append(
                await conn.fetchval(
                    "INSERT INTO outbox (publisher, component, at, before, after, reason) "
                    "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                    *row,
                )
            )
        return ids


@dataclass(frozen=True, slots=True)
class SharedTransition:
    id: int
    at: float
    component: str
    check: str | None
    before: str
    after: str
    reason: str


async def transitions_after(
    conn: asyncpg.Connection, after_id: int, limit: int = 10_000
) -> list[SharedTransition]:
    rows = await conn.fetch(
        "SELECT id, at, component, check_key, before, after, reason FROM transitions "
        "WHERE id > $1 ORDER BY id LIMIT $2",
        after_id,
        limit,
    )
    return [SharedTransition(*tuple(r)) for r in rows]


async def published(conn: asyncpg.Connection) -> list[tuple[str, str, str, float]]:
    """(publisher, incident id, component, started) of every incident the leaders opened."""
    rows = await conn.fetch(
        "SELECT publisher, incident_id, component, started FROM published_incidents"
    )
    return [(r[0], r[1], r[2], r[3]) for r in rows]
