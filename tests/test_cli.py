"""The command line: exit codes, tables and JSON, against real loopback targets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from monitor import __version__
from monitor.cli import main

from .conftest import Target, free_port, write_config

ROOT = Path(__file__).resolve().parent.parent


def two_components(folder: Path, target: Target, closed_port: int) -> Path:
    return write_config(
        folder,
        f"""
        [monitor]
        listen = ""
        [[component]]
        name = "Web"
          [[component.check]]
          type = "http"
          name = "home"
          url = "{target.url}/home"
          expect_body = "ok"
        [[component]]
        name = "Database"
        id = "db"
          [[component.check]]
          type = "tcp"
          host = "127.0.0.1"
          port = {closed_port}
        """,
    )


def invoke(*args: str, env: dict[str, str] | None = None) -> click.testing.Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_check_prints_a_table_and_exits_1_when_a_check_fails(
    tmp_path: Path, target: Target
) -> None:
    config = two_components(tmp_path, target, free_port())
    result = invoke("check", "-c", str(config))
    assert result.exit_code == 1, result.output
    assert "home" in result.output and "ok" in result.output
    assert "refused" in result.output
    assert target.count("/home") == 1


def test_check_selected_components_exits_0_when_all_pass(tmp_path: Path, target: Target) -> None:
    config = two_components(tmp_path, target, free_port())
    result = invoke("check", "-c", str(config), "web")
    assert result.exit_code == 0, result.output
    assert "db" not in result.output.split()


def test_check_json(tmp_path: Path, target: Target) -> None:
    closed = free_port()
    config = two_components(tmp_path, target, closed)
    result = invoke("check", "-c", str(config), "--json")
    assert result.exit_code == 1
    document = json.loads(result.output)
    assert document["ok"] is False
    web, db = document["components"]
    assert (web["id"], web["name"]) == ("web", "Web")
    home = web["checks"][0]
    assert home["name"] == "home" and home["outcome"] == "ok" and home["status_code"] == 200
    assert home["error"] is None and 0 < home["latency_ms"] < 5000
    tcp = db["checks"][0]
    assert tcp["name"] == f"127.0.0.1:{closed}"
    assert (tcp["outcome"], tcp["error_kind"]) == ("fail", "refused")


def test_check_unknown_component_is_a_usage_error(tmp_path: Path, target: Target) -> None:
    config = two_components(tmp_path, target, free_port())
    result = CliRunner().invoke(main, ["check", "-c", str(config), "nope"])
    assert result.exit_code == 2
    assert "no component 'nope'; known: db, web" in result.output


def test_validate(tmp_path: Path, target: Target) -> None:
    config = two_components(tmp_path, target, free_port())
    result = invoke("validate", "-c", str(config))
    assert result.exit_code == 0
    assert result.output == f"{config}: ok: 2 checks in 2 components, publisher none\n"


def test_validate_reports_every_error_and_exits_2(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        """
        [monitor]
        retention = "forever"
        [[component]]
        name = "Web"
          [[component.check]]
          type = "tcp"
          host = "localhost"
          port = 70000
        """,
    )
    result = CliRunner().invoke(main, ["validate", "-c", str(config)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 2, result.output
    assert any("[monitor]: retention:" in line for line in lines)
    assert f'{config}: component "Web" check 1 (tcp): port: must be 1-65535, got 70000' in lines


def test_config_from_environment_then_default(
    tmp_path: Path, target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = two_components(tmp_path, target, free_port())
    assert invoke("validate", env={"MONITOR_CONFIG": str(config)}).exit_code == 0
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    result = CliRunner().invoke(main, ["validate"], env={"MONITOR_CONFIG": ""})
    assert result.exit_code == 2
    assert "checks.toml" in result.output


def test_python_dash_m_and_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "monitor", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.splitlines()[0] == f"monitor, version {__version__}"


def test_shipped_config_is_valid() -> None:
    result = invoke("validate", "-c", str(ROOT / "checks.toml"))
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("name", sorted(main.commands))  # type: ignore[attr-defined]
def test_every_command_has_help_with_an_example_and_is_documented(name: str) -> None:
    command = main.commands[name]  # type: ignore[attr-defined]
    assert command.help and "Example:" in command.help
    assert invoke(name, "--help").exit_code == 0
    documented = (ROOT / "README.md").read_text() + "".join(
        p.read_text() for p in (ROOT / "docs").glob("*.md")
    )
    assert f"monitor {name}" in documented


def test_a_missing_database_folder_is_created_and_a_bad_file_is_a_clear_error(
    tmp_path: Path, target: Target
) -> None:
    from monitor.store import StoreError, open_db

    db = open_db(tmp_path / "new" / "deeper" / "monitor.db")
    db.close()
    assert (tmp_path / "new" / "deeper" / "monitor.db").exists()
    bad = tmp_path / "bad.db"
    bad.write_text("not a database at all, but long enough to have a header" * 20)
    with pytest.raises(
        StoreError, match=r"bad\.db: cannot open the database \(file is not a database\)"
    ):
        open_db(bad)
    config = write_config(
        tmp_path,
        f"""
        [monitor]
        database = "bad.db"
        listen = ""
        [[component]]
        name = "Web"
          [[component.check]]
          type = "http"
          url = "{target.url}/"
        """,
    )
    for command in (["status"], ["history"], ["run"]):
        result = CliRunner().invoke(main, [*command, "-c", str(config)])
        assert result.exit_code in (1, 2), (command, result.output)
        assert "bad.db: cannot open the database" in result.output
        assert "Traceback" not in result.output


# -- the window options: every bad value is a usage error naming the option -------------------

BAD_WINDOWS = [
    ("--since", "2026-02-30"),
    ("--since", "2026-13-01"),
    ("--since", "0000-01-01"),
    ("--until", "2026-02-29"),
    ("--until", "9999-12-31"),
    ("--until", "9999-12-31T23:59:59-12:00"),
    ("--since", "100000000000000000000d"),
    ("--since", "1" * 400 + "d"),
    ("--since", "30000d"),
    ("--since", "2026-01-01T00:00:00+25:00"),
    ("--since", "2026-01-01T25:00:00Z"),
    ("--since", "yesterday"),
    ("--until", ""),
    ("--tz", "Nowhere/City"),
    ("--tz", "America"),
    ("--tz", "../../etc/passwd"),
    ("--tz", "x" * 300),
]


@pytest.fixture
def history_config(tmp_path: Path) -> Path:
    from monitor.store import open_db

    open_db(tmp_path / "m.db").close()
    return write_config(
        tmp_path,
        """
        [monitor]
        database = "m.db"
        listen = ""
        [[component]]
        name = "Web"
          [[component.check]]
          type = "http"
          url = "http://127.0.0.1:1/"
        """,
    )


@pytest.mark.parametrize("command", ["history", "incidents", "export"])
@pytest.mark.parametrize(("option", "value"), BAD_WINDOWS, ids=lambda v: str(v)[:30])
def test_a_bad_window_is_a_usage_error_naming_the_option(
    history_config: Path, command: str, option: str, value: str
) -> None:
    result = CliRunner().invoke(main, [command, "-c", str(history_config), option, value])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert f"Invalid value for '{option}'" in result.output, result.output
    assert "Traceback" not in result.output


def test_a_bad_window_in_a_real_process_prints_no_traceback(history_config: Path) -> None:
    for option, value in (("--until", "9999-12-31"), ("--since", "2026-02-30")):
        out = subprocess.run(
            [sys.executable, "-m", "monitor", "history", "-c", str(history_config), option, value],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 2, out.stderr
        assert f"Invalid value for '{option}'" in out.stderr
        assert "Traceback" not in out.stderr and out.stdout == ""


@pytest.mark.parametrize(
    "window",
    [
        ("--since", "2026-02-28", "--until", "2026-03-01"),
        ("--since", "2024-02-29T12:00:00+05:30", "--until", "now"),
        ("--since", "1970-01-02", "--tz", "Pacific/Kiritimati"),
        ("--since", "1h", "--until", "2026-12-31"),
    ],
)
def test_good_windows_still_work(history_config: Path, window: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, ["history", "-c", str(history_config), "--json", *window])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["components"][0]["id"] == "web"
