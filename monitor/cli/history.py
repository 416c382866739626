"""Looking back: uptime over a window, the incidents in it, and the raw results as data."""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from typing import Any

import click

from monitor import reports
from monitor.cli.common import (
    check_components,
    config_option,
    load,
    parse_window,
    reading,
    window_options,
)
from monitor.cli.completion import complete_components
from monitor.cli.output import Column, Layout, console, day_bar, day_legend, literal, styled
from monitor.model import Config

HISTORY_COLUMNS = (
    Column("component"),
    Column("uptime", justify="right"),
    Column("probes ok", justify="right"),
    Column("down", justify="right"),
    Column("incidents", justify="right"),
    Column("MTTR", justify="right"),
    Column("p50/p95/p99 ms", justify="right"),
)
INCIDENT_COLUMNS = (
    Column("component"),
    Column("start"),
    Column("duration", justify="right"),
    Column("worst"),
    Column("page incident"),
)
BAR_DAYS = 90  # days in the bar at most: the last ones


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.3f}%"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.1f}m"
    if seconds < 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


@click.command()
@config_option
@click.argument("components", nargs=-1, shell_complete=complete_components)
@window_options("30d")
@click.option(
    "--location",
    metavar="NAME",
    help="With [cluster]: the location whose probes to show; a node keeps only its own.",
)
@click.option("--json", "as_json", is_flag=True, help="The contract's JSON document on stdout.")
def history(
    config_path: str | None,
    components: tuple[str, ...],
    since: str,
    until: str,
    tz: str,
    location: str | None,
    as_json: bool,
) -> None:
    """Uptime over a window per component: uptime, success ratio, downtime, incidents, MTTR,
    latency percentiles, and a bar of one cell per day coloured by its worst status. With
    [cluster], probes and latency are this node's location's; uptime is the cluster's.

    Example: monitor history payment-api --since 90d
    """
    config = load(config_path)
    check_components(config, components)
    start, end, zone = parse_window(since, until, tz)
    here = _location(config, location)
    with reading(config) as store:
        document = reports.history(
            config, store, components, start, end, zone, time.time(), latency_per_day=as_json
        )
    if here is not None:
        document = _with_location(document, here)
    if as_json:
        click.echo(json.dumps(document, indent=2))
        return
    out = console()
    title = f"{document['since']} to {document['until']}"
    if here is not None:
        title += f", probes and latency from location {here} (this node)"
    table = Layout(HISTORY_COLUMNS, out.width, title=title)
    bars = Layout((Column("component"), Column("days", wrap=True)), out.width, header=False)
    for row in document["components"]:
        latency = row["latency_ms"]
        table.add(
            row["id"],
            _pct(row["uptime"]),
            _pct(row["success_ratio"]),
            _duration(row["downtime_seconds"]),
            str(row["incidents"]),
            _duration(row["mttr_seconds"]),
            "/".join(
                "-" if latency[p] is None else f"{latency[p]:g}" for p in ("p50", "p95", "p99")
            ),
        )
        bars.add(row["id"], day_bar([day["worst_status"] for day in row["days"][-BAR_DAYS:]]))
    table.print(out)
    out.print()
    bars.print(out)
    out.print(day_legend())


def _location(config: Config, asked: str | None) -> str | None:
    """The location whose probes this node holds: its own ([cluster] location), None without
    [cluster]. Another location's results are on that location's nodes only, so asking for
    one exits 2 naming them, as PostgreSQL knows them; so does --location without [cluster]."""
    if config.cluster is None:
        if asked is not None:
            click.echo(
                f"--location needs a [cluster] table in {config.path}: without it every "
                "probe is this machine's",
                err=True,
            )
            sys.exit(2)
        return None
    own = config.cluster.location
    if asked is None or asked == own:
        return own
    from monitor.cluster.look import LookFailed, nodes_of
    from monitor.cluster.node import LIVE_WITHIN

    here = f"this node probes from {own} ([cluster] location in {config.path})"
    try:
        nodes = nodes_of(config, os.environ, asked)
    except LookFailed as exc:
        click.echo(
            f"results of {asked} are kept by its nodes, which cannot be read now: {exc}; {here}",
            err=True,
        )
        sys.exit(2)
    if not nodes:
        click.echo(f"no node of {asked} is known to the cluster; {here}", err=True)
        sys.exit(2)
    names = ", ".join(n.name + (" (silent)" if n.age > LIVE_WITHIN else "") for n in nodes)
    click.echo(
        f"results of {asked} are kept by its nodes ({names}); run monitor history there; {here}",
        err=True,
    )
    sys.exit(2)


def _with_location(document: dict[str, Any], location: str) -> dict[str, Any]:
    """The document with `"location"` after its window: where its probes were made."""
    return {
        "since": document["since"],
        "until": document["until"],
        "location": location,
        **{k: v for k, v in document.items() if k not in ("since", "until")},
    }


@click.command()
@config_option
@window_options("30d")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
def incidents(config_path: str | None, since: str, until: str, tz: str, as_json: bool) -> None:
    """Every period away from operational: start, end, duration, worst status, reason, and the
    status page incident published for it.

    Example: monitor incidents --since 2026-01-01 --json
    """
    config = load(config_path)
    start, end, _ = parse_window(since, until, tz)
    with reading(config) as store:
        document = reports.incidents(config, store, start, end, config.publisher.type)
    if as_json:
        click.echo(json.dumps(document, indent=2))
        return
    out = console()
    title = f"incidents {document['since']} to {document['until']}"
    table = Layout(INCIDENT_COLUMNS, out.width, title=title)
    for row in document["incidents"]:
        table.add(
            row["component"],
            row["start"],
            _duration(row["duration_seconds"]) if row["end"] else "ongoing",
            styled(row["worst_status"]),
            row["status_page_incident"] or "",
            note=literal(row["reason"]) if row["reason"] else None,
        )
    table.print(out)


@click.command()
@config_option
@window_options("1d")
@click.option(
    "--component", help="Only this component's checks.", shell_complete=complete_components
)
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "json"]), default="json", show_default=True
)
def export(
    config_path: str | None, since: str, until: str, tz: str, component: str | None, fmt: str
) -> None:
    """Raw probe results, streamed: JSON (one object a line) or CSV with a header.

    Example: monitor export --since 1d --format csv > results.csv
    """
    config = load(config_path)
    if component is not None:
        check_components(config, (component,))
    start, end, _ = parse_window(since, until, tz)
    out = sys.stdout
    with reading(config) as store:
        rows = reports.export(store, start, end, component)
        if fmt == "json":
            for row in rows:
                out.write(json.dumps(row) + "\n")
        else:
            writer = csv.DictWriter(out, fieldnames=reports.EXPORT_FIELDS, lineterminator="\n")
            writer.writeheader()
            for row in rows:
                writer.writerow(row)
