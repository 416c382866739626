"""The one thread that writes to SQLite.

The event loop never touches the database: it hands rows to `Writer.submit` (a lock-free queue
put) and carries on. The writer thread gathers what arrived into one transaction every
`flush_interval` seconds or `batch_max` rows, whichever comes first. A failed write (disk full,
database read-only) keeps the rows and tries again: nothing is dropped while memory lasts, and
`healthy` says so for /healthz.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
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
        self.stats = WriterStats()
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._pending: list[ResultRow] = []
        self._statements: dict[object, Stmt] = {}
        self._thread: threading.Thread | None = None
        self._ready = concurrent.futures.Future[None]()

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
        """Run fn(db) on the writer thread, after the rows queued before it are written."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._queue.put(_Call(fn, future))
        return future

    async def acall(self, fn: Callable[[sqlite_utils.Database], T]) -> T:
        return await asyncio.wrap_future(self.call(fn))

    @property
    def backlog(self) -> int:
        """Rows taken but not yet committed."""
        return self._queue.qsize() + len(self._pending) + len(self._statements)

    def stop(self, timeout: float = 10.0) -> None:
        """Write everything queued so far, close the connection and end the thread."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("writer: still busy after %.0f s, %d rows not written", timeout, self.backlog)
        self._thread = None

    def _run(self) -> None:
        try:
            db = open_db(self.path, busy_timeout=self.busy_timeout)
        except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
            self._ready.set_exception(exc)
            return
        self.stats.last_ok_at = time.monotonic()
        self._ready.set_result(None)
        try:
            self._loop(db)
        finally:
            db.close()

    def _loop(self, db: sqlite_utils.Database) -> None:
        stopping = False
        while not stopping:
            deadline = time.monotonic() + self.flush_interval
            call: _Call | None = None
            # While writes fail, keep gathering until the deadline instead of retrying at once.
            while self.stats.last_error is not None or len(self._pending) < self.batch_max:
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                if isinstance(item, _Call):
                    call = item  # run it now, after the rows queued before it
                    break
                self._take(item)
            self._flush(db)
            if call is not None:
                self._run_call(db, call)
            self._prune(db)
        while True:  # whatever was queued behind the stop marker
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _Call):
                self._run_call(db, item)
            elif item is not _STOP:
                self._take(item)
        self._flush(db)
        with contextlib.suppress(sqlite3.Error), db.conn:
            end_run(db, self.started, time.time())

    def _take(self, item: object) -> None:
        if isinstance(item, list):
            for each in item:
                self._take(each)
        elif isinstance(item, Stmt):
            self._statements[item.key if item.key is not None else object()] = item
        else:
            self._pending.append(item)  # type: ignore[arg-type]

    def _prune(self, db: sqlite_utils.Database) -> None:
        """One small chunk of retention between batches, so it never holds up a batch long."""
        if self.retention is None or time.monotonic() < self._prune_due:
            return
        try:
            started = time.perf_counter()
            deleted = prune(db, time.time() - self.retention, self.prune_chunk)
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

    def _flush(self, db: sqlite_utils.Database) -> None:
        if not self._pending and not self._statements:
            if self.stats.last_error is None:
                self.stats.last_ok_at = time.monotonic()
                if time.time() - self._last_beat > 5.0:  # idle: still say we are running
                    self._last_beat = time.time()
                    with contextlib.suppress(sqlite3.Error), db.conn:
                        heartbeat(db, self.started, self._last_beat)
            return
        started = time.perf_counter()
        hours, days, months = rollup_rows(self._pending)
        try:
            with db.conn:
                db.conn.executemany(INSERT_RESULTS, self._pending)
                db.conn.executemany(UPSERT_HOUR, hours)
                db.conn.executemany(UPSERT_DAY, days)
                db.conn.executemany(UPSERT_MONTH, months)
                heartbeat(db, self.started, time.time())
                for stmt in self._statements.values():
                    params = stmt.params() if callable(stmt.params) else stmt.params
                    db.conn.execute(stmt.sql, params)
        except Exception as exc:  # noqa: BLE001 - any failure keeps the rows for the next try
            if self.stats.last_error != str(exc):
                log.error(
                    "writer: cannot write %d rows (%s); keeping them", len(self._pending), exc
                )
            self.stats.last_error = str(exc)
            return
        elapsed = time.perf_counter() - started
        if self.stats.last_error is not None:
            log.info("writer: writing again, %d rows caught up", len(self._pending))
        self.stats.last_error = None
        self.stats.rows_written += len(self._pending)
        self.stats.batches += 1
        self.stats.last_commit_seconds = elapsed
        self.stats.max_commit_seconds = max(self.stats.max_commit_seconds, elapsed)
        self.stats.last_ok_at = time.monotonic()
        self._pending = []
        self._statements = {}

    @staticmethod
    def _run_call(db: sqlite_utils.Database, call: _Call) -> None:
        if not call.future.set_running_or_notify_cancel():
            return
        try:
            call.future.set_result(call.fn(db))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            call.future.set_exception(exc)
