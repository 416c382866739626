"""What the commands share: the -c option, loading the config, the time window options, opening
the database for reading, and the colours of statuses."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from monitor import reports
from monitor.config import ConfigError, load_config, resolve_config_path
from monitor.model import Config
from monitor.store import Store, StoreError

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


def check_components(config: Config, components: tuple[str, ...]) -> None:
    known = {c.id for c in config.components}
    unknown = [c for c in components if c not in known]
    if unknown:
        click.echo(
            f"{config.path}: no component {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(sorted(known))}",
            err=True,
        )
        sys.exit(2)


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


def parse_window(since: str, until: str, tz_name: str) -> tuple[float, float, ZoneInfo]:
    """The values of `window_options` as (start, end, time zone), or a usage error."""
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


def open_store(config: Config) -> Store:
    """Open the database read-only for a command that only reads, or exit 2 naming the file:
    missing, not ours, or of another schema version. Nothing on disk changes either way."""
    try:
        return Store.open(config.monitor.database)
    except StoreError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)


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


def styled(value: str | None) -> str:
    """A component status or check state in its colour, as rich markup."""
    if value is None:
        return "[dim]not probed yet[/]"
    return f"[{STATUS_STYLE.get(value, 'default')}]{value}[/]"
