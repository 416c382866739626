"""The conventions of a command-line tool, each through the real `monitor` entry point in a
process of its own: shell completion (click's, with the config's component ids), no colour and
no box characters where colour is off (a pipe, NO_COLOR, a dumb terminal), colour on a terminal
or with FORCE_COLOR, and `--version` with the build it comes from."""

from __future__ import annotations

import os
import platform
import re
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from monitor.build import UNKNOWN, build_info, commit

from .conftest import Target, free_port, write_config
from .test_output import COMPONENTS, WINDOW, written

ROOT = Path(__file__).resolve().parent.parent
MONITOR = str(Path(sys.executable).parent / "monitor")  # the installed entry point
ESCAPE = "\x1b["
BOX = re.compile("[\u2500-\u257f]")  # box drawing: ─ │ ┏ ━ ...
# What a user's shell hands over, minus anything that could turn colour on or off.
BASE_ENV = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "HOME": os.environ.get("HOME", "/tmp"),
    "LANG": "C.UTF-8",
    "TERM": "xterm-256color",
    "COLUMNS": "120",
}


def monitor(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MONITOR, *args],
        capture_output=True,
        text=True,
        env={**BASE_ENV, **(env or {})},
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


def assert_plain(text: str, what: str) -> None:
    assert ESCAPE not in text, f"{what}: an escape sequence: {text!r}"
    box = BOX.search(text)
    assert box is None, f"{what}: box character {box[0]!r} in {text!r}"


# -- shell completion -------------------------------------------------------------------------


def completions(words: str, *, shell: str = "bash", env: dict[str, str] | None = None) -> list[str]:
    """What `monitor` offers for the last word of `words` (an empty last word after a space),
    asked the way the shell script asks it."""
    parts = words.split(" ")
    result = monitor(
        env={
            "_MONITOR_COMPLETE": f"{shell}_complete",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(parts) - 1),
            **(env or {}),
        }
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", "completion never prints an error into the prompt"
    return [
        line for line in result.stdout.splitlines() if line
    ]  # click ends an empty list with a blank line


@pytest.fixture
def components_config(tmp_path: Path) -> Path:
    return write_config(
        tmp_path,
        """
        [monitor]
        listen = ""
        [[component]]
        name = "Payment API"
          [[component.check]]
          type = "tcp"
          host = "127.0.0.1"
          port = 1
        [[component]]
        name = "Payroll"
          [[component.check]]
          type = "tcp"
          host = "127.0.0.1"
          port = 1
        [[component]]
        name = "Database"
        id = "db"
          [[component.check]]
          type = "tcp"
          host = "127.0.0.1"
          port = 1
        """,
    )


def test_completion_offers_the_commands_and_options() -> None:
    offered = completions("monitor ")
    commands = {"check", "completion", "export", "history", "import", "incidents", "run"}
    assert {f"plain,{name}" for name in commands | {"status", "validate"}} <= set(offered)
    assert completions("monitor hist") == ["plain,history"]
    assert "plain,--since" in completions("monitor history --s")


def test_completion_offers_component_ids_from_the_config(components_config: Path) -> None:
    config = str(components_config)
    assert completions(f"monitor history -c {config} pay") == ["plain,payment-api", "plain,payroll"]
    assert completions(f"monitor check --config {config} payment-api ") == [
        "plain,payroll",
        "plain,db",
    ], "those already given are left out"
    env = {"MONITOR_CONFIG": config}
    assert completions("monitor export --component d", env=env) == ["plain,db"]
    # ./checks.toml, as the commands read it; zsh shows each component's name beside its id.
    result = monitor(
        env={
            "_MONITOR_COMPLETE": "zsh_complete",
            "COMP_WORDS": "monitor history ",
            "COMP_CWORD": "2",
        },
        cwd=components_config.parent,
    )
    assert result.stdout.split("\n")[:3] == ["plain", "payment-api", "Payment API"]


def test_completion_with_a_config_it_cannot_read_offers_nothing_and_says_nothing(
    tmp_path: Path,
) -> None:
    bad = write_config(tmp_path, "[monitor]\nlisten = 5\n[[component]]\n")
    for config in (str(bad), str(tmp_path / "missing.toml"), str(tmp_path)):
        assert completions(f"monitor history -c {config} ") == []


def test_the_config_option_completes_file_names() -> None:
    assert completions("monitor status -c ") == ["file,"]


def test_completion_scripts_are_what_the_shells_source(components_config: Path) -> None:
    for shell in ("bash", "zsh", "fish"):
        script = monitor("completion", shell)
        assert script.returncode == 0, script.stderr
        assert "_MONITOR_COMPLETE" in script.stdout and "monitor" in script.stdout
        same = monitor(env={"_MONITOR_COMPLETE": f"{shell}_source"})
        assert same.stdout == script.stdout, "the same script as click's own variable prints"
    bash = shutil.which("bash")
    assert bash is not None
    script = monitor("completion", "bash").stdout
    checked = subprocess.run([bash, "-n"], input=script, text=True, capture_output=True)
    assert checked.returncode == 0, checked.stderr
    # Sourced into a real bash, the function it registers fills COMPREPLY through monitor.
    program = (
        f"{script}\n"
        f"COMP_WORDS=(monitor history -c {components_config} pay); COMP_CWORD=4\n"
        "_monitor_completion monitor\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
        "complete -p monitor\n"
    )
    run = subprocess.run(
        [bash, "--norc", "--noprofile"],
        input=program,
        text=True,
        capture_output=True,
        env={**BASE_ENV, "PATH": f"{Path(MONITOR).parent}:{BASE_ENV['PATH']}"},
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        "payment-api",
        "payroll",
        "complete -o nosort -F _monitor_completion monitor",
    ]


def test_completion_refuses_a_shell_it_has_no_script_for() -> None:
    result = monitor("completion", "tcsh")
    assert result.returncode == 2
    assert "'tcsh' is not one of 'bash', 'zsh', 'fish'" in result.stderr


# -- no colour, no box characters where colour is off ----------------------------------------


@pytest.fixture
def database(tmp_path: Path) -> Path:
    """A config and a database as the daemon writes them (tests/test_output.py): components
    down now, five days of statuses, an incident on the page, the page's last error."""
    return written(tmp_path, COMPONENTS)


def every_printing_command(config: Path, target: Target) -> list[tuple[str, Sequence[str]]]:
    """Each command that prints, run so that it prints something: tables, notes, messages on
    stderr and the errors users meet."""
    mixed = write_config(
        config.parent,
        f"""
        [monitor]
        listen = ""
        [[component]]
        name = "Web"
          [[component.check]]
          type = "http"
          url = "{target.url}/"
          [[component.check]]
          type = "tcp"
          name = "closed"
          host = "127.0.0.1"
          port = {free_port()}
        """,
        name="mixed.toml",
    )
    c = ("-c", str(config))
    return [
        ("status", ("status", *c)),
        ("status --json", ("status", *c, "--json")),
        ("history", ("history", *c, *WINDOW)),
        ("incidents", ("incidents", *c, *WINDOW)),
        ("check", ("check", "-c", str(mixed))),
        ("validate", ("validate", *c)),
        ("export csv", ("export", *c, *WINDOW, "--format", "csv")),
        ("import refused", ("import", "statuspage", *c)),
        ("unknown component", ("history", *c, "nowhere")),
        ("bad window", ("history", *c, "--since", "yesterday")),
        ("missing config", ("status", "-c", str(config.parent / "missing.toml"))),
        ("unknown command", ("statsu",)),
        ("--help", ("--help",)),
        ("--version", ("--version",)),
        ("completion", ("completion", "bash")),
    ]


RICH_COMMANDS = {"status", "history", "incidents", "check", "unknown component"}


@pytest.mark.parametrize(
    "env",
    [{}, {"NO_COLOR": "1"}, {"NO_COLOR": "1", "FORCE_COLOR": "1"}, {"TERM": "dumb"}],
    ids=["pipe", "NO_COLOR", "NO_COLOR beats FORCE_COLOR", "TERM=dumb"],
)
def test_no_escapes_and_no_box_characters_into_a_pipe(
    database: Path, target: Target, env: dict[str, str]
) -> None:
    commands = every_printing_command(database, target)
    if env:  # where colour is off by a variable: the commands that print through rich
        commands = [(what, args) for what, args in commands if what in RICH_COMMANDS]
    for what, args in commands:
        result = monitor(*args, env=env)
        assert result.stdout or result.stderr, f"{what} printed nothing"
        assert "Traceback" not in result.stderr, result.stderr
        assert_plain(result.stdout, f"{what} stdout")
        assert_plain(result.stderr, f"{what} stderr")


def test_help_of_every_command_is_plain() -> None:
    from monitor.cli import main

    names = list(main.commands)  # type: ignore[attr-defined]
    for name in names:
        result = monitor(name, "--help")
        assert result.returncode == 0, result.stderr
        assert_plain(result.stdout, f"{name} --help")


def test_tables_stay_readable_without_box_characters(database: Path) -> None:
    result = monitor("status", "-c", str(database))
    lines = result.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("component / check"))
    assert set(lines[header + 1]) == {"-"}, "an ASCII rule under the header"
    assert any(line.split()[:2] == ["payment-api", "major_outage"] for line in lines)


def test_force_color_colours_a_pipe(database: Path) -> None:
    result = monitor("status", "-c", str(database), env={"FORCE_COLOR": "1"})
    assert ESCAPE in result.stdout
    assert "─" in result.stdout


def in_a_terminal(args: Sequence[str], env: dict[str, str]) -> str:
    """What `monitor ARGS` writes to a terminal (a pseudo-terminal of our own): stdout and
    stderr both, read until it exits."""
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [MONITOR, *args],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        env={**BASE_ENV, **env},
        close_fds=True,
    )
    os.close(slave)
    out = bytearray()
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], deadline - time.monotonic())
            if not ready:
                break
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child has exited and closed its end
                break
            if not chunk:
                break
            out += chunk
        assert proc.wait(10) == 0, out.decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        os.close(master)
    return out.decode(errors="replace")


def test_a_terminal_gets_colour_and_box_characters_unless_no_color(database: Path) -> None:
    args = ("status", "-c", str(database))
    coloured = in_a_terminal(args, {})
    assert ESCAPE in coloured and "─" in coloured
    plain = in_a_terminal(args, {"NO_COLOR": "1"})
    assert_plain(plain, "status on a terminal with NO_COLOR")
    assert "payment-api" in plain and "major_outage" in plain
    # An empty NO_COLOR is not set (no-color.org).
    assert ESCAPE in in_a_terminal(args, {"NO_COLOR": ""})


# -- --version ---------------------------------------------------------------------------------


def git(folder: Path, *args: str) -> str:
    return subprocess.run(
        [
            "git",
            "-C",
            str(folder),
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.invalid",
            *args,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_version_prints_the_build() -> None:
    result = monitor("--version")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    info = build_info()
    assert lines[0] == f"monitor, version {info.version}", "the line scripts already read"
    assert lines[1].startswith("commit: ")
    head = git(ROOT, "rev-parse", "--short=12", "HEAD")
    shown = lines[1].removeprefix("commit: ")
    # Someone may commit in this checkout between the two looks: then it is an ancestor.
    assert shown.removesuffix("-dirty") in (
        head,
        *git(ROOT, "log", "-5", "--format=%h", "--abbrev=12").split(),
    )
    python = f"{platform.python_version()} ({platform.python_implementation()})"
    assert lines[2] == f"python: {python} on {platform.platform(terse=True)}"
    assert f"aiohttp {metadata.version('aiohttp')}" in lines[3]
    assert f"asyncpg {metadata.version('asyncpg')}" in lines[3]


def package_copy(folder: Path) -> Path:
    """A copy of the monitor package at `folder`/monitor, as a wheel installs it."""
    copy = folder / "monitor"
    shutil.copytree(ROOT / "monitor", copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def test_version_without_git_says_unknown(tmp_path: Path) -> None:
    copy = package_copy(tmp_path / "site")
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import monitor, sys; from monitor.cli import main; print(monitor.__file__); main()",
            "--version",
        ],
        capture_output=True,
        text=True,
        env={**BASE_ENV, "PYTHONPATH": str(copy.parent)},
        cwd=tmp_path,
        timeout=60,
    )
    lines = result.stdout.splitlines()
    assert lines[0] == str(copy / "__init__.py"), "the copy ran, not the checkout"
    assert "commit: unknown" in lines


def test_commit_of_a_checkout_of_its_own_and_never_of_another_repository(
    tmp_path: Path,
) -> None:
    own = package_copy(tmp_path / "own")
    git(own.parent, "init", "-q")
    git(own.parent, "add", ".")
    git(own.parent, "commit", "-q", "-m", "build")
    head = git(own.parent, "rev-parse", "--short=12", "HEAD")
    assert commit(own) == head
    (own / "build.py").write_text((own / "build.py").read_text() + "\n# changed\n")
    assert commit(own) == f"{head}-dirty"
    # A package that lies deeper in some repository (a venv inside a project) is not its tree.
    other = package_copy(tmp_path / "project" / ".venv" / "site-packages")
    git(tmp_path / "project", "init", "-q")
    git(tmp_path / "project", "commit", "-q", "--allow-empty", "-m", "project")
    assert commit(other) == UNKNOWN
    assert commit(tmp_path / "nowhere" / "monitor") == UNKNOWN


def test_build_info_metric_names_the_version_that_version_prints() -> None:
    from monitor.metrics import Metrics

    registry = CollectorRegistry()
    Metrics(registry)
    version = monitor("--version").stdout.splitlines()[0].removeprefix("monitor, version ")
    assert registry.get_sample_value("monitor_build_info", {"version": version}) == 1.0
