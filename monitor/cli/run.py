"""Running the monitor: the daemon itself, a dry check of the config, and a one-off probe."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import signal
import sys
from pathlib import Path
from typing import Any

import click
from rich.text import Text

from monitor import logs, loops
from monitor.cli.common import check_components, config_option, load, store_failed
from monitor.cli.completion import complete_components
from monitor.cli.output import Column, Layout, console, literal
from monitor.config import ConfigError, Invalid, cluster_name
from monitor.lock import DaemonLock, LockError, LockHeld
from monitor.logs import Redactor
from monitor.model import Config, Outcome
from monitor.store import StoreError


def _name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A --node or --location: the same names the [cluster] keys take."""
    try:
        return None if value is None else cluster_name(value)
    except Invalid as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


@click.command()
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
@click.option(
    "--node",
    metavar="NAME",
    callback=_name,
    help="Cluster mode: this daemon's name, instead of [cluster] node (default: the host name).",
)
@click.option(
    "--location",
    metavar="NAME",
    callback=_name,
    help="Cluster mode: where it probes from, instead of [cluster] location.",
)
def run(
    config_path: str | None,
    log_level: str,
    log_format: str,
    dry_run: bool,
    node: str | None,
    location: str | None,
) -> None:
    """Run the daemon in the foreground: SIGTERM or SIGINT stop it, SIGHUP reloads the config.

    Example: monitor run -c /etc/monitor/checks.toml --log-format json --node web-1
    """
    from monitor.daemon import Daemon
    from monitor.systemd import Notifier

    config = cluster_names(load(config_path), node=node, location=location)
    redactor = Redactor()
    logs.setup(log_level, log_format, redactor)
    lock = _lock(config.path, config.monitor.database)
    try:
        daemon = Daemon(config, dry_run=dry_run, redactor=redactor, notifier=Notifier())
        loops.run(_run(daemon))
    except ConfigError as exc:  # start-up problems that name a key: a port in use, a bad key file
        for line in exc.errors:
            click.echo(line, err=True)
        sys.exit(2)
    except StoreError as exc:
        store_failed(exc, prefix=f"{config.path}: [monitor] database: ")
    finally:
        lock.release()


def cluster_names(config: Config, *, node: str | None, location: str | None) -> Config:
    """The config with --node and --location in place of [cluster] node and location; without
    a [cluster] table either is a usage error (exit 2)."""
    given = {"--node": node, "--location": location}
    named = {option: value for option, value in given.items() if value is not None}
    if not named:
        return config
    if config.cluster is None:
        options = " and ".join(named)
        need = "needs" if len(named) == 1 else "need"
        click.echo(f"{options} {need} a [cluster] table in {config.path}", err=True)
        sys.exit(2)
    cluster = dataclasses.replace(
        config.cluster,
        node=node or config.cluster.node,
        location=location or config.cluster.location,
    )
    return dataclasses.replace(config, cluster=cluster)


def _lock(config_path: Path, database: Path) -> DaemonLock:
    """One daemon per database, or exit 2 naming the one that runs."""
    try:
        return DaemonLock.acquire(database)
    except LockHeld as exc:
        click.echo(
            f"{config_path}: [monitor] database: {exc}; stop it first, or give this one "
            "another database (several daemons share state in cluster mode)",
            err=True,
        )
    except LockError as exc:
        click.echo(f"{config_path}: [monitor] database: {exc}", err=True)
    sys.exit(2)


async def _run(daemon: Any) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGHUP, daemon.request_reload)
    await daemon.run(stop)


@click.command()
@config_option
def validate(config_path: str | None) -> None:
    """Check the config file; print every error and exit 2 when it is invalid.

    Example: monitor validate -c checks.toml
    """
    config = load(config_path)
    checks = sum(len(c.checks) for c in config.components)
    # Nothing about the database URL: the daemon reads it at start, and it is never shown.
    cluster = config.cluster
    mode = f", cluster node {cluster.node} at {cluster.location}" if cluster else ""
    click.echo(
        f"{config.path}: ok: {checks} checks in {len(config.components)} components, "
        f"publisher {config.publisher.type}{mode}"
    )


CHECK_COLUMNS = (  # a failed probe's error goes under its row, whole
    Column("component"),
    Column("check"),
    Column("outcome"),
    Column("latency", justify="right"),
)


@click.command()
@config_option
@click.argument("components", nargs=-1, shell_complete=complete_components)
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
def check(config_path: str | None, components: tuple[str, ...], as_json: bool) -> None:
    """Probe every check once (or only those of COMPONENTS) and print the results.

    Exits 1 when any check fails. Example: monitor check payment-api --json
    """
    from monitor.probes import probe_all

    config = load(config_path)
    check_components(config, components)
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
        out = console()
        table = Layout(CHECK_COLUMNS, out.width, title=f"{len(results)} checks")
        style = {Outcome.OK: "green", Outcome.SLOW: "yellow", Outcome.FAIL: "bold red"}
        for component, probe_check, result in results:
            error = f"{result.error_kind}: {result.error}" if result.error else None
            table.add(  # what targets say is printed as it is: a banner may hold "[/]"
                component.id,
                probe_check.name,
                Text(result.outcome.value, style=style[result.outcome]),
                f"{result.latency * 1000:.1f} ms",
                note=literal(error) if error is not None else None,
            )
        table.print(out)
    sys.exit(1 if failed else 0)
