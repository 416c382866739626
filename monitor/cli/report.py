"""`monitor report`: the history of `monitor history` as one HTML file to look at."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

import click

from monitor import __version__, reports
from monitor.cli.common import (
    check_components,
    config_option,
    load,
    parse_window,
    reading,
    window_options,
)
from monitor.report import render


@click.command()
@config_option
@click.argument("components", nargs=-1)
@window_options("90d")
@click.option(
    "-o",
    "--output",
    metavar="FILE",
    required=True,
    help="The HTML file to write (replaced whole, never half-written); - for stdout.",
)
def report(
    config_path: str | None,
    components: tuple[str, ...],
    since: str,
    until: str,
    tz: str,
    output: str,
) -> None:
    """One self-contained HTML page of the history of every component (or those named): a bar
    of days coloured by the worst status (hover a day for its uptime and incidents), uptime
    and incident figures, latency p50/p95/p99 per day, and the incident list. The numbers are
    those of monitor history --json and monitor incidents --json; the page loads nothing
    from anywhere, in light and dark, on a phone too.

    Example: monitor report --since 90d -o report.html
    """
    config = load(config_path)
    check_components(config, components)
    start, end, zone = parse_window(since, until, tz)
    now = time.time()
    with reading(config) as store:
        history = reports.history(config, store, components, start, end, zone, now)
        incidents = reports.incidents(config, store, start, end, config.publisher.type)
    location = config.cluster.location if config.cluster is not None else None
    page = render(history, incidents, zone, now, location=location, version=__version__)
    if output == "-":
        sys.stdout.write(page)
        return
    try:
        _write(Path(output), page)
    except OSError as exc:
        click.echo(f"{output}: cannot write the report: {exc.strerror or exc}", err=True)
        sys.exit(2)
    shown = len(history["components"])
    click.echo(
        f"{output}: {shown} component{'' if shown == 1 else 's'}, "
        f"{history['since']} to {history['until']}",
        err=True,
    )


def _write(path: Path, text: str) -> None:
    """Write beside the file and rename over it: a reader never sees half a report."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(name, 0o644)
        os.replace(name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise
