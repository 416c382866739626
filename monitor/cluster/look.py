"""One look at the cluster from a command (`monitor status`, `monitor history --location`), not
from a node: who leads, at which epoch, every node's last heartbeat, each check's state as the
leader judged it and each location's view of it, read straight from PostgreSQL over one
connection under one deadline, so a database that is down or blackholed costs seconds, never a
hang.

A database that cannot be used is data, never an exception: the view's `error` says why (no
password in it), and the command still prints what the node's own SQLite holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qs, unquote

from monitor.cluster import shared
from monitor.cluster.lease import leader_of
from monitor.cluster.node import LIVE_WITHIN, ClusterView, describe_error
from monitor.cluster.votes import Report, decide_all
from monitor.config import ConfigError
from monitor.config.loader import read_database_url
from monitor.config.urls import redact_url, split_url
from monitor.logs import Redactor
from monitor.model import Config
from monitor.state import CheckStatus

if TYPE_CHECKING:
    import asyncpg

T = TypeVar("T")

TIMEOUT = 3.0  # seconds for the whole look: connecting and every statement
NO_DRIVER = "asyncpg is not installed; cluster mode needs it: pip install 'monitor[cluster]'"
CLOSE_TIMEOUT = 0.5
NO_SCHEMA = "the database has no cluster tables yet: no node has started with it"
BAD_URL = "the URL cannot be parsed; check its host, port and percent-encoding"


class LookFailed(Exception):
    """The database cannot be used; the message says why, with no password in it."""


def look(
    config: Config,
    environ: Mapping[str, str],
    *,
    timeout: float = TIMEOUT,
    clock: Callable[[], float] = time.time,
) -> ClusterView:
    """The cluster as PostgreSQL has it now; `config` must have a [cluster] table. Its
    `decisions` are made as a node makes them (`decide_all` over the reports of the nodes
    heard from within LIVE_WITHIN), so `ClusterView.locations()` is /status.json's block. On
    any failure (the URL unreadable, the driver missing, the database away or not ours) the
    view has no leader, epoch 0, no nodes, no checks, no decisions, and `error`."""
    settings = config.cluster
    assert settings is not None
    view = ClusterView(settings.node, settings.location)
    try:
        seen = ask(config, environ, _everything, timeout=timeout, name="monitor status")
    except LookFailed as exc:
        view.error = str(exc)
        return view
    view.leader, view.epoch, view.nodes, view.checks = (
        seen.leader,
        seen.epoch,
        seen.nodes,
        seen.checks,
    )
    view.decisions = decide_all(
        seen.reports, config.components, now=clock(), stale_after=settings.stale_after
    )
    return view


def nodes_of(
    config: Config, environ: Mapping[str, str], location: str, *, timeout: float = TIMEOUT
) -> list[shared.Node]:
    """Every node the cluster knows in `location`, by name; raises LookFailed."""
    found = ask(config, environ, _nodes, timeout=timeout, name="monitor history")
    return [node for node in found if node.location == location]


def document(view: ClusterView) -> dict[str, Any]:
    """`"cluster"` of `monitor status --json`: the daemon's block, listing every node it knows,
    each with `alive` (heard from within LIVE_WITHIN seconds, on the database server's clock)."""
    out = view.document()
    for shown, node in zip(out["nodes"], view.nodes, strict=True):
        shown["alive"] = node.age <= LIVE_WITHIN
    return out


def ask(
    config: Config,
    environ: Mapping[str, str],
    query: Callable[[asyncpg.Connection], Awaitable[T]],
    *,
    timeout: float = TIMEOUT,
    name: str = "monitor",
) -> T:
    """`query` run on one connection to the cluster's database, all within `timeout`; raises
    LookFailed naming why it could not be (the URL unreadable, the driver missing, the database
    away or not ours). `name` is the session's application_name."""
    settings = config.cluster
    assert settings is not None
    try:
        url = read_database_url(settings, environ, path=config.path)
    except ConfigError as exc:  # the messages name the variable or file, never the URL
        raise LookFailed("; ".join(exc.errors)) from None
    try:
        import asyncpg  # noqa: F401 - only in cluster mode, and only here
    except ImportError:
        raise LookFailed(NO_DRIVER) from None
    try:
        return asyncio.run(_read(url, timeout, query, name))
    except (OSError, TimeoutError, Unusable) as exc:
        raise LookFailed(_describe(exc, url)) from None
    except Exception as exc:  # the driver's own: asyncpg.PostgresError, InterfaceError
        if not type(exc).__module__.startswith("asyncpg"):
            raise
        raise LookFailed(_describe(exc, url)) from None


class Unusable(Exception):
    """The database cannot be used, for a reason of our own words."""


async def _read(
    url: str, within: float, query: Callable[[asyncpg.Connection], Awaitable[T]], name: str
) -> T:
    import asyncpg

    deadline = asyncio.get_running_loop().time() + within
    async with asyncio.timeout_at(deadline):
        try:
            conn = await asyncpg.connect(
                url,
                timeout=within,
                command_timeout=within,
                server_settings={"application_name": name},
            )
        except ValueError as exc:
            if type(exc) is not ValueError:  # the driver's own, such as a bad sslmode: shown
                raise
            # The parser's words may quote a piece of the URL, the password's included.
            raise Unusable(BAD_URL) from None
    try:
        async with asyncio.timeout_at(deadline):
            async with conn.transaction(isolation="repeatable_read", readonly=True):  # one snapshot
                if not await conn.fetchval("SELECT to_regclass('lease') IS NOT NULL"):
                    raise Unusable(NO_SCHEMA)
                return await query(conn)
    finally:
        with contextlib.suppress(Exception):  # a close that fails or lingers aborts instead
            await conn.close(timeout=CLOSE_TIMEOUT)


@dataclass(frozen=True, slots=True)
class _Seen:
    leader: str | None  # None when the lease has run out
    epoch: int
    nodes: list[shared.Node]
    checks: dict[str, CheckStatus]  # as the leader judged them
    reports: list[tuple[str, Report]]  # of the nodes heard from within LIVE_WITHIN


async def _everything(conn: asyncpg.Connection) -> _Seen:
    leader, epoch, live = await leader_of(conn)
    nodes = await shared.nodes(conn)
    checks, _ = await shared.restore(conn)
    reports = await shared.Reports().load(conn, LIVE_WITHIN)
    return _Seen(leader if live else None, epoch, nodes, checks, reports)


async def _nodes(conn: asyncpg.Connection) -> list[shared.Node]:
    return await shared.nodes(conn)


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
