"""The same error gives the same exit code in every command: 2 for a config or database error
(with a message naming the file, no traceback), 1 only for `check` finding a check unhealthy."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import main
from monitor.store import open_db

from .conftest import Target, free_port, write_config

READERS = [["status"], ["history"], ["incidents"], ["export"]]
EVERY = [["run"], ["validate"], ["check"], ["import", "statuspage"], *READERS]


def _ids(args: list[str]) -> str:
    return " ".join(args)


def monitor(args: list[str], config: Path) -> tuple[int, str]:
    """A command as a user runs it: (exit code, stderr). `run` in a process of its own."""
    if args[0] == "run":
        done = subprocess.run(
            [sys.executable, "-m", "monitor", "run", "-c", str(config)],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "MONITOR_TEST_API_KEY": "k"},
        )
        return done.returncode, done.stderr
    result = CliRunner().invoke(main, [*args, "-c", str(config)], env={"MONITOR_TEST_API_KEY": "k"})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    return result.exit_code, result.stderr


def _config(folder: Path, url: str, extra: str = "") -> Path:
    folder.mkdir(exist_ok=True)
    return write_config(
        folder,
        f"""
        [monitor]
        database = "data/monitor.db"
        listen = ""
        {extra}
        [publisher]
        type = "statuspage"
        url = "http://127.0.0.1:9/v1"
        page_id = "p"
        api_key_env = "MONITOR_TEST_API_KEY"

        [[component]]
        name = "API"
        [[component.check]]
        type = "http"
        url = "{url}"
        interval = "1s"
        timeout = "500ms"
        """,
    )


@pytest.mark.parametrize("args", EVERY, ids=_ids)
def test_a_config_error_exits_2_in_every_command(tmp_path: Path, args: list[str]) -> None:
    config = _config(tmp_path, "http://127.0.0.1:9/", extra="retention_days = 3")
    code, stderr = monitor(args, config)
    assert code == 2, stderr
    assert "retention_days" in stderr and "Traceback" not in stderr


@pytest.mark.parametrize("args", [*READERS, ["run"]], ids=_ids)
def test_a_database_not_ours_exits_2(tmp_path: Path, args: list[str]) -> None:
    config = _config(tmp_path, "http://127.0.0.1:9/")
    (tmp_path / "data").mkdir()
    other = sqlite3.connect(tmp_path / "data" / "monitor.db")
    other.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    other.close()
    code, stderr = monitor(args, config)
    assert code == 2, stderr
    assert "not a monitor database" in stderr and "Traceback" not in stderr


@pytest.mark.parametrize("args", READERS, ids=_ids)
def test_a_database_damaged_after_opening_exits_2(tmp_path: Path, args: list[str]) -> None:
    """Its schema version is right, but tables every command reads are gone: the error comes
    while reading, not on opening, and is the same as a database error on opening."""
    config = _config(tmp_path, "http://127.0.0.1:9/")
    db = open_db(tmp_path / "data" / "monitor.db")
    for table in ("results", "transitions", "runs", "check_state"):
        db.execute(f"DROP TABLE {table}")
    db.close()
    code, stderr = monitor(args, config)
    assert code == 2, stderr
    assert "data/monitor.db: cannot read the database (no such table" in stderr
    assert "Traceback" not in stderr


def test_check_exits_1_only_when_a_check_is_unhealthy(tmp_path: Path, target: Target) -> None:
    healthy = _config(tmp_path / "up", target.url + "/")
    down = _config(tmp_path / "down", f"http://127.0.0.1:{free_port()}/")
    assert monitor(["check"], healthy)[0] == 0
    assert monitor(["check"], down)[0] == 1
