"""Probing in worker processes: `[monitor] workers = N` shards the checks over N processes.

One event loop carries about 1,400 probes a second on this class of machine, and a busy loop
adds its queueing to every measured latency. With workers, each process runs its own scheduler
and probes for a stable share of the checks (by a hash of the check's key) and sends each
result over a pipe; the daemon's process keeps everything else: the status engine, the writer,
the publishers, the HTTP server. The pool is a prober (`monitor.prober.Prober`), like the
scheduler it runs in each worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import queue
import signal
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import asdict
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from monitor import loops
from monitor.model import Check, ProbeResult
from monitor.probes import ProbeContext, ResultFn, probe_keyed
from monitor.scheduler import GRACE, ClockWatch, ProbeScheduler, ScheduleStats, StepFn

log = logging.getLogger(__name__)


class Outbox:
    """Messages to one worker, sent by a thread of their own, in order.

    The daemon's event loop must never block on a full pipe: a worker blocked sending results
    (the daemon not reading them while it writes) stops reading its commands, and a daemon
    blocked writing commands never reads the results. A reload that changes 100,000 checks sent
    100,000 commands from the loop and hung the daemon that way. The thread may block; the loop
    goes on reading results, so the worker drains both ways.
    """

    _STOP = None

    def __init__(self, conn: Connection, name: str) -> None:
        self._conn = conn
        self._queue: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def send(self, message: tuple[Any, ...]) -> None:
        self._queue.put(message)

    def close(self, wait: float = 1.0) -> None:
        """No more messages: the thread sends what is queued (while the worker reads) and ends."""
        self._queue.put(self._STOP)
        self._thread.join(wait)

    def _run(self) -> None:
        while (message := self._queue.get()) is not self._STOP:
            try:
                self._conn.send(message)
            except OSError:  # the worker is gone: the pool notices on its end and acts
                return


def _worker(
    conn: Connection,
    checks: dict[str, Check],
    concurrency: int,
    grace: float,
    clock: Callable[[], float] = time.time,
) -> None:
    """A worker process: probe `checks` on their schedule until told to stop."""
    # The daemon's process decides when to stop (systemd signals the whole group).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    loops.run(_serve(conn, checks, concurrency, grace, clock))


async def _serve(
    conn: Connection,
    checks: dict[str, Check],
    concurrency: int,
    grace: float,
    clock: Callable[[], float],
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    ctx = ProbeContext()

    def send(key: str, planned: float, lateness: float, result: ProbeResult) -> None:
        conn.send(("result", key, planned, lateness, result))

    # Its pace is monotonic; the daemon's process notices and reports wall-clock steps, once.
    scheduler = ProbeScheduler(
        probe_keyed(checks.get, ctx, send),
        concurrency=concurrency,
        clock=clock,
        watch_clock=False,
        grace=grace,
    )

    def on_message() -> None:
        try:
            while conn.poll():
                message = conn.recv()
                kind = message[0]
                if kind == "stop":
                    stop.set()
                elif kind == "add":
                    _, key, check = message
                    checks[key] = check
                    scheduler.add([(key, check.interval)])
                elif kind == "update":
                    _, key, check = message
                    if key in checks:
                        checks[key] = check
                        scheduler.update([(key, check.interval)])
                elif kind == "remove" and checks.pop(message[1], None) is not None:
                    scheduler.remove(message[1])
        except (EOFError, OSError):  # the daemon is gone: stop too
            stop.set()

    loops.add_reader(conn.fileno(), on_message)
    async with ctx:
        scheduler.add((key, check.interval) for key, check in checks.items())
        scheduler.start()
        await stop.wait()
        await scheduler.stop()
    loop.remove_reader(conn.fileno())
    conn.send(("done", asdict(scheduler.stats)))


class ProbePool:
    """N worker processes behind the prober's interface.

    `check_of` gives the check of a key as configured now, sent to its worker on `add` and
    `update`; `clock` is the wall clock, passed to the workers too (so it must pickle, like
    time.time).
    """

    def __init__(
        self,
        workers: int,
        *,
        concurrency: int,
        check_of: Callable[[str], Check | None],
        on_result: ResultFn,
        grace: float = GRACE,
        clock: Callable[[], float] = time.time,
        on_clock_step: StepFn | None = None,
    ) -> None:
        self.size = workers
        self.concurrency = max(1, concurrency // workers)
        self.check_of = check_of
        self.on_result = on_result
        self.grace = grace
        self.stats = ScheduleStats()
        self._mp = multiprocessing.get_context("spawn")
        self._keys: list[set[str]] = [set() for _ in range(workers)]
        self._conns: list[Connection | None] = [None] * workers
        self._outboxes: list[Outbox | None] = [None] * workers
        self._procs: list[BaseProcess | None] = [None] * workers
        self._done = 0
        self._all_done = asyncio.Event()
        self._stopping = False
        self._started = False
        self._clock = clock
        self._on_clock_step = on_clock_step
        self._watch = ClockWatch(clock, self._stepped)

    def _stepped(self, step: float) -> None:
        self.stats.clock_steps += 1
        if self._on_clock_step is not None:
            self._on_clock_step(step)

    def _index(self, key: str) -> int:
        return zlib.crc32(key.encode()) % self.size

    @property
    def running(self) -> bool:
        return (
            self._started
            and not self._stopping
            and all(p is not None and p.is_alive() for p in self._procs)
        )

    @property
    def pids(self) -> tuple[int, ...]:
        """The worker processes running now."""
        return tuple(p.pid for p in self._procs if p is not None and p.pid is not None)

    def add(self, jobs: Iterable[tuple[str, float]]) -> None:
        for key, _ in jobs:
            if (check := self.check_of(key)) is not None:
                index = self._index(key)
                self._keys[index].add(key)
                self._send(index, ("add", key, check))

    def update(self, jobs: Iterable[tuple[str, float]]) -> None:
        """Checks whose settings changed: their worker probes with the new ones (and schedules
        them again if the interval changed)."""
        for key, _ in jobs:
            if (check := self.check_of(key)) is not None:
                self._send(self._index(key), ("update", key, check))

    def remove(self, key: str) -> None:
        index = self._index(key)
        self._keys[index].discard(key)
        self._send(index, ("remove", key))

    def _send(self, index: int, message: tuple[Any, ...]) -> None:
        if self._started:
            self._send_anyway(index, message)

    def start(self) -> None:
        self._started = True
        for index in range(self.size):
            self._spawn(index)
        self._watch.start()

    def _spawn(self, index: int) -> None:
        parent, child = self._mp.Pipe()
        checks = {key: check for key in self._keys[index] if (check := self.check_of(key))}
        process = self._mp.Process(
            target=_worker,
            args=(child, checks, self.concurrency, self.grace, self._clock),
            name=f"monitor-probe-{index}",
            daemon=True,
        )
        process.start()
        child.close()
        self._conns[index], self._procs[index] = parent, process
        self._outboxes[index] = Outbox(parent, name=f"monitor-probe-{index}-outbox")
        loops.add_reader(parent.fileno(), self._on_message, index)

    def _on_message(self, index: int) -> None:
        conn = self._conns[index]
        assert conn is not None
        try:
            while conn.poll():
                message = conn.recv()
                if message[0] == "result":
                    _, key, planned, lateness, result = message
                    self.stats.started += 1
                    self.stats.max_lateness = max(self.stats.max_lateness, lateness)
                    if key in self._keys[index]:
                        self.on_result(key, planned, lateness, result)
                elif message[0] == "done":
                    stats = message[1]
                    self.stats.missed += stats["missed"]
                    self.stats.overlapped += stats["overlapped"]
                    self._finished(index)
                    return
        except (EOFError, OSError):
            self._finished(index)
            if not self._stopping:
                log.error("probe worker %d died; starting it again", index)
                self._spawn(index)

    def _finished(self, index: int) -> None:
        conn, outbox = self._conns[index], self._outboxes[index]
        if outbox is not None:  # the worker has ended or is ending: its sends end at once
            outbox.close()
            self._outboxes[index] = None
        if conn is not None:
            asyncio.get_running_loop().remove_reader(conn.fileno())
            conn.close()
            self._conns[index] = None
        if self._stopping:
            self._done += 1
            if self._done >= self.size:
                self._all_done.set()

    async def stop(self) -> None:
        """Stop scheduling, let the probes in flight finish and deliver their results."""
        log.info("stopping: %d probe workers finish their probes", self.size)
        self._stopping = True
        self._watch.stop()
        for index in range(self.size):
            if self._conns[index] is None:
                self._done += 1
            else:
                self._send_anyway(index, ("stop",))
        if self._done >= self.size:
            self._all_done.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._all_done.wait(), timeout=self.grace + 3.0)
        deadline = time.monotonic() + 2.0
        for process in self._procs:
            if process is not None:
                process.join(max(0.0, deadline - time.monotonic()))
                if process.is_alive():
                    process.kill()

    def _send_anyway(self, index: int, message: tuple[Any, ...]) -> None:
        outbox = self._outboxes[index]
        if outbox is not None:
            outbox.send(message)
