"""The `monitor` command. Each command parses its options, makes one library call, and turns
library errors into exit codes: 0 success, 1 the thing checked is not healthy, 2 usage or config.

`run` has run, validate and check; `history` has history, incidents and export; `status` and
`importer` one command each; `common` the options and helpers they share. The daemon, the probes
and the publishers (aiohttp, APScheduler, prometheus-client) are imported by the commands that use
them, so that `monitor history` and friends start fast: keep those imports inside the commands.
"""

from __future__ import annotations

import click

from monitor.cli import completion, history, importer, report, run, schema, status


def _version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """--version: the version and the build around it (monitor/build.py), then exit."""
    if not value or ctx.resilient_parsing:
        return
    from monitor.build import build_info

    click.echo("\n".join(build_info().lines()))
    ctx.exit()


@click.group()
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_version,
    help="Show the version, the commit, Python and the libraries, and exit.",
)
def main() -> None:
    """A synthetic uptime monitor that keeps a public status page honest.

    Every command reads checks.toml (see -c). Exit codes: 0 success, 1 not healthy, 2 usage or
    config error.
    """


main.add_command(run.run)
main.add_command(run.validate)
main.add_command(run.check)
main.add_command(schema.schema)
main.add_command(importer.import_)
main.add_command(history.history)
main.add_command(history.incidents)
main.add_command(history.export)
main.add_command(report.report)
main.add_command(status.status)
main.add_command(completion.completion)

__all__ = ["main"]
