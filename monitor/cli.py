"""The `monitor` command. Each command parses its options, makes one library call, and turns
library errors into exit codes: 0 success, 1 the thing checked is not healthy, 2 usage or config.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
from rich import box
from rich.console import Console
from rich.table import Table

from monitor import __version__, logs, reports
from monitor.config import ConfigError, load_config, read_api_key, resolve_config_path
from monitor.logs import Redactor
from monitor.model import Config, Outcome
from monitor.store import Store
from monitor.views import status_document

# The daemon, the probes and the publishers (aiohttp, APScheduler, prometheus-client) are
# imported by the commands that use them, so that `monitor history` and friends start fast.
if TYPE_CHECKING:
    from monitor.incidents import RemoteComponent

config_option = click.option(
    "-c",
    "--config",
    "config_path",
    metavar="PATH",
    help="Config file. Default: $MONITOR_CONFIG, else ./checks.toml.",
)


def load(config_path: str | None) -> Config:
    """Load the config or exit 2 with every error on stderr."""
    path = resolve_config_path(config_path, os.environ)
    try:
        return load_config(path)
    except ConfigError as exc:
        for line in exc.errors:
            click.echo(line, err=True)
        sys.exit(2)


@click.group()
@click.version_option(__version__, prog_name="monitor")
def main() -> None:
    """A synthetic uptime monitor that keeps a public status page honest.

    Every command reads checks.toml (see -c). Exit codes: 0 success, 1 not healthy, 2 usage or
    config error.
    """


@main.command()
@config_option
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one object a line, for journald or a log shipper.",
)
@click.option("--dry-run", is_flag=True, help="Publish to the log only, whatever the config says.")
def run(config_path: str | None, log_level: str, log_format: str, dry_run: bool) -> None:
    """Run the daemon in the foreground: SIGTERM or SIGINT stop it, SIGHUP reloads the config.

    Example: monitor run -c /etc/monitor/checks.toml --log-format json
    """
    from monitor.daemon import Daemon
    from monitor.systemd import Notifier

    config = load(config_path)
    redactor = Redactor()
    logs.setup(log_level, log_format, redactor)
    try:
        daemon = Daemon(config, dry_run=dry_run, redactor=redactor, notifier=Notifier())
    except ConfigError as exc:
        for line in exc.errors:
            click.echo(line, err=True)
        sys.exit(2)
    try:
        asyncio.run(_run(daemon))
    except OSError as exc:  # the listen address taken, the database folder missing, ...
        raise click.ClickException(str(exc)) from exc


async def _run(daemon: Any) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGHUP, daemon.request_reload)
    await daemon.run(stop)


@main.command()
@config_option
def validate(config_path: str | None) -> None:
    """Check the config file; print every error and exit 2 when it is invalid.

    Example: monitor validate -c checks.toml
    """
    config = load(config_path)
    checks = sum(len(c.checks) for c in config.components)
    click.echo(
        f"{config.path}: ok: {checks} checks in {len(config.components)} components, "
        f"publisher {config.publisher.type}"
    )


@main.command()
@config_option
@click.argument("components", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
def check(config_path: str | None, components: tuple[str, ...], as_json: bool) -> None:
    """Probe every check once (or only those of COMPONENTS) and print the results.

    Exits 1 when any check fails. Example: monitor check payment-api --json
    """
    from monitor.daemon import probe_all

    config = load(config_path)
    _check_components(config, components)
    selected = [c for c in config.components if not components or c.id in components]
    results = asyncio.run(probe_all(selected, concurrency=config.monitor.concurrency))
    failed = any(r.outcome is Outcome.FAIL for _, _, r in results)
    if as_json:
        document: dict[str, Any] = {"ok": not failed, "components": []}
        by_component: dict[str, dict[str, Any]] = {}
        for component, probe_check, result in results:
            entry = by_component.get(component.id)
            if entry is None:
                entry = {"id": component.id, "name": component.name, "checks": []}
                by_component[component.id] = entry
                document["components"].append(entry)
            entry["checks"].append(
                {
                    "name": probe_check.name,
                    "type": probe_check.type,
                    "outcome": result.outcome.value,
                    "latency_ms": round(result.latency * 1000, 3),
                    "status_code": result.status_code,
                    "error_kind": result.error_kind.value if result.error_kind else None,
                    "error": result.error,
                    "cert_expiry": result.cert_expiry,
                }
            )
        click.echo(json.dumps(document, indent=2))
    else:
        table = Table(title=f"{len(results)} checks")
        for column in ("component", "check", "outcome", "latency", "error"):
            table.add_column(column, justify="right" if column == "latency" else "left")
        style = {Outcome.OK: "green", Outcome.SLOW: "yellow", Outcome.FAIL: "bold red"}
        for component, probe_check, result in results:
            table.add_row(
                component.id,
                probe_check.name,
                f"[{style[result.outcome]}]{result.outcome.value}[/]",
                f"{result.latency * 1000:.1f} ms",
                f"{result.error_kind}: {result.error}" if result.error else "",
            )
        Console().print(table)
    sys.exit(1 if failed else 0)


@main.group(name="import")
def import_() -> None:
    """Write [[component]] entries from what a status page already has.

    Example: monitor import statuspage -o components.toml
    """


@import_.command(name="statuspage")
@config_option
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="File to write."
)
@click.option("--force", is_flag=True, help="Overwrite --output if it exists.")
def import_statuspage(config_path: str | None, output: Path | None, force: bool) -> None:
    """Read the page's components and print [[component]] entries with their remote_id.

    The page, its id and the API key come from [publisher] in the config. Add a check to each
    entry, then merge them into checks.toml.
    Example: monitor import statuspage -o components.toml
    """
    from monitor.importer import render_components
    from monitor.publishers.base import PublishError, RateLimiter
    from monitor.publishers.statuspage import StatuspageProvider

    config = load(config_path)
    settings = config.publisher
    if settings.type != "statuspage" or settings.page_id is None or settings.url is None:
        click.echo(
            f'{config.path}: [publisher]: type: must be "statuspage" (with page_id and an API '
            "key) to import from Statuspage",
            err=True,
        )
        sys.exit(2)
    if output is not None and output.exists() and not force:
        click.echo(f"{output}: exists; pass --force to overwrite it", err=True)
        sys.exit(2)
    try:
        key = read_api_key(settings, os.environ, path=config.path)
    except ConfigError as exc:
        for line in exc.errors:
            click.echo(line, err=True)
        sys.exit(2)

    async def fetch() -> list[RemoteComponent]:
        provider = StatuspageProvider(
            settings.url or "", settings.page_id or "", key, RateLimiter(settings.rate_limit)
        )
        try:
            return await provider.components()
        finally:
            await provider.close()

    try:
        components = asyncio.run(fetch())
    except PublishError as exc:
        raise click.ClickException(f"cannot read the page's components: {exc}") from exc
    text = render_components(components)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text)
        count = sum(1 for c in components if not c.is_group)
        click.echo(f"{output}: {count} components; add a [[component.check]] to each", err=True)


def window_options(default_since: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    def decorate(fn: Callable[..., None]) -> Callable[..., None]:
        fn = click.option(
            "--tz", default="UTC", show_default=True, help="Time zone for days and dates."
        )(fn)
        fn = click.option("--until", default="now", show_default=True, help="End: like --since.")(
            fn
        )
        fn = click.option(
            "--since",
            default=default_since,
            show_default=True,
            help='Start: a duration ago ("90d"), a date ("2026-01-01") or an RFC 3339 time.',
        )(fn)
        return fn

    return decorate


def _window(since: str, until: str, tz_name: str) -> tuple[float, float, ZoneInfo]:
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(
            f"unknown time zone {tz_name!r}, like Europe/Berlin", param_hint="--tz"
        ) from None
    now = time.time()
    try:
        start, end = reports.parse_when(since, tz, now), reports.parse_when(until, tz, now)
    except reports.BadTime as exc:
        raise click.BadParameter(str(exc)) from None
    if end <= start:
        raise click.BadParameter("--until must be after --since")
    return start, end, tz


def _open_store(config: Config) -> Store:
    database = config.monitor.database
    if not database.exists():
        click.echo(f"{database}: no database yet; start the daemon with: monitor run", err=True)
        sys.exit(2)
    return Store.open(database)


def _check_components(config: Config, components: tuple[str, ...]) -> None:
    known = {c.id for c in config.components}
    unknown = [c for c in components if c not in known]
    if unknown:
        click.echo(
            f"{config.path}: no component {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(sorted(known))}",
            err=True,
        )
        sys.exit(2)


BAR = {
    "operational": "green",
    "degraded_performance": "yellow",
    "partial_outage": "dark_orange",
    "major_outage": "red",
    "under_maintenance": "blue",
}


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


@main.command()
@config_option
@click.argument("components", nargs=-1)
@window_options("30d")
@click.option("--json", "as_json", is_flag=True, help="The contract's JSON document on stdout.")
def history(
    config_path: str | None,
    components: tuple[str, ...],
    since: str,
    until: str,
    tz: str,
    as_json: bool,
) -> None:
    """Uptime over a window per component: uptime, success ratio, downtime, incidents, MTTR,
    latency percentiles, and a bar of one cell per day coloured by its worst status.

    Example: monitor history payment-api --since 90d
    """
    config = load(config_path)
    _check_components(config, components)
    start, end, zone = _window(since, until, tz)
    store = _open_store(config)
    try:
        document = reports.history(config, store, components, start, end, zone, time.time())
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(document, indent=2))
        return
    table = Table(title=f"{document['since']} to {document['until']}", box=box.SIMPLE_HEAD)
    for column in (
        "component",
        "uptime",
        "probes ok",
        "down",
        "incidents",
        "MTTR",
        "p50/p95/p99 ms",
    ):
        table.add_column(column, no_wrap=True)
    bars = []
    for row in document["components"]:
        latency = row["latency_ms"]
        table.add_row(
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
        cells = "".join(
            f"[{BAR[day['worst_status']]}]█[/]" if day["worst_status"] else "[grey50]·[/]"
            for day in row["days"][-90:]
        )
        bars.append(f"{row['id']:>12} {cells}")
    console = Console()
    console.print(table)
    for bar in bars:
        console.print(bar, highlight=False)
    console.print(
        "[dim]one cell a day, oldest first: [green]█[/] operational, [yellow]█[/] degraded, "
        "[dark_orange]█[/] partial, [red]█[/] major, [blue]█[/] maintenance, · not monitored[/]"
    )


@main.command()
@config_option
@window_options("30d")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
def incidents(config_path: str | None, since: str, until: str, tz: str, as_json: bool) -> None:
    """Every period away from operational: start, end, duration, worst status, reason, and the
    status page incident published for it.

    Example: monitor incidents --since 2026-01-01 --json
    """
    config = load(config_path)
    start, end, _ = _window(since, until, tz)
    store = _open_store(config)
    try:
        document = reports.incidents(config, store, start, end, config.publisher.type)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(document, indent=2))
        return
    table = Table(
        title=f"incidents {document['since']} to {document['until']}", box=box.SIMPLE_HEAD
    )
    for column in ("component", "start", "duration", "worst", "page incident", "reason"):
        table.add_column(column, no_wrap=column != "reason")
    for row in document["incidents"]:
        table.add_row(
            row["component"],
            row["start"],
            _duration(row["duration_seconds"]) if row["end"] else "ongoing",
            _styled(row["worst_status"]),
            row["status_page_incident"] or "",
            row["reason"],
        )
    Console().print(table)


@main.command()
@config_option
@window_options("1d")
@click.option("--component", help="Only this component's checks.")
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
        _check_components(config, (component,))
    start, end, _ = _window(since, until, tz)
    store = _open_store(config)
    out = sys.stdout
    try:
        rows = reports.export(store, start, end, component)
        if fmt == "json":
            for row in rows:
                out.write(json.dumps(row) + "\n")
        else:
            writer = csv.DictWriter(out, fieldnames=reports.EXPORT_FIELDS, lineterminator="\n")
            writer.writeheader()
            for row in rows:
                writer.writerow(row)
    finally:
        store.close()


STATUS_STYLE = {
    "operational": "green",
    "degraded_performance": "yellow",
    "partial_outage": "dark_orange",
    "major_outage": "bold red",
    "under_maintenance": "blue",
    "up": "green",
    "slow": "yellow",
    "flaky": "dark_orange",
    "down": "bold red",
}


def _parse(rfc3339: str) -> float:
    return dt.datetime.fromisoformat(rfc3339).timestamp()


def _when(seconds: float) -> str:
    """Local time: the clock of whoever reads the table, compact when it is today."""
    moment = dt.datetime.fromtimestamp(seconds)
    if moment.date() == dt.date.today():
        return moment.strftime("%H:%M:%S")
    return moment.strftime("%Y-%m-%d %H:%M")


def _styled(value: str | None) -> str:
    if value is None:
        return "[dim]not probed yet[/]"
    return f"[{STATUS_STYLE.get(value, 'default')}]{value}[/]"


@main.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="The contract's JSON document on stdout.")
def status(config_path: str | None, as_json: bool) -> None:
    """Show each component's status and since when, and each check's state, from the database.

    Works while the daemon runs: it reads what the daemon last wrote.
    Example: monitor status --json
    """
    config = load(config_path)
    database = config.monitor.database
    if not database.exists():
        click.echo(f"{database}: no database yet; start the daemon with: monitor run", err=True)
        sys.exit(2)
    store = Store.open(database)
    publisher = config.publisher.type
    try:
        checks, components = store.statuses()
        remotes, queued, error = store.publishing(publisher)
    finally:
        store.close()
    incidents = {
        cid: {"id": r.incident_id, "status": r.incident_status.value}
        for cid, r in remotes.items()
        if r.incident_id is not None and r.incident_status is not None
    }
    document = status_document(config.components, components, checks, incidents)
    document["publisher"] = {
        "type": publisher,
        "queued": sum(queued.values()),
        "error": error,
    }
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
            table.add_row(
                component["id"] if first else "",
                _styled(component["status"]) if first else "",
                _when(_parse(component["since"])) if first and component["since"] else "",
                check["name"],
                _styled(check["state"]),
                last,
                end_section=index == len(component["checks"]) - 1,
            )
    console = Console()
    console.print(table)
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


if __name__ == "__main__":  # pragma: no cover
    main()
