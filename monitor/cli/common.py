"""What the commands share: the -c option, loading the config, the time window options, and
opening the database for reading. How they print is in output.py."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from monitor import reports
from monitor.cli.completion import complete_file
from monitor.config import ConfigError, load_config, resolve_config_path
from monitor.model import Config
from monitor.store import Store, StoreError

config_option = click.option(
    "-c",
    "--config",
    "config_path",
    metavar="PATH",
    help="Config file. Default: $MONITOR_CONFIG, else ./checks.toml.",
    shell_complete=complete_file,
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
    except Exception as exc:  # noqa: BLE001 - a file that trips our own bug still gets a line
        click.echo(f"{path}: {BUG_ON_FILE.format(type(exc).__name__)}", err=True)
        sys.exit(2)


BUG_ON_FILE = (
    "cannot be read: {} inside the monitor, a bug; please report it with the file (secrets removed)"
)


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
    """The values of `window_options` as (start, end, time zone), or a usage error (exit 2)
    naming the option, whatever the value: a zone that is a folder or a path, a day that does
    not exist, a time out of range."""
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        shown = tz_name if len(tz_name) <= 40 else tz_name[:39] + "…"
        raise _bad_window(
            "tz", f"unknown time zone {shown!r}; use one like Europe/Berlin"
        ) from None
    now = time.time()
    bounds = []
    for name, text in (("since", since), ("until", until)):
        try:
            bounds.append(reports.parse_when(text, tz, now))
        except reports.BadTime as exc:
            raise _bad_window(name, str(exc)) from None
    start, end = bounds
    if end <= start:
        raise _bad_window("until", "must be after --since")
    return start, end, tz


def _bad_window(name: str, message: str) -> click.BadParameter:
    """A usage error that click words like its own: "Invalid value for '--since': ..."."""
    ctx = click.get_current_context(silent=True)
    command = ctx.command if ctx is not None else None
    param = next((p for p in command.params if p.name == name), None) if command else None
    hint = None if param is not None else f"'--{name}'"
    return click.BadParameter(message, ctx=ctx, param=param, param_hint=hint)


@contextlib.contextmanager
def reading(config: Config) -> Iterator[Store]:
    """The database, read-only, for a command that only reads; closed after the block. A
    database error, on opening (missing, not ours, of another schema version) or while reading
    (a damaged file), exits 2 with the message naming the file, as in every command. Nothing
    on disk changes either way."""
    try:
        store = Store.open(config.monitor.database)
    except StoreError as exc:
        store_failed(exc)
    try:
        yield store
    except StoreError as exc:
        store_failed(exc)
    finally:
        store.close()


def store_failed(exc: StoreError, prefix: str = "") -> NoReturn:
    """Exit 2 with the store's message: the one exit code of a database error."""
    click.echo(f"{prefix}{exc}", err=True)
    sys.exit(2)
