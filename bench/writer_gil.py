"""Does the writer thread hold up the event loop? The loop's wake-up lateness while it feeds the
writer at a probe rate, with the writer's batches and without.

Every wake-up of the event loop (a response that arrived, a timer) has to take the GIL back
from whatever thread holds it; a thread busy in Python gives it up only every switch interval
(5 ms). Here the main thread runs an event loop that hands, per "probe", what the recorder
hands on for a probe that changed no state (`monitor.recorder.record`) to a real `Writer` on a
file in a temp folder, and sleeps on a 2 ms timer in between, measuring how late each timer
fires. The same feed with the writer not started is the baseline; rounds alternate the two,
since other load on the machine moves both. Measuring starts after a warm-up in which every
check has had its first probe, whose state the writer saves at once (later ones it holds).

    python bench/writer_gil.py                         # 1,000 probes/s, 20 s each, 2 rounds
    python bench/writer_gil.py --rate 300 --duration 15 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from common import CLK_TCK, percentile, print_table, save

from monitor.model import Outcome, ProbeResult
from monitor.recorder import Route, record
from monitor.state import CheckState, CheckStatus
from monitor.writer import Writer

TICK = 0.002


def _register(checks: int):  # type: ignore[no-untyped-def]
    def insert(db):  # type: ignore[no-untyped-def]
        with db.conn:
            db.execute("INSERT INTO components (id, name) VALUES ('c', 'c')")
            db.conn.executemany(
                "INSERT INTO checks (key, component, name, type, target) "
                "VALUES (?, 'c', ?, 'http', 'http://127.0.0.1/')",
                [(f"c/{i}", str(i)) for i in range(checks)],
            )
            return [row[0] for row in db.execute("SELECT id FROM checks ORDER BY id")]

    return insert


def _run_delay() -> float:
    """Seconds this thread has spent runnable but waiting for a CPU (/proc schedstat)."""
    with open("/proc/thread-self/schedstat") as stat:
        return int(stat.read().split()[1]) / 1e9


async def _run(
    writer: Writer | None, ids: list[int], rate: float, duration: float, warmup: float
) -> tuple[list[float], list[float], float, int]:
    """Feed `rate` probes a second for `warmup` + `duration` s. For the last `duration` s: the
    lateness of each TICK timer (s); the same less the time the thread waited for a CPU
    meanwhile, which leaves waiting while not runnable, for the GIL (other load on the machine
    moves the first, hardly this); the writer thread's CPU seconds and its batches."""
    loop = asyncio.get_running_loop()
    route = Route()
    late: list[float] = []
    blocked: list[float] = []
    tid = writer._thread.native_id if writer is not None and writer._thread else None
    cpu0, batches0 = 0.0, 0
    began = time.perf_counter()
    measuring = False
    sent = 0
    n = 0
    while (now := time.perf_counter()) - began < warmup + duration:
        if not measuring and now - began >= warmup:
            measuring = True
            cpu0, batches0 = _thread_cpu(tid), writer.stats.batches if writer else 0
        due = int((now - began) * rate)
        for _ in range(due - sent):
            check_id = ids[n % len(ids)]
            n += 1
            result = ProbeResult(Outcome.OK, 0.05, status_code=200)
            status = CheckStatus(
                CheckState.UP, since=began, probes=n, last_latency=0.05, last_at=time.time()
            )
            items = record([], route, (check_id, time.time(), result, status))
            if writer is not None:
                writer.submit(items)
        sent = due
        queued = _run_delay()
        wake = loop.time() + TICK
        fired = loop.create_future()
        loop.call_at(wake, fired.set_result, None)
        await fired
        if measuring:
            late.append(loop.time() - wake)
            blocked.append(max(0.0, late[-1] - (_run_delay() - queued)))
    batches = writer.stats.batches - batches0 if writer else 0
    return late, blocked, _thread_cpu(tid) - cpu0, batches


def measure(
    work: Path, rate: float, duration: float, checks: int, on: bool, warmup: float
) -> dict[str, object]:
    writer = Writer(work / f"gil-{time.monotonic_ns()}.db") if on else None
    ids = list(range(1, checks + 1))
    if writer is not None:
        writer.start()
        ids = writer.call(_register(checks)).result()
    try:
        late, blocked, cpu, batches = asyncio.run(_run(writer, ids, rate, duration, warmup))
    finally:
        if writer is not None:
            writer.stop()
    return {
        "writer": "on" if on else "off",
        "rate": rate,
        "ticks": len(late),
        "late_p50_ms": percentile(late, 50) * 1000,
        "late_p99_ms": percentile(late, 99) * 1000,
        "late_p999_ms": percentile(late, 99.9) * 1000,
        "late_max_ms": max(late) * 1000,
        "over_2ms_pct": 100 * sum(x > 0.002 for x in late) / len(late),
        "blocked_p99_ms": percentile(blocked, 99) * 1000,
        "blocked_p999_ms": percentile(blocked, 99.9) * 1000,
        "blocked_max_ms": max(blocked) * 1000,
        "blocked_over_1ms_pct": 100 * sum(x > 0.001 for x in blocked) / len(blocked),
        "batches": batches if on else None,
        "max_commit_ms": writer.stats.max_commit_seconds * 1000 if writer else None,
        "writer_cpu_ms_per_batch": cpu * 1000 / max(1, batches) if on else None,
        "writer_cpu_pct": 100 * cpu / duration if on else None,
    }


def _thread_cpu(tid: int | None) -> float:
    """CPU seconds (user + system) of one thread of this process, from /proc."""
    if tid is None:
        return 0.0
    fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--checks", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--warmup",
        type=float,
        default=None,
        help="seconds fed before measuring; default checks/rate + 1, when every check's first "
        "state write is behind",
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="monitor-gil-"))
    warmup = args.warmup if args.warmup is not None else args.checks / args.rate + 1
    rows = [
        measure(work, args.rate, args.duration, args.checks, on, warmup)
        for _ in range(args.rounds)
        for on in (False, True)
    ]
    print_table(
        rows,
        [
            ("writer", "writer"),
            ("rate", "probes/s"),
            ("ticks", "ticks"),
            ("late_p50_ms", "late p50 ms"),
            ("late_p99_ms", "p99 ms"),
            ("late_p999_ms", "p99.9 ms"),
            ("late_max_ms", "max ms"),
            ("over_2ms_pct", "> 2 ms %"),
            ("blocked_p99_ms", "not runnable p99"),
            ("blocked_p999_ms", "p99.9"),
            ("blocked_max_ms", "max"),
            ("blocked_over_1ms_pct", "> 1 ms %"),
            ("batches", "batches"),
            ("max_commit_ms", "max commit ms"),
            ("writer_cpu_ms_per_batch", "writer CPU ms/batch"),
            ("writer_cpu_pct", "writer CPU %"),
        ],
    )
    print(f"json: {save('writer_gil', rows, args.json)}")


if __name__ == "__main__":
    main()
