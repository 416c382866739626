"""`monitor status`: what the daemon last wrote, readable while it runs."""

from __future__ import annotations

import datetime as dt
import json
import time

import click
from rich import box
from rich.console import Console
from rich.table import Table

from monitor.cli.common import config_option, load, open_store, styled
from monitor.model import check_key
from monitor.staleness import STALE_INTERVALS, describe, is_stale
from monitor.state import CheckStatus
from monitor.store import HistoryReader
from monitor.views import open_incidents, rfc3339, status_document

DAEMON_SILENT = 30.0  # seconds without a heartbeat after which the daemon counts as stopped


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


@click.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="The contract's JSON document on stdout.")
def status(config_path: str | None, as_json: bool) -> None:
    """Show each component's status and since when, and each check's state, from the database.

    Works while the daemon runs: it reads what the daemon last wrote.
    Example: monitor status --json
    """
    config = load(config_path)
    store = open_store(config)
    publisher = config.publisher.type
    try:
        checks, components = store.statuses()
        remotes, queued, error = store.publishing(publisher)
        reader = HistoryReader(store.db)
        last_run = reader.last_run()
        runs = reader.runs()
    finally:
        store.close()
    last_seen, ended = last_run if last_run is not None else (None, None)
    now = time.time()
    run_start = runs[-1][0] if runs else 0.0
    stale = [
        check_key(component, each)
        for component in config.components
        for each in component.checks
        if is_stale(each, _last_at(checks.get(check_key(component, each))), run_start, now)
    ]
    document = status_document(
        config.components, components, checks, open_incidents(remotes), stale=set(stale)
    )
    document["publisher"] = {
        "type": publisher,
        "queued": sum(queued.values()),
        "error": error,
    }
    # The daemon writes a heartbeat at least every 5 s while it runs.
    running = last_seen is not None and ended is None and time.time() - last_seen < DAEMON_SILENT
    document["daemon"] = {"running": running, "last_seen": rfc3339(last_seen)}
    if as_json:
        click.echo(json.dumps(document, indent=2))
        return
    table = Table(title=f"status at {_when(time.time())}", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("component", "status", "since", "check", "state", "last probe"):
        table.add_column(column, no_wrap=column != "check", min_width=5, overflow="fold")
    now = time.time()
    for component in document["components"]:
        for index, check in enumerate(component["checks"]):
            first = index == 0
            latency = check["last_latency_ms"]
            last = ""
            if check["last_probe_at"]:
                ago = max(0, now - _parse(check["last_probe_at"]))
                last = f"{check['last_outcome']} {latency:.0f} ms, {ago:.0f}s ago"
            state = styled(check["state"])
            if check["stale"]:
                state += " [bold red]stale[/]"
            table.add_row(
                component["id"] if first else "",
                styled(component["status"]) if first else "",
                _when(_parse(component["since"])) if first and component["since"] else "",
                check["name"],
                state,
                last,
                end_section=index == len(component["checks"]) - 1,
            )
    console = Console()
    console.print(table)
    if not running:
        since = f" since {_when(last_seen)}" if last_seen is not None else ""
        console.print(f"[bold red]the daemon is not running{since}[/]: these statuses may be stale")
    elif stale:
        console.print(
            f"[bold red]{len(stale)} check{'s' * (len(stale) != 1)} stale[/], no result for over "
            f"{STALE_INTERVALS} intervals (not being watched): {describe(stale)}"
        )
    for component in document["components"]:
        if component["status"] not in (None, "operational"):
            console.print(f"[bold]{component['id']}[/]: {component['reason']}")
        if component["incident"]:
            incident = component["incident"]
            console.print(
                f"[bold]{component['id']}[/]: incident {incident['id']} ({incident['status']})"
            )
    if publisher != "none":
        waiting = document["publisher"]["queued"]
        line = f"publisher {publisher}: {waiting} change{'s' * (waiting != 1)} waiting"
        if error:
            line += f"; [bold red]{error}[/]"
        console.print(line)
