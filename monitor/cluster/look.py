"""One look at the cluster from a command (`monitor status`), not from a node: who leads, at
which epoch, and every node's last heartbeat, read straight from PostgreSQL over one connection
under one deadline, so a database that is down or blackholed costs seconds, never a hang.

A database that cannot be used is data, never an exception: the view's `error` says why (no
password in it), and the command still prints what the node's own SQLite holds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote

from monitor.cluster import shared
from monitor.cluster.lease import leader_of
from monitor.cluster.node import LIVE_WITHIN, ClusterView, describe_error
from monitor.config import ConfigError
from monitor.config.loader import read_database_url
from monitor.config.urls import redact_url, split_url
from monitor.logs import Redactor
from monitor.model import Config

if TYPE_CHECKING:
    import asyncpg

TIMEOUT = 3.0  # seconds for the whole look: connecting and every statement
NO_DRIVER = "asyncpg is not installed; cluster mode needs it: pip install 'monitor[cluster]'"
CLOSE_TIMEOUT = 0.5
NO_SCHEMA = "the database has no cluster tables yet: no node has started with it"
BAD_URL = "the URL cannot be parsed; check its host, port and percent-encoding"


def look(config: Config, environ: Mapping[str, str], *, timeout: float = TIMEOUT) -> ClusterView:
    """The cluster as PostgreSQL has it now; `config` must have a [cluster] table. On any
    failure (the URL unreadable, the driver missing, the database away or not ours) the view
    has no leader, epoch 0, no nodes, and `error`."""
    settings = config.cluster
    assert settings is not None
    view = ClusterView(settings.node, settings.location)
    try:
        url = read_database_url(settings, environ, path=config.path)
    except ConfigError as exc:  # the messages name the variable or file, never the URL
        view.error = "; ".join(exc.errors)
        return view
    try:
        import asyncpg  # noqa: F401 - only in cluster mode, and only here
    except ImportError:
        view.error = NO_DRIVER
        return view
    try:
        leader, epoch, nodes = asyncio.run(_read(url, timeout))
    except (OSError, TimeoutError, Unusable) as exc:
        view.error = _describe(exc, url)
    except Exception as exc:  # the driver's own: asyncpg.PostgresError, InterfaceError
        if not type(exc).__module__.startswith("asyncpg"):
            raise
        view.error = _describe(exc, url)
    else:
        view.leader, view.epoch, view.nodes = leader, epoch, nodes
    return view


def document(view: ClusterView) -> dict[str, Any]:
    """`"cluster"` of `monitor status --json`: the daemon's block, listing every node it knows,
    each with `alive` (heard from within LIVE_WITHIN seconds, on the database server's clock)."""
    out = view.document()
    for shown, node in zip(out["nodes"], view.nodes, strict=True):
        shown["alive"] = node.age <= LIVE_WITHIN
    return out


class Unusable(Exception):
    """The database cannot be used, for a reason of our own words."""


async def _read(url: str, within: float) -> tuple[str | None, int, list[shared.Node]]:
    import asyncpg

    deadline = asyncio.get_running_loop().time() + within
    async with asyncio.timeout_at(deadline):
        try:
            conn = await asyncpg.connect(
                url,
                timeout=within,
                command_timeout=within,
                server_settings={"application_name": "monitor status"},
            )
        except ValueError as exc:
            if type(exc) is not ValueError:  # the driver's own, such as a bad sslmode: shown
                raise
            # The parser's words may quote a piece of the URL, the password's included.
            raise Unusable(BAD_URL) from None
    try:
        async with asyncio.timeout_at(deadline):
            return await _query(conn)
    finally:
        with contextlib.suppress(Exception):  # a close that fails or lingers aborts instead
            await conn.close(timeout=CLOSE_TIMEOUT)


async def _query(conn: asyncpg.Connection) -> tuple[str | None, int, list[shared.Node]]:
    async with conn.transaction(isolation="repeatable_read", readonly=True):  # one snapshot
        if not await conn.fetchval("SELECT to_regclass('lease') IS NOT NULL"):
            raise Unusable(NO_SCHEMA)
        leader, epoch, live = await leader_of(conn)
        nodes = await shared.nodes(conn)
    return (leader if live else None), epoch, nodes


def _describe(exc: BaseException, url: str) -> str:
    """Why, naming the database as `redact_url` shows it; the password is scrubbed from the
    reason too, as written and decoded, in case a driver's message quotes it outside a URL."""
    redactor = Redactor()
    parts = split_url(url)
    if parts is not None and parts.userinfo is not None and ":" in parts.userinfo:
        password = parts.userinfo.partition(":")[2]
        redactor.add([password, unquote(password)])
    if parts is not None and parts.query:  # libpq's ?password=... works too
        redactor.add(parse_qs(parts.query).get("password", []))
    if isinstance(exc, Unusable):
        why = str(exc)
    elif isinstance(exc, TimeoutError) and not str(exc):
        why = "no answer within the deadline (TimeoutError)"
    else:
        why = describe_error(exc)
    return f"{redact_url(url)}: {redactor.redact(why)}"
