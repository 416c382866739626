"""`monitor import`: start checks.toml from the components a status page already has."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from monitor.cli.common import config_option, load
from monitor.config import ConfigError, read_api_key

# aiohttp comes with the publisher: imported by the command, not here.
if TYPE_CHECKING:
    from monitor.incidents import RemoteComponent


@click.group(name="import")
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
