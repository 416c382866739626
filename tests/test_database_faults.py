"""The database file under the daemon: deleted, renamed or replaced while it runs, created private,
and refused (untouched) when it is not ours or newer than this release, by every command."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import main
from monitor.model import Component, HttpCheck
from monitor.state import ComponentStatus, Status
from monitor.store import (
    SCHEMA_VERSION,
    NewerSchema,
    NotOurDatabase,
    Store,
    StoreError,
    open_db,
    register_checks,
    save_component_status,
)
from monitor.writer import Writer

from .conftest import DaemonProcess, count_rows, free_port, wait_for, write_config

COMPONENTS = (
    Component(
        id="api",
        name="API",
        checks=(
            HttpCheck(name="a", url="http://127.0.0.1:1/a"),
            HttpCheck(name="b", url="http://127.0.0.1:1/b"),
        ),
    ),
)
READ_COMMANDS = [["status"], ["status", "--json"], ["history"], ["incidents"], ["export"]]


def fingerprint(path: Path) -> tuple[str, int, list[str]]:
    """What must not change: the bytes, the mtime, and the files beside it."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return digest, path.stat().st_mtime_ns, sorted(os.listdir(path.parent))


def journal_mode(path: Path) -> str:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return str(conn.execute("PRAGMA journal_mode").fetchone()[0])
    finally:
        conn.close()


def foreign_database(path: Path, *, wal: bool) -> Path:
    """Somebody else's SQLite file: one table of theirs, closed cleanly."""
    conn = sqlite3.connect(path)
    if wal:
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    conn.execute("INSERT INTO invoices (total) VALUES (12.5)")
    conn.commit()
    conn.close()
    return path


def newer_database(path: Path) -> Path:
    """A monitor database written by a release that knows one more migration."""
    db = open_db(path)
    db.execute(
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
        "VALUES ('monitor', 'm999_from_the_future', '2030-01-01')"
    )
    db.conn.commit()
    db.close()
    return path


def config(folder: Path, database: str = "monitor.db", *, listen: str = "") -> Path:
    return write_config(
        folder,
        f"""
        [monitor]
        database = "{database}"
        listen = "{listen}"
        [defaults]
        interval = "1s"
        timeout = "1s"
        [[component]]
        name = "Web"
          [[component.check]]
          type = "tcp"
          host = "127.0.0.1"
          port = {free_port()}
        """,
    )


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def healthz(port: int) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except urllib.error.URLError:
        return 0, ""


def inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return None


# --- the writer: the file deleted, renamed or replaced under it -------------------------------


def started_writer(path: Path, **options: float) -> tuple[Writer, dict[str, int]]:
    settings: dict[str, float] = {"watch_every": 0.05, "recreate_after": 0.3, **options}
    writer = Writer(path, flush_interval=0.02, **settings)  # type: ignore[arg-type]
    writer.start()
    ids = writer.call(lambda db: register_checks(db, COMPONENTS)).result(5)
    return writer, ids


def row(at: int, check_id: int) -> tuple[int, int, int, int, int, None, None]:
    return (1_700_000_000_000 + at, check_id, 0, 1000, 200, None, None)


@pytest.mark.parametrize("how", ["delete", "delete with -wal and -shm", "rename"])
def test_writer_recreates_a_lost_database_with_its_check_ids_and_every_result_since(
    tmp_path: Path, how: str
) -> None:
    path = tmp_path / "monitor.db"
    writer, ids = started_writer(path)
    writer.submit(save_component_status("api", ComponentStatus(Status.PARTIAL_OUTAGE, 5.0, "b")))
    for i in range(50):
        writer.submit(row(i, ids["api/a"]))
    wait_for(lambda: writer.stats.rows_written == 50, 5, "the first rows")
    old_inode = inode(path)
    assert os.path.exists(f"{path}-wal"), "the daemon's WAL is beside the database"
    if how == "rename":
        os.rename(path, tmp_path / "kept.db")
    else:
        os.remove(path)
        if "wal" in how:
            os.remove(f"{path}-wal")
            os.remove(f"{path}-shm")
    for i in range(50, 80):  # taken while the file is gone: kept in memory
        writer.submit(row(i, ids["api/b"]))
    wait_for(lambda: writer.stats.last_error is not None, 5, "the writer to notice")
    assert f"database file {path} was deleted or renamed while running" in str(
        writer.stats.last_error
    )
    wait_for(lambda: writer.stats.last_error is None, 10, "the database to be recreated")
    assert inode(path) not in (None, old_inode)
    for i in range(80, 100):
        writer.submit(row(i, ids["api/a"]))
    writer.stop()

    store = Store.open(path)
    try:
        assert store.check_ids() == ids, "the same ids: the daemon's rows and states still fit"
        # Every result taken after the loss is in the new file, none twice.
        at = sorted(r.at_ms - 1_700_000_000_000 for r in store.results())
        assert at[-50:] == list(range(50, 100)) and len(at) == len(set(at))
        assert store.statuses()[1]["api"].status is Status.PARTIAL_OUTAGE
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        store.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    if how == "rename":  # the renamed file keeps its history, complete without its WAL
        kept = sqlite3.connect(tmp_path / "kept.db")
        assert kept.execute("SELECT count(*) FROM results").fetchone()[0] >= 50
        kept.close()


def test_writer_reopens_nothing_when_the_file_comes_back(tmp_path: Path) -> None:
    path = tmp_path / "monitor.db"
    writer, ids = started_writer(path, recreate_after=60)
    old_inode = inode(path)
    os.rename(path, tmp_path / "away.db")
    wait_for(lambda: writer.stats.last_error is not None, 5, "the writer to notice")
    writer.submit(row(1, ids["api/a"]))
    os.rename(tmp_path / "away.db", path)
    wait_for(lambda: writer.stats.last_error is None, 5, "the file back in place")
    writer.stop()
    assert inode(path) == old_inode
    assert count_rows(path) == 1


def test_writer_says_why_it_cannot_recreate_and_tries_again(tmp_path: Path) -> None:
    path = tmp_path / "data" / "monitor.db"
    writer, ids = started_writer(path)
    shutil.rmtree(tmp_path / "data")
    (tmp_path / "data").write_text("a file where the folder was")  # no folder can be made there
    writer.submit(row(1, ids["api/a"]))
    wait_for(
        lambda: "cannot recreate the database" in str(writer.stats.last_error),
        10,
        "the failure to recreate reported",
    )
    assert "deleted or renamed while running" in str(writer.stats.last_error)
    assert "trying again" in str(writer.stats.last_error)
    (tmp_path / "data").unlink()
    wait_for(lambda: writer.stats.last_error is None, 10, "the database recreated")
    writer.stop()
    assert count_rows(path) == 1
    assert not [p.name for p in path.parent.iterdir() if p.name.endswith(".new")]


def test_writer_leaves_a_replacement_alone_and_keeps_a_bounded_backlog(tmp_path: Path) -> None:
    path = tmp_path / "monitor.db"
    writer, ids = started_writer(path, max_pending=100)
    os.remove(path)
    path.mkdir()  # something else now stands at the path: never touched, never recreated
    wait_for(lambda: "replaced" in str(writer.stats.last_error), 5, "the replacement noticed")
    assert f"database file {path} was replaced by another file while running" in str(
        writer.stats.last_error
    )
    for i in range(250):
        writer.submit(row(i, ids["api/a"]))
    wait_for(lambda: writer.stats.dropped == 150, 5, "the oldest results dropped past the bound")
    wait_for(lambda: "150 results dropped" in str(writer.stats.last_error), 5, "drops reported")
    assert path.is_dir() and not any(path.iterdir())
    path.rmdir()  # gone now: recreated
    wait_for(lambda: writer.stats.last_error is None, 10, "the database to be recreated")
    writer.stop()
    store = Store.open(path)
    try:
        at = [r.at_ms - 1_700_000_000_000 for r in store.results()]
    finally:
        store.close()
    assert at == list(range(150, 250)), "the newest 100 kept"


def test_writer_refuses_to_adopt_a_foreign_file_put_in_place(tmp_path: Path) -> None:
    path = tmp_path / "monitor.db"
    writer, ids = started_writer(path)
    other = foreign_database(tmp_path / "other.db", wal=False)
    os.replace(other, path)
    before = fingerprint(path)
    wait_for(lambda: "replaced" in str(writer.stats.last_error), 5, "the replacement noticed")
    writer.submit(row(1, ids["api/a"]))
    writer.stop()
    assert fingerprint(path) == before


# --- the daemon: deleted while running --------------------------------------------------------


@pytest.mark.slow
def test_monitor_run_reports_a_deleted_database_and_recreates_it(
    tmp_path: Path, daemons: Callable[..., DaemonProcess]
) -> None:
    port = free_port()
    (tmp_path / "data").mkdir()
    daemon = daemons(config(tmp_path, "data/monitor.db", listen=f"127.0.0.1:{port}"))
    db = tmp_path / "data" / "monitor.db"
    wait_for(lambda: count_rows(db) >= 2 and healthz(port)[0] == 200, 20, "a healthy start")
    old_inode = inode(db)
    os.remove(db)
    answers: list[tuple[int, str]] = []

    def unhealthy() -> bool:
        answers.append(healthz(port))
        return answers[-1][0] == 503

    wait_for(unhealthy, 10, "/healthz to say the file is gone")
    assert f"database file {db} was deleted or renamed while running" in answers[-1][1]
    wait_for(lambda: healthz(port)[0] == 200, 20, "the database recreated")
    assert inode(db) not in (None, old_inode)
    wait_for(lambda: count_rows(db) >= 3, 20, "results arriving in the new file")
    assert count_rows(db, "checks") == 1
    for name in ("monitor.db", "monitor.db-wal", "monitor.db-shm"):
        assert stat.S_IMODE((tmp_path / "data" / name).stat().st_mode) == 0o600, name
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(10) == 0, daemon.log
    errors = [line for line in daemon.log.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "deleted or renamed" in errors[0], daemon.log
    code, output = cli("status", "--json", "-c", str(tmp_path / "checks.toml"))
    assert code == 0, output


# --- file modes -------------------------------------------------------------------------------


@pytest.mark.slow
def test_database_wal_and_shm_are_created_private_and_an_existing_mode_is_kept(
    tmp_path: Path, daemons: Callable[..., DaemonProcess]
) -> None:
    old = os.umask(0o022)
    try:
        daemon = daemons(config(tmp_path))
        db = tmp_path / "monitor.db"
        wait_for(lambda: count_rows(db) >= 1, 20, "the first result")
        for name in ("monitor.db", "monitor.db-wal", "monitor.db-shm"):
            assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(10) == 0
        db.chmod(0o640)  # the user's choice stands
        daemon = daemons(config(tmp_path))
        wait_for(lambda: count_rows(db) >= 2, 20, "more results")
        assert stat.S_IMODE(db.stat().st_mode) == 0o640
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(10) == 0
    finally:
        os.umask(old)


def test_open_db_creates_the_file_private(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        open_db(tmp_path / "m.db").close()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "m.db").stat().st_mode) == 0o600


# --- read-only commands -----------------------------------------------------------------------


@pytest.mark.parametrize("wal", [False, True], ids=["rollback journal", "wal"])
@pytest.mark.parametrize("command", READ_COMMANDS, ids=" ".join)
def test_read_only_commands_refuse_a_foreign_database_and_leave_it_untouched(
    tmp_path: Path, command: list[str], wal: bool
) -> None:
    db = foreign_database(tmp_path / "monitor.db", wal=wal)
    path = config(tmp_path)
    before = fingerprint(db)
    code, output = cli(*command, "-c", str(path))
    assert code == 2, output
    assert f"{db}: not a monitor database" in output
    assert fingerprint(db) == before
    assert journal_mode(db) == ("wal" if wal else "delete")


@pytest.mark.parametrize("command", READ_COMMANDS, ids=" ".join)
def test_read_only_commands_on_a_missing_database_create_nothing(
    tmp_path: Path, command: list[str]
) -> None:
    path = config(tmp_path)
    code, output = cli(*command, "-c", str(path))
    assert code == 2 and "no database yet" in output and str(tmp_path / "monitor.db") in output
    assert sorted(os.listdir(tmp_path)) == ["checks.toml"]


@pytest.mark.slow
def test_read_only_commands_read_beside_a_running_daemon_and_change_nothing_after(
    tmp_path: Path, daemons: Callable[..., DaemonProcess]
) -> None:
    path = config(tmp_path)
    db = tmp_path / "monitor.db"
    daemon = daemons(path)
    wait_for(lambda: count_rows(db) >= 2, 20, "results")
    for command in READ_COMMANDS:
        code, output = cli(*command, "-c", str(path))
        assert code == 0, (command, output)
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(10) == 0
    before = fingerprint(db)
    assert not os.path.exists(f"{db}-wal")
    for command in READ_COMMANDS:
        code, output = cli(*command, "-c", str(path))
        assert code == 0, (command, output)
    code, output = cli("export", "-c", str(path))
    assert output.count('"outcome"') >= 2
    assert fingerprint(db) == before, "no -wal or -shm left beside, the bytes unchanged"


@pytest.mark.slow
def test_read_only_commands_read_a_killed_daemons_wal(
    tmp_path: Path, daemons: Callable[..., DaemonProcess]
) -> None:
    path = config(tmp_path)
    db = tmp_path / "monitor.db"
    daemon = daemons(path)
    wait_for(lambda: count_rows(db) >= 2, 20, "results")
    daemon.signal(signal.SIGKILL)
    daemon.wait(10)
    assert os.path.exists(f"{db}-wal"), "what was committed is still in the WAL"
    digest = hashlib.sha256(db.read_bytes()).hexdigest()
    code, output = cli("export", "-c", str(path))
    assert code == 0, output
    assert hashlib.sha256(db.read_bytes()).hexdigest() == digest
    reader = sqlite3.connect(f"file:{db}?mode=ro", uri=True)  # cannot checkpoint either
    try:
        stored = reader.execute("SELECT count(*) FROM results").fetchone()[0]
    finally:
        reader.close()
    assert stored >= 2 and output.count('"outcome"') == stored


def test_read_only_commands_refuse_an_older_schema_without_upgrading_it(tmp_path: Path) -> None:
    db = tmp_path / "monitor.db"
    open_db(db).close()
    conn = sqlite3.connect(db)
    conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm006_run_end'")
    conn.commit()
    conn.close()
    path = config(tmp_path)
    before = fingerprint(db)
    code, output = cli("status", "-c", str(path))
    assert code == 2, output
    assert f"{db} has schema version {SCHEMA_VERSION - 1}" in output and "monitor run" in output
    assert fingerprint(db) == before


# --- every command refuses what it cannot use -------------------------------------------------


@pytest.mark.parametrize("command", [*READ_COMMANDS, ["run"]], ids=" ".join)
def test_a_newer_schema_is_refused_by_every_command(tmp_path: Path, command: list[str]) -> None:
    db = newer_database(tmp_path / "monitor.db")
    before = fingerprint(db)
    code, output = cli(*command, "-c", str(config(tmp_path)))
    assert code == 2, output
    assert (
        f"{db} has schema version {SCHEMA_VERSION + 1}; this monitor knows up to "
        f"{SCHEMA_VERSION}: upgrade monitor or use another database" in output
    )
    assert fingerprint(db)[:2] == before[:2]


@pytest.mark.parametrize("kind", ["folder", "foreign", "foreign wal", "newer"])
def test_monitor_run_with_an_unusable_database_exits_2_naming_key_and_file(
    tmp_path: Path, kind: str
) -> None:
    db = tmp_path / "monitor.db"
    if kind == "folder":
        db.mkdir()
    elif kind.startswith("foreign"):
        foreign_database(db, wal=kind.endswith("wal"))
    else:
        newer_database(db)
    before = fingerprint(db) if db.is_file() else None
    path = config(tmp_path)
    code, output = cli("run", "-c", str(path))
    assert code == 2, output
    assert f"{path}: [monitor] database: " in output and str(db) in output
    if before is not None:
        assert fingerprint(db)[:2] == before[:2]
        assert journal_mode(db) == ("wal" if kind in ("foreign wal", "newer") else "delete")


def test_an_unreadable_database_is_named_by_run_and_by_status() -> None:
    """As another user than the file's owner (root reads every file: run as nobody)."""
    prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    if os.geteuid() != 0:
        prefix = []
    elif shutil.which("setpriv") is None:
        pytest.skip("needs setpriv to run as another user than root")
    else:
        reach = subprocess.run(
            [*prefix, sys.executable, "-c", "import monitor"], capture_output=True, timeout=60
        )
        if reach.returncode != 0:  # a checkout under a folder only root may enter (mktemp -d)
            pytest.skip("this checkout cannot be read by the unprivileged user")
    folder = Path(tempfile.mkdtemp(prefix="monitor-unreadable-"))  # reachable by that user
    try:
        folder.chmod(0o777)
        db = folder / "monitor.db"
        open_db(db).close()
        db.chmod(0o600 if prefix else 0)
        path = config(folder)
        for command in ("run", "status"):
            done = subprocess.run(
                [*prefix, sys.executable, "-m", "monitor", command, "-c", str(path)],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode == 2, done.stderr
            assert f"{db}: cannot open the database: " in done.stderr
            assert "permission denied" in done.stderr.lower()
            assert "Traceback" not in done.stderr
    finally:
        shutil.rmtree(folder)


def test_open_db_refuses_what_is_not_ours_or_newer(tmp_path: Path) -> None:
    with pytest.raises(NotOurDatabase, match="not a monitor database"):
        open_db(foreign_database(tmp_path / "a.db", wal=False))
    with pytest.raises(NewerSchema, match="upgrade monitor"):
        open_db(newer_database(tmp_path / "b.db"))
    assert issubclass(NotOurDatabase, StoreError) and issubclass(NewerSchema, StoreError)
