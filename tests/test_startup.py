"""Start-up: one daemon per database, and every start-up problem a config error (exit 2)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from monitor.lock import DaemonLock, LockHeld

from .conftest import DaemonProcess, Target, count_rows, wait_for, write_config

pytestmark = pytest.mark.slow


def config(folder: Path, target: Target, *, listen: str = "", publisher: str = "") -> Path:
    return write_config(
        folder,
        f"""
[monitor]
database = "data/monitor.db"
listen = "{listen}"
[defaults]
interval = "1s"
timeout = "1s"
[[component]]
name = "api"
  [[component.check]]
  type = "http"
  url = "{target.url}/ok"
{publisher}
""",
    )


def holder_of(database: Path) -> dict[str, object] | None:
    """Who holds the daemon lock of `database`, or None (then it is free to take)."""
    try:
        DaemonLock.acquire(database).release()
    except LockHeld as held:
        return held.holder
    return None


def monitor(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def test_a_second_daemon_on_the_same_database_refuses_naming_the_first(
    tmp_path: Path, target: Target, daemons: Callable[..., DaemonProcess]
) -> None:
    path = config(tmp_path, target)
    database = tmp_path / "data" / "monitor.db"
    first = daemons(path)
    wait_for(lambda: count_rows(database) >= 2, 20, "the first daemon's results")

    second = monitor("run", "-c", str(path))
    assert second.returncode == 2, second.stderr
    assert f"pid {first.proc.pid}" in second.stderr
    assert "[monitor] database" in second.stderr and "started 20" in second.stderr
    assert "Traceback" not in second.stderr

    # Read-only commands work beside the running daemon.
    status = monitor("status", "-c", str(path), "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["components"][0]["id"] == "api"
    assert holder_of(database) is not None and holder_of(database)["pid"] == first.proc.pid

    first.signal(signal.SIGTERM)
    assert first.wait(15) == 0
    assert holder_of(database) is None, "a clean stop releases the lock"


def test_kill_9_releases_the_lock(
    tmp_path: Path, target: Target, daemons: Callable[..., DaemonProcess]
) -> None:
    path = config(tmp_path, target)
    database = tmp_path / "data" / "monitor.db"
    first = daemons(path)
    wait_for(lambda: count_rows(database) >= 1, 20, "results")
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(10)
    assert (tmp_path / "data" / "monitor.db.lock").exists(), "the stale file is left behind"
    assert holder_of(database) is None, "but it locks nothing"

    rows = count_rows(database)
    second = daemons(path)
    wait_for(lambda: count_rows(database) >= rows + 2, 20, "the new daemon probing")
    assert second.proc.poll() is None


def test_the_lock_in_process(tmp_path: Path) -> None:
    database = tmp_path / "monitor.db"
    lock = DaemonLock.acquire(database)
    try:
        with pytest.raises(LockHeld) as held:
            DaemonLock.acquire(database)
        assert f"pid {os.getpid()}" in str(held.value)
        assert (tmp_path / "monitor.db.lock").stat().st_mode & 0o777 == 0o600
    finally:
        lock.release()
    DaemonLock.acquire(database).release()


def test_a_port_in_use_is_a_config_error(tmp_path: Path, target: Target) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        listen = f"127.0.0.1:{taken.getsockname()[1]}"
        path = config(tmp_path, target, listen=listen)
        result = monitor("run", "-c", str(path))
    assert result.returncode == 2, result.stderr
    assert f"{path}: [monitor] listen: cannot listen on {listen}" in result.stderr
    assert "address already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_listen_host_that_does_not_resolve_is_a_config_error(
    tmp_path: Path, target: Target
) -> None:
    path = config(tmp_path, target, listen="no-such-host.invalid:9464")
    result = monitor("run", "-c", str(path))
    assert result.returncode == 2, result.stderr
    assert "[monitor] listen: cannot listen on no-such-host.invalid:9464" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("kind", ["fifo", "folder", "missing", "binary"])
def test_an_unreadable_api_key_file_is_a_config_error(
    tmp_path: Path, target: Target, kind: str
) -> None:
    key = tmp_path / "key"
    if kind == "fifo":
        os.mkfifo(key)  # reading it would wait for a writer forever
    elif kind == "folder":
        key.mkdir()
    elif kind == "binary":
        key.write_bytes(b"\xff\xfe secret \x00")
    publisher = f"""
[publisher]
type = "statuspage"
url = "http://127.0.0.1:9/v1"
page_id = "p"
api_key_file = "{key}"
"""
    path = config(tmp_path, target, publisher=publisher)
    result = monitor("run", "-c", str(path), timeout=20)
    assert result.returncode == 2, result.stderr
    assert "[publisher]: api_key_file: " in result.stderr
    assert "Traceback" not in result.stderr and "secret" not in result.stderr


def test_an_unusable_database_is_a_config_error(tmp_path: Path, target: Target) -> None:
    path = config(tmp_path, target)
    (tmp_path / "data" / "monitor.db").mkdir(parents=True)  # a folder where the file should be
    result = monitor("run", "-c", str(path))
    assert result.returncode == 2, result.stderr
    assert "[monitor] database" in result.stderr
    assert "Traceback" not in result.stderr
