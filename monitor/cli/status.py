"""`monitor status`: what the daemon last wrote, readable while it runs."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

import click
from rich.text import Text

from monitor.cli.common import config_option, load, reading
from monitor.cli.output import Column, Layout, console, literal, styled
from monitor.model import Config, check_key
from monitor.staleness import STALE_INTERVALS, describe, is_stale
from monitor.state import CheckState, CheckStatus
from monitor.views import (
    DaemonView,
    PublisherView,
    open_incidents,
    status_document,
    upcoming_maintenance,
)

if TYPE_CHECKING:
    from monitor.cluster.node import ClusterView

DAEMON_SILENT = 30.0  # seconds without a heartbeat after which the daemon counts as stopped
COLUMNS = (
    Column("component / check"),
    Column("status / state"),
    Column("since", wrap=True),
    Column("last probe", wrap=True),
)
CLUSTER_COLUMNS = (
    Column("node"),
    Column("location"),
    Column("last heartbeat", wrap=True),
    Column("", wrap=True),
)
ALERT = "bold red"
WARN = "yellow"


def _last_at(state: CheckStatus | None) -> float | None:
    return state.last_at if state is not None else None


def _parse(rfc3339: str) -> float:
    return dt.datetime.fromisoformat(rfc3339).timestamp()


def _when(seconds: float) -> str:
    """Local time: the clock of whoever reads the table, compact when it is today."""
    moment = dt.datetime.fromtimestamp(seconds)
    if moment.date() == dt.date.today():
        return moment.strftime("%H:%M:%S")
    return moment.strftime("%Y-%m-%d %H:%M")


def _since(value: str | None) -> str:
    return _when(_parse(value)) if value else ""


@click.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="The contract's JSON document on stdout.")
def status(config_path: str | None, as_json: bool) -> None:
    """Show each component's status and since when, and each check's state, from the database.

    Works while the daemon runs: it reads what the daemon last wrote. With [cluster], also
    which node leads, when each was last heard from, each check's state as the cluster judged
    it and each location's view of it, read from the cluster's PostgreSQL.
    Example: monitor status --json
    """
    config = load(config_path)
    publisher = config.publisher.type
    with reading(config) as store:
        checks, components = store.statuses()
        remotes, queued, error = store.publishing(publisher)
        announced = store.announced(publisher)
        last_run = store.last_run()
        runs = store.runs()
    last_seen, ended = last_run if last_run is not None else (None, None)
    now = time.time()
    run_start = runs[-1][0] if runs else 0.0
    stale = [
        check_key(component, each)
        for component in config.components
        for each in component.checks
        if is_stale(each, _last_at(checks.get(check_key(component, each))), run_start, now)
    ]
    # The daemon writes a heartbeat at least every 5 s while it runs.
    running = last_seen is not None and ended is None and now - last_seen < DAEMON_SILENT
    view = _cluster(config)
    document = status_document(
        config.components,
        components,
        _judged(config, checks, view.checks) if view is not None else checks,
        incidents=open_incidents(remotes),
        maintenance=upcoming_maintenance(announced, now),
        stale=set(stale),
        publisher=PublisherView(publisher, sum(queued.values()), error),
        daemon=DaemonView(running, last_seen),
        cluster=_cluster_block(view) if view is not None else None,
        locations=view.locations() if view is not None else None,
    )
    if as_json:
        click.echo(json.dumps(document, indent=2))
        return
    lost = view.quorum_lost() if view is not None else set()
    no_quorum = [
        (component.id, each.name)
        for component in config.components
        for each in component.checks
        if check_key(component, each) in lost
    ]
    _print(document, stale, last_seen, no_quorum)


def _cluster(config: Config) -> ClusterView | None:
    """The cluster straight from PostgreSQL (a few seconds at most), or None without
    [cluster]; asyncpg is imported only with it."""
    if config.cluster is None:
        return None
    from monitor.cluster.look import look

    return look(config, os.environ)


def _cluster_block(view: ClusterView) -> dict[str, Any]:
    """The `cluster` block of the document (look.py imported only in cluster mode)."""
    from monitor.cluster.look import document

    return document(view)


def _judged(
    config: Config, local: Mapping[str, CheckStatus], judged: Mapping[str, CheckStatus]
) -> dict[str, CheckStatus]:
    """Each check's state as the cluster's leader judged it, else this node's own (a check the
    leader has not judged yet, or PostgreSQL out of reach)."""
    out = {}
    for component in config.components:
        for each in component.checks:
            key = check_key(component, each)
            status = judged.get(key, local.get(key))
            if status is not None:
                out[key] = status
    return out


def _print(
    document: dict[str, Any],
    stale: list[str],
    last_seen: float | None,
    no_quorum: Collection[tuple[str, str]] = (),
) -> None:
    """The table for people: a row per component, its checks indented under it, and under a
    check probed from several locations a row per location; then what needs saying (the
    daemon stopped, stale checks, the cluster, reasons, incidents, the publisher)."""
    out = console()
    now = time.time()
    table = Layout(COLUMNS, out.width, title=f"status at {_when(now)}")
    for component in document["components"]:
        table.add(component["id"], styled(component["status"]), _since(component["since"]), "")
        rows: list[tuple[Text | str, ...]] = []
        for check in component["checks"]:
            last = ""
            if check["last_probe_at"]:
                ago = max(0, now - _parse(check["last_probe_at"]))
                latency = check["last_latency_ms"] or 0
                last = f"{check['last_outcome']} {latency:.0f} ms, {ago:.0f}s ago"
            state = styled(check["state"])
            if check["stale"]:
                state.append(" stale", style=ALERT)
            if (component["id"], check["name"]) in no_quorum:
                state.append(", ").append("no quorum", style=ALERT)
            locations = check.get("locations", {})
            if disagreement := _disagreement(locations):
                state.append(", ").append(disagreement, style=WARN)
            rows.append((literal(f"  {check['name']}"), state, _since(check["since"]), last))
            if len(locations) > 1:
                rows += [_location_row(name, view, now) for name, view in locations.items()]
        for index, cells in enumerate(rows):
            table.add(*cells, end_section=index == len(rows) - 1)
    table.print(out)
    cluster = document["cluster"]
    if cluster is not None and cluster["nodes"]:
        _nodes_table(cluster, out.width).print(out)
    lines = []  # each whole, however long: the terminal wraps it, a pipe gets one line
    if not document["daemon"]["running"]:
        since = f" since {_when(last_seen)}" if last_seen is not None else ""
        lines.append(
            Text.assemble(
                (f"the daemon is not running{since}", ALERT), ": these statuses may be stale"
            )
        )
    elif stale:
        lines.append(
            Text.assemble(
                (f"{len(stale)} check{'s' * (len(stale) != 1)} stale", ALERT),
                f", no result for over {STALE_INTERVALS} intervals (not being watched): ",
                literal(describe(stale)),
            )
        )
    if cluster is not None:
        lines += _cluster_lines(cluster)
    if no_quorum:
        lost = [f"{component}/{name}" for component, name in no_quorum]
        lines.append(
            Text.assemble(
                (f"{len(lost)} check{'s' * (len(lost) != 1)} without a quorum", ALERT),
                " of fresh locations (the state shown holds, nothing is published): ",
                literal(describe(lost)),
            )
        )
    for component in document["components"]:
        name = (component["id"], "bold")
        if component["status"] not in (None, "operational"):
            lines.append(Text.assemble(name, ": ", literal(component["reason"] or "")))
        if incident := component["incident"]:
            lines.append(
                Text.assemble(
                    name, ": incident ", literal(incident["id"]), f" ({incident['status']})"
                )
            )
        for window in component["maintenance"]:
            start, end = _parse(window["start"]), _parse(window["end"])
            lines.append(
                Text.assemble(
                    name,
                    f": maintenance announced {_when(start)} to {_when(end)}: ",
                    literal(window["title"]),
                    " (",
                    literal(window["page_id"]),
                    ")",
                )
            )
    publisher = document["publisher"]
    if publisher["type"] != "none":
        waiting = publisher["queued"]
        line = Text(
            f"publisher {publisher['type']}: {waiting} change{'s' * (waiting != 1)} waiting"
        )
        if publisher["error"]:
            line.append("; ").append(literal(publisher["error"], style=ALERT))
        lines.append(line)
    for line in lines:
        out.print(line, soft_wrap=True)


def _disagreement(locations: Mapping[str, Mapping[str, Any]]) -> str | None:
    """ "2 of 3 locations down" when the fresh locations of a check do not all see the same
    state: how many see the worst of them. None when they agree (stale ones abstain)."""
    fresh = [view["state"] for view in locations.values() if view["fresh"]]
    if len(set(fresh)) < 2:
        return None
    worst = max(fresh, key=lambda state: CheckState(state).severity)
    return f"{fresh.count(worst)} of {len(fresh)} locations {worst}"


def _location_row(name: str, view: Mapping[str, Any], now: float) -> tuple[Text | str, ...]:
    """A location's view of a check, under it: its state (stale when it no longer votes),
    since when, and its last probe with the node that made it."""
    state = styled(view["state"])
    if not view["fresh"]:
        state.append(" stale", style=WARN)
    last = Text()
    if view["last_probe_at"]:
        at = _parse(view["last_probe_at"])
        last.append(f"{_ago(now - at, at)} from ").append_text(literal(view["node"]))
    return (literal(f"    {name}"), state, _since(view["since"]), last)


def _ago(seconds: float, at: float) -> str:
    """How long ago, in words that stay short however stale a location has gone."""
    if seconds < 120:
        return f"{max(0, seconds):.0f}s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"at {_when(at)}"


def _nodes_table(cluster: dict[str, Any], width: int) -> Layout:
    """A row per node the cluster knows, under the components: the leader marked, and a node
    not heard from for LIVE_WITHIN seconds (by the database server's clock) marked silent."""
    table = Layout(CLUSTER_COLUMNS, width, title=f"cluster, lease epoch {cluster['epoch']}")
    for node in cluster["nodes"]:
        marks = Text()
        if node["name"] == cluster["leader"]:
            marks.append("leader", style="bold")
        if not node["alive"]:
            marks.append(", " if marks else "").append("silent", style=WARN)
        table.add(node["name"], node["location"], _since(node["last_seen"]), marks)
    return table


def _cluster_lines(cluster: dict[str, Any]) -> list[Text]:
    """What is wrong with the cluster as a whole: its database cannot be read from here, no
    node leads (nothing is published), or no node has reported yet."""
    if cluster["error"]:
        return [
            Text.assemble(
                ("cluster database unreachable", ALERT),
                " (the component statuses above are this node's last copy): ",
                literal(cluster["error"], style=ALERT),
            )
        ]
    lines = []
    if cluster["leader"] is None:
        lines.append(
            Text.assemble(("the cluster has no leader", ALERT), ": nothing is being published")
        )
    if not cluster["nodes"]:
        lines.append(Text("no node has reported to the cluster database yet"))
    return lines
