"""The one thread that writes to SQLite.

The event loop never touches the database: it hands rows to `Writer.submit` (a lock-free queue
put) and carries on. The writer thread sleeps between batches and gathers what arrived into one
transaction every `flush_interval` seconds or `batch_max` rows, whichever comes first; only a
`call` or the stop wakes it early. A failed write (disk full, database read-only) keeps the rows
and tries again, and `stats.last_error` says why for /healthz. Memory is bounded: past
`max_pending` results waiting (about 200 bytes each) the oldest are dropped, counted in
`stats.dropped` and in `stats.last_error`.

A statement with a `lag` (a check's status after a probe that changed no state) is held until
its key has gone `lag` seconds unwritten, newest kept; `stop` writes what is held.

The file is watched too (`monitor.store.recreate` says what is carried over): every
`watch_every` seconds the writer compares the (device, inode) at the database's path with those
of the file it has open. A file deleted or renamed away is reported, results are kept in memory,
and `recreate_after` seconds later the database is recreated at its path and what was kept is
written. A file replaced by another is left alone and reported until monitor is restarted, or
until it is removed (then the database is recreated).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import heapq
import itertools
import logging
import queue
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import sqlite_utils

from monitor.store import (
    INSERT_RESULTS,
    UPSERT_DAY,
    UPSERT_HOUR,
    UPSERT_MONTH,
    ResultRow,
    Stmt,
    end_run,
    heartbeat,
    open_db,
    prune,
    rollup_rows,
)
from monitor.store.recreate import DELETED, DatabaseFile

log = logging.getLogger(__name__)

T = TypeVar("T")

_STOP = object()


@dataclass(frozen=True, slots=True)
class _Call:
    fn: Callable[[sqlite_utils.Database], Any]
    future: concurrent.futures.Future[Any]


@dataclass
class WriterStats:
    rows_written: int = 0
    batches: int = 0
    last_commit_seconds: float = 0.0
    max_commit_seconds: float = 0.0
    last_error: str | None = None
    last_ok_at: float = 0.0  # time.monotonic() of the last successful commit or idle check
    pruned: int = 0  # raw results deleted by retention
    max_prune_seconds: float = 0.0
    dropped: int = 0  # results dropped, oldest first, past max_pending waiting
    recreated: int = 0  # times the database file was recreated after it was lost


class Writer:
    """Owns the writing connection in a thread of its own; see the module docstring."""

    def __init__(
        self,
        path: Path | str,
        *,
        flush_interval: float = 0.25,
        batch_max: int = 5000,
        busy_timeout: float = 5.0,
        retention: float | None = None,
        prune_chunk: int = 2000,
        prune_every: float = 60.0,
        max_pending: int = 500_000,
        watch_every: float = 1.0,
        recreate_after: float = 3.0,
    ) -> None:
        self.path = path
        self.retention = retention
        self.prune_chunk = prune_chunk
        self.prune_every = prune_every
        self.started = time.time()
        self._prune_due = 0.0
        self._last_beat = 0.0
        self.busy_timeout = busy_timeout
        self.flush_interval = flush_interval
        self.batch_max = batch_max
        self.max_pending = max_pending
        self.stats = WriterStats()
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._wake = threading.Event()  # set after queueing a call or the stop
        self._pending: deque[ResultRow] = deque(maxlen=max_pending)
        self._statements: dict[object, Stmt] = {}
        self._held: dict[object, Stmt] = {}  # keys written less than their lag ago: the newest
        self._fresh: dict[object, float] = {}  # key -> when (monotonic) its lag is over
        self._lags: list[tuple[float, int, object]] = []  # (when, order, key), a heap
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        self._ready = concurrent.futures.Future[None]()
        self._db: sqlite_utils.Database | None = None
        self._file = (
            None
            if str(path) == ":memory:"
            else DatabaseFile(Path(path), watch_every=watch_every, recreate_after=recreate_after)
        )
        self._unconfirmed: list[ResultRow] = []  # written since the file was last seen in place
        self._write_error: str | None = None
        self._dropped_now = 0
        self._reported: str | None = None

    def start(self) -> None:
        """Start the thread; returns once the database is open and migrated (or raises)."""
        self._thread = threading.Thread(target=self._run, name="monitor-writer", daemon=True)
        self._thread.start()
        self._ready.result()

    def submit(self, item: ResultRow | Stmt | list[ResultRow | Stmt]) -> None:
        """Queue a result row, a statement, or a list of them that must land in the same
        transaction, for the next batch. Never blocks."""
        self._queue.put(item)

    def call(self, fn: Callable[[sqlite_utils.Database], T]) -> concurrent.futures.Future[T]:
        """Run fn(db) on the writer thread, after the rows queued before it are written (or,
        while the database file is lost, kept)."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._queue.put(_Call(fn, future))
        self._wake.set()
        return future

    async def acall(self, fn: Callable[[sqlite_utils.Database], T]) -> T:
        return await asyncio.wrap_future(self.call(fn))

    @property
    def backlog(self) -> int:
        """Rows taken but not yet committed (held statements aside: they wait on purpose)."""
        return self._queue.qsize() + len(self._pending) + len(self._statements)

    def stop(self, timeout: float = 10.0) -> None:
        """Write everything queued so far, close the connection and end the thread."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._wake.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("writer: still busy after %.0f s, %d rows not written", timeout, self.backlog)
        self._thread = None

    def _run(self) -> None:
        try:
            self._db = open_db(self.path, busy_timeout=self.busy_timeout)
            if self._file is not None:
                self._file.opened(self._db, self._file.path)
        except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
            self._ready.set_exception(exc)
            return
        self.stats.last_ok_at = time.monotonic()
        self._ready.set_result(None)
        try:
            self._loop()
        finally:
            self._db.close()

    def _loop(self) -> None:
        assert self._db is not None
        stopping = False
        while not stopping:
            deadline = time.monotonic() + self.flush_interval
            call: _Call | None = None
            # While writes fail, keep gathering until the deadline instead of retrying at once.
            while self.stats.last_error is not None or len(self._pending) < self.batch_max:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    # Sleep until the deadline: a call or the stop wakes us, a row does not (a
                    # wake-up per probe cost a thread switch and a GIL hand-over each).
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._wake.wait(remaining)
                    self._wake.clear()  # then look again: whatever set it was queued first
                    continue
                if item is _STOP:
                    stopping = True
                    break
                if isinstance(item, _Call):
                    call = item  # run it now, after the rows queued before it
                    break
                self._take(item)
            self._flush()
            if call is not None:
                self._run_call(call)
            self._watch()
            self._prune()
            self._report()
        while True:  # whatever was queued behind the stop marker
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _Call):
                self._run_call(item)
            elif item is not _STOP:
                self._take(item)
        if self._lost == DELETED:  # stopping: recreate now rather than lose what is kept
            self._recreate()
        self._statements.update(self._held)  # disjoint: a key is held or due, never both
        self._held = {}
        self._flush()
        if self._lost:
            self._report()
            log.error("writer: stopping with %d results not written", len(self._pending))
            return
        with contextlib.suppress(sqlite3.Error), self._db.conn:
            end_run(self._db, self.started, time.time())

    def _take(self, item: object) -> None:
        if isinstance(item, list):
            for each in item:
                self._take(each)
        elif isinstance(item, Stmt):
            self._take_statement(item)
        else:
            self._keep((item,))  # type: ignore[arg-type]

    def _take_statement(self, stmt: Stmt) -> None:
        """Due in the next batch, or held while its key is fresh (see `Stmt.lag`)."""
        key = stmt.key if stmt.key is not None else object()
        if stmt.lag > 0 and key in self._fresh and key not in self._statements:
            self._held[key] = stmt
            return
        self._held.pop(key, None)
        self._statements[key] = stmt

    def _release(self) -> None:
        """The held statements whose key's lag is over become due."""
        now = time.monotonic()
        lags = self._lags
        while lags and lags[0][0] <= now:
            when, _, key = heapq.heappop(lags)
            if self._fresh.get(key) != when:  # the key was written again since
                continue
            del self._fresh[key]
            stmt = self._held.pop(key, None)
            if stmt is not None:
                self._statements[key] = stmt

    def _written(self, statements: dict[object, Stmt]) -> None:
        """Keys of statements with a lag are fresh for that long."""
        now = time.monotonic()
        for key, stmt in statements.items():
            if stmt.lag > 0:
                when = self._fresh[key] = now + stmt.lag
                heapq.heappush(self._lags, (when, next(self._order), key))

    def _keep(self, rows: Iterable[ResultRow]) -> None:
        """Add results to those waiting; past max_pending the oldest go."""
        for row in rows:
            if len(self._pending) == self.max_pending:
                if self._dropped_now == 0:
                    log.warning(
                        "writer: %d results waiting, the most kept in memory: dropping the "
                        "oldest until the database takes writes again",
                        self.max_pending,
                    )
                self.stats.dropped += 1
                self._dropped_now += 1
            self._pending.append(row)

    @property
    def _lost(self) -> str | None:
        return self._file.lost if self._file is not None else None

    def _watch(self) -> None:
        """Is the database file still at its path? See `DatabaseFile`."""
        if self._file is None:
            return
        assert self._db is not None
        seen = self._file.look(self._db)
        if seen == "in place":
            self._unconfirmed = []
        elif seen == "due":
            self._recreate()

    def _recreate(self) -> None:
        assert self._db is not None and self._file is not None
        db = self._file.replace(self._db)
        if db is None:
            return
        self._db = db
        if self._file.lost:  # made, but not yet at its path
            return
        self.stats.rows_written -= len(self._unconfirmed)  # written again, to the new file
        rows = [*self._unconfirmed, *self._pending]
        self._unconfirmed, self._pending = [], deque(maxlen=self.max_pending)
        self._keep(rows)
        self.started = time.time()  # monitored time in the new file starts now
        self.stats.recreated += 1
        log.warning(
            "writer: recreated the database %s; checks, statuses and the publishing queue "
            "carried over, history starts anew; writing the %d results kept",
            self._file.path,
            len(self._pending),
        )

    def _prune(self) -> None:
        """One small chunk of retention between batches, so it never holds up a batch long."""
        if self.retention is None or self._lost or time.monotonic() < self._prune_due:
            return
        assert self._db is not None
        try:
            started = time.perf_counter()
            deleted = prune(self._db, time.time() - self.retention, self.prune_chunk)
            self.stats.pruned += deleted
            self.stats.max_prune_seconds = max(
                self.stats.max_prune_seconds, time.perf_counter() - started
            )
        except sqlite3.Error as exc:
            log.warning("writer: retention failed (%s); trying again later", exc)
            deleted = 0
        # More to delete: go on after the next batch; done: look again in a minute.
        more = deleted >= self.prune_chunk
        self._prune_due = time.monotonic() + (0.0 if more else self.prune_every)

    def _flush(self) -> None:
        """Commit what waits in one transaction. While the file is lost, results wait in memory
        for the new file; statements go on into the old one, whence they are carried over."""
        db = self._db
        assert db is not None
        self._release()
        rows: deque[ResultRow] | tuple[()] = () if self._lost else self._pending
        if not rows and not self._statements:
            if self._write_error is None and self._lost is None:
                self.stats.last_ok_at = time.monotonic()
                if time.time() - self._last_beat > 5.0:  # idle: still say we are running
                    self._last_beat = time.time()
                    with contextlib.suppress(sqlite3.Error), db.conn:
                        heartbeat(db, self.started, self._last_beat)
            return
        started = time.perf_counter()
        hours, days, months = rollup_rows(rows)
        try:
            with db.conn:
                if rows:
                    db.conn.executemany(INSERT_RESULTS, rows)
                    db.conn.executemany(UPSERT_HOUR, hours)
                    db.conn.executemany(UPSERT_DAY, days)
                    db.conn.executemany(UPSERT_MONTH, months)
                if not self._lost:
                    heartbeat(db, self.started, time.time())
                for stmt in self._statements.values():
                    params = stmt.params() if callable(stmt.params) else stmt.params
                    db.conn.execute(stmt.sql, params)
        except Exception as exc:  # noqa: BLE001 - any failure keeps the rows for the next try
            self._write_error = str(exc)
            return
        elapsed = time.perf_counter() - started
        if self._write_error is not None:
            log.info("writer: writing again, %d rows caught up", len(rows))
            self._write_error = None
        self._written(self._statements)
        self._statements = {}
        if not rows:
            return
        self.stats.rows_written += len(rows)
        self.stats.batches += 1
        self.stats.last_commit_seconds = elapsed
        self.stats.max_commit_seconds = max(self.stats.max_commit_seconds, elapsed)
        self.stats.last_ok_at = time.monotonic()
        if self._file is not None:
            self._unconfirmed.extend(rows)
        self._pending = deque(maxlen=self.max_pending)

    def _report(self) -> None:
        """Say what keeps results from the database, in `stats.last_error` and, once per
        problem, in the log."""
        problem = self._file.problem() if self._file is not None else None
        if problem is None:
            problem = self._write_error
        if problem != self._reported and problem is not None:
            if problem == self._write_error:
                log.error(
                    "writer: cannot write %d rows (%s); keeping them", len(self._pending), problem
                )
            else:
                log.error("writer: %s", problem)
        self._reported = problem
        if problem is None:
            self._dropped_now = 0
        elif self._dropped_now:
            problem += (
                f"; {self._dropped_now} results dropped (more than {self.max_pending} waiting)"
            )
        self.stats.last_error = problem

    def _run_call(self, call: _Call) -> None:
        assert self._db is not None
        if not call.future.set_running_or_notify_cancel():
            return
        try:
            call.future.set_result(call.fn(self._db))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            call.future.set_exception(exc)
