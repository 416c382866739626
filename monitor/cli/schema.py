"""`monitor schema`: the JSON Schema of checks.toml, for an editor to complete and check it."""

from __future__ import annotations

import sys

import click


@click.command()
@click.option(
    "-o",
    "--output",
    metavar="FILE",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the schema to FILE instead of stdout.",
)
def schema(output: str | None) -> None:
    """Print the JSON Schema (draft 2020-12) of checks.toml.

    It is made from the keys and parsers `monitor validate` uses, so it matches this release.
    Point Taplo (Even Better TOML) at it for completion and checking as you type; rules between
    keys (timeout within interval, unique ids) are still `monitor validate`'s alone.

    Example: monitor schema -o checks.schema.json, then `#:schema ./checks.schema.json` as the
    first line of checks.toml.
    """
    from monitor.config.schema import checks_schema, dumps

    text = dumps(checks_schema())
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        with open(output, "w", encoding="utf-8") as file:
            file.write(text)
    except OSError as exc:
        click.echo(f"{output}: cannot write: {exc.strerror or exc}", err=True)
        sys.exit(2)
