"""Shell completion: click's own (`_MONITOR_COMPLETE=bash_source monitor`), `monitor completion
SHELL` to print the script without knowing that variable, and the component ids of the config
for the arguments that take them.

Completing runs while the user types: it must answer fast and never print an error into the
prompt. A config that is missing, invalid or slow to find completes nothing.
"""

from __future__ import annotations

import os

import click
from click.shell_completion import CompletionItem, get_completion_class

from monitor.config import load_config, resolve_config_path

SHELLS = ("bash", "zsh", "fish")
PROG = "monitor"
COMPLETE_VAR = "_MONITOR_COMPLETE"


def complete_components(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """The ids of the components in the config the command would read (-c, else
    $MONITOR_CONFIG, else ./checks.toml), their names as help; those already given left out."""
    given = ctx.params.get(param.name or "") or ()
    if isinstance(given, str):
        given = (given,)
    try:
        config = load_config(resolve_config_path(ctx.params.get("config_path"), os.environ))
    except Exception:  # noqa: BLE001 - whatever the file holds, the prompt gets no error
        return []
    return [
        CompletionItem(component.id, help=component.name)
        for component in config.components
        if component.id.startswith(incomplete) and component.id not in given
    ]


def complete_file(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """A path: the shell lists the files itself."""
    return [CompletionItem(incomplete, type="file")]


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the shell completion script for SHELL: commands, options and the component ids
    of the config complete on Tab.

    Example: monitor completion bash > ~/.local/share/bash-completion/completions/monitor
    """
    root = click.get_current_context().find_root().command
    script = get_completion_class(shell)
    assert script is not None  # one of SHELLS, which click has
    click.echo(script(root, {}, PROG, COMPLETE_VAR).source(), nl=False)
