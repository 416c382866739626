"""The `monitor` command. Each command parses its options, makes one library call, and turns
library errors into exit codes: 0 success, 1 the thing checked is not healthy, 2 usage or config.

`run` has run, validate and check; `history` has history, incidents and export; `status` and
`importer` one command each; `common` the options and helpers they share. The daemon, the probes
and the publishers (aiohttp, APScheduler, prometheus-client) are imported by the commands that use
them, so that `monitor history` and friends start fast: keep those imports inside the commands.
"""

from __future__ import annotations

import click

from monitor import __version__
from monitor.cli import history, importer, run, status


@click.group()
@click.version_option(__version__, prog_name="monitor")
def main() -> None:
    """A synthetic uptime monitor that keeps a public status page honest.

    Every command reads checks.toml (see -c). Exit codes: 0 success, 1 not healthy, 2 usage or
    config error.
    """


main.add_command(run.run)
main.add_command(run.validate)
main.add_command(run.check)
main.add_command(importer.import_)
main.add_command(history.history)
main.add_command(history.incidents)
main.add_command(history.export)
main.add_command(status.status)

__all__ = ["main"]
