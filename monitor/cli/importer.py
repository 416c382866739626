"""`monitor import PROVIDER`: start checks.toml from the components a status page already has.

One subcommand per provider whose spec can import (`monitor.publishers.PROVIDERS`), all alike:
the page, its settings and the API key come from [publisher], which must name that provider.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from monitor.cli.common import config_option, load
from monitor.config import ConfigError, read_api_key
from monitor.publishers import PROVIDERS, ProviderSpec, make_provider

# aiohttp comes with the provider: made by the command, not at import.
if TYPE_CHECKING:
    from monitor.incidents import RemoteComponent
    from monitor.publishers.base import Provider


@click.group(name="import")
def import_() -> None:
    """Write [[component]] entries from what a status page already has.

    Example: monitor import statuspage -o components.toml
    """


def _refuse(lines: list[str]) -> NoReturn:
    for line in lines:
        click.echo(line, err=True)
    sys.exit(2)


def import_components(
    spec: ProviderSpec, config_path: str | None, output: Path | None, force: bool
) -> None:
    """Read the page's components with the [publisher] settings and write them as TOML."""
    from monitor.importer import render_components
    from monitor.publishers.base import PublishError, RateLimiter

    config = load(config_path)
    settings = config.publisher
    if settings.type != spec.name:
        _refuse(
            [
                f'{config.path}: [publisher]: type: must be "{spec.name}" '
                f"({spec.requirements()}) to import from {spec.title}"
            ]
        )
    if output is not None and output.exists() and not force:
        _refuse([f"{output}: exists; pass --force to overwrite it"])
    try:
        key = read_api_key(settings, os.environ, path=config.path) if spec.needs_key else None
        provider = make_provider(settings, key, config.path, RateLimiter(settings.rate_limit))
    except ConfigError as exc:
        _refuse(list(exc.errors))
    assert provider is not None

    async def fetch(provider: Provider) -> list[RemoteComponent]:
        try:
            return await provider.components()
        finally:
            await provider.close()

    try:
        components = asyncio.run(fetch(provider))
    except PublishError as exc:
        raise click.ClickException(f"cannot read the page's components: {exc}") from exc
    text = render_components(components, source=spec.name)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text)
        count = sum(1 for c in components if not c.is_group)
        click.echo(f"{output}: {count} components; add a [[component.check]] to each", err=True)


def _command(spec: ProviderSpec) -> click.Command:
    @click.command(
        name=spec.name,
        help=f"""Read the page's components and print [[component]] entries with their
        remote_id.

        The page and the API key come from [publisher] in the config (type = "{spec.name}",
        {spec.requirements()}). Add a check to each entry, then merge them into checks.toml.
        Example: monitor import {spec.name} -o components.toml
        """,
    )
    @config_option
    @click.option(
        "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="File to write."
    )
    @click.option("--force", is_flag=True, help="Overwrite --output if it exists.")
    def command(config_path: str | None, output: Path | None, force: bool) -> None:
        import_components(spec, config_path, output, force)

    return command


for _spec in PROVIDERS.values():
    if _spec.can_import:
        import_.add_command(_command(_spec))
