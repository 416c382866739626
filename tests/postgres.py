"""A real PostgreSQL server for the tests, started from the binaries of the Debian package.

Each `PostgresServer` is a throwaway cluster: its own data directory under a temporary folder,
its own port on 127.0.0.1, trust authentication on loopback, fsync and full_page_writes off
(commits still reach the page cache, so a kill loses none), so initdb and a start take under
a second. The
postmaster is our child process, so `stop`, `kill` and `close` signal and reap it directly.

initdb and postgres refuse to run as root; under root (CI, the dev machines) they run as the
`postgres` system user that the Debian package creates, and the temporary folder is handed to it.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from pathlib import Path
from types import TracebackType
from typing import Literal

BIN_GLOB = "/usr/lib/postgresql/*/bin"
StopMode = Literal["smart", "fast", "immediate"]
STOP_SIGNALS = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}
SETTINGS = """
listen_addresses = '127.0.0.1'
unix_socket_directories = '{sockets}'
max_connections = 200
shared_buffers = 32MB
fsync = off
full_page_writes = off
# on, unlike fsync: a commit then costs one write() to the page cache, and kill() (a crash of
# the server, not of the machine) loses no transaction that a client saw committed.
synchronous_commit = on
"""
HBA = """
local all all trust
host all all 127.0.0.1/32 trust
"""


def find_bin_dir() -> Path | None:
    """The bin folder of the highest PostgreSQL version installed, or None."""
    found = [p for p in Path("/").glob(BIN_GLOB.lstrip("/")) if (p / "initdb").is_file()]
    if not found:
        return None

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", path.parent.name))

    return max(found, key=version)


def unavailable() -> str | None:
    """Why no server can be started here, or None when one can."""
    if find_bin_dir() is None:
        return f"no PostgreSQL server binaries ({BIN_GLOB}/initdb; apt-get install postgresql)"
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run initdb as"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresError(RuntimeError):
    """A server that would not start or stop, with the tail of its log."""


class PostgresServer:
    """One throwaway PostgreSQL cluster with a database `monitor`; `start()` before use.

    `url` is `postgresql://postgres@127.0.0.1:PORT/monitor`; the port stays the same across
    stop/start/kill, so a URL (or a FaultProxy in front) outlives a restart.
    """

    def __init__(self, bin_dir: Path | None = None) -> None:
        found = bin_dir or find_bin_dir()
        if found is None:
            raise PostgresError(unavailable() or "no PostgreSQL binaries")
        self.bin_dir = found
        self.port = _free_port()
        self.base = Path(tempfile.mkdtemp(prefix="monitor-pg-"))
        self.data_dir = self.base / "data"
        self.log_path = self.base / "server.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._initialised = False
        self._names = itertools.count(1)
        self._closed = False
        # Under root, every binary runs as `postgres`, which owns the folder (None: as we are).
        self._uid: int | None = None
        self._gid: int | None = None
        if os.geteuid() == 0:
            import pwd

            user = pwd.getpwnam("postgres")
            self._uid, self._gid = user.pw_uid, user.pw_gid
            os.chown(self.base, self._uid, self._gid)
        self.base.chmod(0o755)
        _LIVE.add(self)

    # -- the running server --------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.url_for("monitor")

    def url_for(self, database: str, port: int | None = None) -> str:
        """The URL of `database` here, or through another port (a FaultProxy in front)."""
        return f"postgresql://postgres@127.0.0.1:{port or self.port}/{database}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The postmaster's pid while it runs."""
        return self._proc.pid if self.running and self._proc else None

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self, timeout: float = 30.0) -> None:
        """Start the postmaster (initdb and `CREATE DATABASE monitor` the first time) and return
        once it accepts connections on its port."""
        if self._closed:
            raise PostgresError("server already closed")
        if self.running:
            return
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        deadline = time.monotonic() + timeout
        # The free port can be taken between our probe and the postmaster's bind: the first
        # start moves to another port then (later ones keep the port the URLs already name).
        for _attempt in range(3):
            if self._spawn(deadline):
                break
            if self._initialised or "could not bind" not in self.log:
                raise PostgresError(f"postgres did not start:\n{self._tail()}")
            self.port = _free_port()
        else:
            raise PostgresError(f"postgres found no free port:\n{self._tail()}")
        if not self._initialised:
            self.psql("CREATE DATABASE monitor")
            self._initialised = True

    def stop(self, mode: StopMode = "fast", timeout: float = 30.0) -> None:
        """Shut down as `pg_ctl stop -m MODE` would: fast rolls back and disconnects clients,
        immediate quits without a checkpoint (crash recovery at the next start)."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            self._proc = None
            return
        proc.send_signal(STOP_SIGNALS[mode])
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise PostgresError(f"postgres did not stop ({mode}) in {timeout} s") from None
        self._wait_group_gone(proc.pid, timeout)
        self._proc = None

    def restart(self, mode: StopMode = "fast") -> None:
        self.stop(mode)
        self.start()

    def kill(self, timeout: float = 10.0) -> None:
        """SIGKILL the postmaster and every process of its group, as a crash would, and wait until
        they are gone; the next `start()` runs crash recovery."""
        proc = self._proc
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout)
        self._wait_group_gone(proc.pid, timeout)
        self._proc = None
        # No process of it is left, so its lock file is stale: a new process that happens to
        # get the old pid must not make the next start think a postmaster still runs.
        (self.data_dir / "postmaster.pid").unlink(missing_ok=True)

    def fresh_database(self) -> str:
        """A new empty database (unique name) and its URL: tests isolated on one server."""
        name = f"test_{os.getpid()}_{next(self._names)}"
        self.psql(f"CREATE DATABASE {name}")
        return self.url_for(name)

    def psql(self, sql: str, database: str = "postgres", timeout: float = 30.0) -> str:
        """Run `sql` through psql over the server's unix socket; its output, or PostgresError."""
        command = [str(self.bin_dir / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
        command += ["-h", str(self.base), "-p", str(self.port), "-U", "postgres", "-d", database]
        done = subprocess.run(
            [*command, "-c", sql], capture_output=True, text=True, timeout=timeout, env=_env()
        )
        if done.returncode != 0:
            raise PostgresError(f"psql {sql!r} failed: {done.stderr.strip()}")
        return done.stdout

    def close(self) -> None:
        """Stop the server (immediately: nothing here needs to last) and remove its files."""
        if self._closed:
            return
        try:
            self.stop("immediate")
        except PostgresError:
            self.kill()
        finally:
            self._closed = True
            shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- behind the scenes --------------------------------------------------------------

    def _run(self, *args: str, timeout: float = 60.0) -> None:
        """Run a binary as the owner of the data directory."""
        done = subprocess.run(
            args,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.base,
            env=_env(),
            user=self._uid,
            group=self._gid,
            extra_groups=None if self._uid is None else [],
        )
        if done.returncode != 0:
            raise PostgresError(f"{Path(args[0]).name} failed: {done.stderr.strip()}")

    def _initdb(self) -> None:
        initdb = str(self.bin_dir / "initdb")
        self._run(initdb, "-N", "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C",
                  "-D", str(self.data_dir))  # fmt: skip
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(SETTINGS.format(sockets=self.base))
        (self.data_dir / "pg_hba.conf").write_text(HBA.lstrip())

    def _spawn(self, deadline: float) -> bool:
        """Start the postmaster; True once it accepts connections, False if it exited."""
        log = self.log_path.open("ab")
        try:
            self._proc = subprocess.Popen(
                [str(self.bin_dir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill() takes its children too
                cwd=self.base,
                env=_env(),
                user=self._uid,
                group=self._gid,
                extra_groups=None if self._uid is None else [],
            )
        finally:
            log.close()
        isready = [str(self.bin_dir / "pg_isready"), "-q", "-t", "2"]
        isready += ["-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", "postgres"]
        while True:
            if self._proc.poll() is not None:
                self._proc = None
                return False
            if subprocess.run(isready, env=_env(), timeout=10).returncode == 0:
                return True
            if time.monotonic() > deadline:
                self.kill()
                raise PostgresError(f"postgres not ready in time:\n{self._tail()}")
            time.sleep(0.02)

    def _wait_group_gone(self, pgid: int, timeout: float) -> None:
        """Wait until no live process is left in the postmaster's group: a backend that outlives
        it holds the shared memory, and the next start would refuse to run."""
        deadline = time.monotonic() + timeout
        while _group_alive(pgid):
            if time.monotonic() > deadline:
                raise PostgresError(f"processes of postgres group {pgid} still alive")
            time.sleep(0.01)

    def _tail(self, lines: int = 20) -> str:
        return "\n".join(self.log.splitlines()[-lines:])


_LIVE: weakref.WeakSet[PostgresServer] = weakref.WeakSet()


@atexit.register
def _close_left_over() -> None:
    """A script or test that never closed its server leaves no postmaster behind."""
    for server in list(_LIVE):
        server.close()


def _env() -> dict[str, str]:
    """Our environment without PG* variables, which would redirect psql and pg_isready."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


def _group_alive(pgid: int) -> bool:
    """Whether a process other than a zombie is still in process group `pgid` (Linux /proc)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False
