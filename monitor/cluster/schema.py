"""The shared PostgreSQL schema, created and migrated by `monitor` itself, like the SQLite one.

`MIGRATIONS[n]` takes the schema from version n to n + 1. Every node migrates on start, under
a transaction-scoped advisory lock, so nodes started together migrate once; a database of a
newer schema is refused (a newer release wrote it), naming both versions.

Times the monitor decides (a transition, a check's last probe) are Unix seconds as `float8`,
as in SQLite; times the server decides (the lease, heartbeats) are its own `timestamptz`, so
that no node's clock takes part in who leads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncpg

MIGRATION_LOCK = 7_271_000_001  # pg_advisory_xact_lock key: one migrating node at a time

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS monitor_schema (version integer NOT NULL);
    CREATE TABLE lease (
        name text PRIMARY KEY,
        holder text,                 -- node:pid:random, one per run of a daemon
        node text,
        epoch bigint NOT NULL DEFAULT 0,
        expires_at timestamptz NOT NULL DEFAULT '-infinity',
        acquired_at timestamptz
    );
    INSERT INTO lease (name) VALUES ('publisher');
    CREATE TABLE nodes (
        name text PRIMARY KEY,
        location text NOT NULL,
        incarnation text NOT NULL,
        started_at timestamptz NOT NULL,
        last_seen timestamptz NOT NULL
    );
    CREATE TABLE node_checks (
        node text NOT NULL,
        key text NOT NULL,
        state text NOT NULL,         -- up, slow, flaky, down: the node's hysteresis
        since float8 NOT NULL,
        last_at float8,              -- its last probe
        data text NOT NULL,          -- the rest of its CheckStatus, as SQLite's check_state.data
        PRIMARY KEY (node, key)
    );
    CREATE TABLE check_state (      -- each check's state as the leader judged it
        key text PRIMARY KEY,
        state text NOT NULL,
        since float8 NOT NULL,
        data text NOT NULL
    );
    CREATE TABLE component_state (
        component text PRIMARY KEY,
        status text NOT NULL,
        since float8 NOT NULL,
        reason text NOT NULL
    );
    CREATE TABLE transitions (
        id bigserial PRIMARY KEY,
        at float8 NOT NULL,
        component text NOT NULL,
        check_key text,              -- NULL: the component's own status
        before text NOT NULL,
        after text NOT NULL,
        reason text NOT NULL,
        epoch bigint NOT NULL        -- the lease epoch of the leader that wrote it
    );
    CREATE INDEX transitions_component_at ON transitions (component, at);
    CREATE TABLE outbox (
        id bigserial PRIMARY KEY,
        publisher text NOT NULL,
        component text NOT NULL,
        at float8 NOT NULL,
        before text NOT NULL,
        after text NOT NULL,
        reason text NOT NULL,
        state smallint NOT NULL DEFAULT 0,   -- 0 pending, 1 delivered, 2 failed
        error text,
        done_at float8
    );
    CREATE INDEX outbox_pending ON outbox (publisher, id) WHERE state = 0;
    CREATE TABLE publish_state (
        publisher text NOT NULL,
        component text NOT NULL,
        data text NOT NULL,
        PRIMARY KEY (publisher, component)
    );
    CREATE TABLE publisher_health (publisher text PRIMARY KEY, error text, since float8);
    CREATE TABLE published_incidents (
        publisher text NOT NULL,
        incident_id text NOT NULL,
        component text NOT NULL,
        started float8 NOT NULL,
        PRIMARY KEY (publisher, incident_id)
    );
    CREATE TABLE announcements (
        publisher text NOT NULL,
        key text NOT NULL,
        page_id text NOT NULL,
        components text NOT NULL,
        start float8 NOT NULL,
        "end" float8 NOT NULL,
        title text NOT NULL,
        fingerprint text NOT NULL,
        PRIMARY KEY (publisher, key)
    );
    """,
)
VERSION = len(MIGRATIONS)


class NewerClusterSchema(Exception):
    """The shared database was written by a newer release."""

    def __init__(self, found: int) -> None:
        super().__init__(
            f"the cluster database has schema version {found}, newer than this release's "
            f"{VERSION}: upgrade monitor on this node"
        )
        self.found = found


async def migrate(conn: asyncpg.Connection) -> int:
    """Bring the schema to VERSION; return the version it was at (0: empty). Raises
    NewerClusterSchema."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        exists = await conn.fetchval("SELECT to_regclass('monitor_schema') IS NOT NULL")
        found = 0
        if exists:
            found = await conn.fetchval("SELECT max(version) FROM monitor_schema") or 0
        if found > VERSION:
            raise NewerClusterSchema(found)
        for step in MIGRATIONS[found:]:
            await conn.execute(step)
        if found < VERSION:
            await conn.execute("DELETE FROM monitor_schema")
            await conn.execute("INSERT INTO monitor_schema (version) VALUES ($1)", VERSION)
        return found
