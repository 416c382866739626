"""Where a probe's CPU goes: `monitor run` on N http checks, sampled by py-spy, summed by area.

The daemon runs as in bench/scale.py (one process, `workers = 1`, a fresh bench/target.py).
After one interval of warm-up, py-spy samples every thread for --duration seconds while the
daemon's CPU time is read from /proc, per thread. Each sample goes to the area of the innermost
frame that an area claims (a rule below), so time in the standard library or the event loop
counts for whoever called it; waiting (epoll, the writer's sleep) is left out. Each thread's CPU
time in the window is then shared out over its own samples: ms per probe per area.

    pip install py-spy                     # into the venv; not a dependency of the monitor
    python bench/profile.py                # 3,000 checks every 5 s (600/s), 60 s
    python bench/profile.py --checks 5000 --interval 5 --raw /tmp/raw.txt
    python bench/profile.py --summarise bench/results/profile.json     # the last run again
    python bench/profile.py --floor        # a bare aiohttp loop on the same target and rate

Sampling counts a thread that is runnable but waiting for a core (or for the GIL) as busy, so
on a loaded machine the split is rougher than the total, which comes from /proc.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

from common import (
    CLK_TCK,
    Daemon,
    Target,
    cpu_seconds,
    free_port,
    monitor_config,
    paths,
    save,
    target_timing,
)

IDLE = "(waiting)"

# (area, thread: "main", "writer" or "" for any, pattern on "function (file:line)").
# The innermost frame that a rule claims decides; in one frame, the first rule that matches.
# A sample no rule claims goes to the event loop (main thread) or the writer's other work.
RULES: list[tuple[str, str, str]] = [
    (IDLE, "main", r"^EpollSelector\.select "),
    (IDLE, "writer", r"^(Condition|Event)\.wait "),  # asleep between batches
    ("writer: check state (encode + SQL)", "writer", r"store/saved\.py|store/status\.py"),
    ("writer: check state (encode + SQL)", "writer", r"dataclasses\.py|json/|copy\.py"),
    ("writer: results and rollups", "writer", r"store/results\.py|store/codes\.py"),
    (
        "connection set-up and close",
        "main",
        r"aiohttp/connector\.py|aiohappyeyeballs|^socket\.|^_intenum_converter|selectors\.py|"
        r"(sock_connect|_sock_connect|create_connection|_make_socket_transport|"
        r"Transport\.__init__|Transport\.close|_call_connection_lost|_add_writer|_remove_writer|"
        r"_add_reader|_remove_reader|_ensure_fd_no_transport|_ensure_resolved|_ipaddr_info) ",
    ),
    (
        "aiohttp request and response (send, receive)",
        "main",
        r"aiohttp/|yarl/|multidict/|propcache/|Transport\.(write|_read_ready\w*) ",
    ),
    (
        "HTTP exchange (request, llhttp parse, protocol callbacks)",
        "main",
        r"monitor/probes/wire\.py|httptools",
    ),
    ("connection set-up and close", "main", r"ProbeContext\.(connect|resolve) "),
    ("our probe code (probes/, deadline)", "main", r"monitor/probes/|asyncio/timeouts\.py"),
    ("scheduler", "main", r"monitor/scheduler\.py|asyncio/locks\.py"),
    ("engine and state step", "main", r"monitor/(engine|state|judge)\.py"),
    (
        "recording (recorder, hand-off to the writer)",
        "main",
        r"monitor/(recording|recorder|writer)\.py|monitor/store/",
    ),
    ("metrics", "main", r"monitor/metrics\.py|prometheus_client/"),
    ("logging", "main", r"logging/"),
    ("daemon (result hand-on, runtime)", "main", r"monitor/(daemon|runtime)\.py"),
]
WRITER = Path(__file__).resolve().parent.parent / "monitor" / "writer.py"


def area(thread: str, frames: list[str], lines: dict[str, set[int]]) -> str:
    """The area of one sample: its innermost frame that a rule claims."""
    if thread == "writer":
        # The writer's own lines: waiting for rows, running statements, inserting results.
        found = re.match(r"^Writer\.(_loop|_flush) .*writer\.py:(\d+)\)$", frames[-1])
        if found and int(found[2]) in lines["wait"]:
            return IDLE
        if found and int(found[2]) in lines["statements"]:
            return "writer: check state (encode + SQL)"
        if found and int(found[2]) in lines["results"]:
            return "writer: results and rollups"
    for frame in reversed(frames):
        for name, only, pattern in RULES:
            if (not only or only == thread) and re.search(pattern, frame):
                return name
    return "event loop" if thread == "main" else "writer: other (commit, heartbeat, loop)"


def summarise(raw: Path) -> tuple[Counter[str], dict[str, Counter[str]]]:
    """Samples per area, and the innermost frames seen in each (for the report)."""
    text = WRITER.read_text().splitlines()
    lines = {
        "wait": {n for n, t in enumerate(text, 1) if "self._queue.get(" in t or ".wait(" in t},
        "statements": {n for n, t in enumerate(text, 1) if "db.conn.execute(stmt.sql" in t},
        "results": {
            n for n, t in enumerate(text, 1) if "executemany(" in t and "rows" in t or "UPSERT" in t
        },
    }
    per_area: Counter[str] = Counter()
    leaves: dict[str, Counter[str]] = defaultdict(Counter)
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        head = frames[0]
        thread = "writer" if "monitor-writer" in head else "main" if "MainThread" in head else ""
        if not thread or len(frames) < 2:
            continue
        name = area(thread, frames[1:], lines)
        per_area[name] += int(count)
        leaves[name][re.sub(r":\d+\)$", ")", frames[-1])] += int(count)
    return per_area, leaves


def shares(per_area: Counter[str], threads: dict[str, float]) -> list[tuple[str, int, float]]:
    """(area, samples, ms per probe), largest first. Each thread's CPU (from /proc, exact) is
    shared out over its own areas by samples, so a thread that sampling counts as busy while
    it waits for the GIL or a core does not take the other's time."""
    busy = {
        thread: sum(n for name, n in per_area.items() if name != IDLE and _thread(name) == thread)
        for thread in ("main", "others")
    }
    out = [
        (name, count, count / max(1, busy[_thread(name)]) * threads[_thread(name)])
        for name, count in per_area.items()
        if name != IDLE
    ]
    return sorted(out, key=lambda row: -row[2])


def _thread(area: str) -> str:
    return "others" if area.startswith("writer") else "main"


def user_system(pid: int) -> tuple[float, float]:
    """utime and stime of one process (all its threads), seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def by_thread(pid: int) -> dict[str, float]:
    """CPU seconds (utime + stime) of the main thread (the event loop) and of the others (the
    writer, mostly; Python 3.11 does not name threads for the OS)."""
    seconds = {"main": 0.0, "others": 0.0}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        name = "main" if task.name == str(pid) else "others"
        seconds[name] += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return seconds


def run(checks: int, interval: float, duration: float, rate: int, raw: Path) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="monitor-profile-"))
    target = Target(work)
    listen = f"127.0.0.1:{free_port()}"
    urls = (target.url(p) for p in paths(checks))
    config = monitor_config(
        work, urls, interval=interval, timeout=min(interval, 5.0), listen=listen, workers=1
    )
    daemon = Daemon(config)
    spy = str(Path(sys.executable).with_name("py-spy"))
    try:
        daemon.wait_started()
        time.sleep(min(interval, 30))
        begin, cpu0, split0 = time.time(), cpu_seconds(daemon.pid), user_system(daemon.pid)
        threads0 = by_thread(daemon.pid)
        sampled = subprocess.run(
            [
                *(spy, "record", "--pid", str(daemon.pid), "--duration", str(int(duration))),
                *("--rate", str(rate), "--format", "raw", "--threads", "--nonblocking"),
                *("-o", str(raw)),
            ],
            capture_output=True,
            text=True,
        )
        cpu1, end, split1 = cpu_seconds(daemon.pid), time.time(), user_system(daemon.pid)
        threads1 = by_thread(daemon.pid)
        if sampled.returncode != 0:
            raise SystemExit(f"py-spy failed:\n{sampled.stderr[-2000:]}")
    finally:
        daemon.proc.poll() is None and daemon.stop()
        arrivals = target.stop()
    timing = target_timing(arrivals, interval, begin, end)
    return {
        "window_s": end - begin,
        "probes": timing["probes_at_target"],
        "done_pct": 100 * timing["probes_at_target"] / (checks * (end - begin) / interval),
        "cpu_s": cpu1 - cpu0,
        "cpu_ms_per_probe": (cpu1 - cpu0) * 1000 / max(1, timing["probes_at_target"]),
        "system_share": (split1[1] - split0[1]) / max(1e-9, cpu1 - cpu0),
        **{
            f"thread_{name}_ms_per_probe": (threads1[name] - threads0.get(name, 0.0))
            * 1000
            / max(1, timing["probes_at_target"])
            for name in threads1
        },
    }


def floor(checks: int, interval: float, duration: float) -> dict[str, float]:
    """The floor: a bare aiohttp loop in this process, the same requests at the same rate on a
    fresh connection each (what the daemon adds is the rest); this process's CPU only."""
    import asyncio

    import aiohttp

    work = Path(tempfile.mkdtemp(prefix="monitor-floor-"))
    target = Target(work)
    urls = [target.url(p) for p in paths(checks)]
    rate = checks / interval

    async def probe(session: aiohttp.ClientSession, url: str) -> None:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=interval)) as response:
            await response.read()

    async def loop() -> tuple[float, float, float]:
        connector = aiohttp.TCPConnector(force_close=True, limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            tasks: set[asyncio.Task[None]] = set()
            clock = asyncio.get_running_loop().time
            start, n, warm = clock(), 0, min(interval, 30)
            begin = cpu0 = 0.0
            while clock() - start < warm + duration:
                if not begin and clock() - start >= warm:
                    begin, cpu0 = time.time(), time.process_time()
                await asyncio.sleep(max(0.0, start + n / rate - clock()))
                task = asyncio.create_task(probe(session, urls[n % checks]))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                n += 1
            end, cpu1 = time.time(), time.process_time()
            await asyncio.gather(*tasks, return_exceptions=True)
            return begin, end, cpu1 - cpu0

    try:
        begin, end, cpu = asyncio.run(loop())
    finally:
        arrivals = target.stop()
    seen = target_timing(arrivals, interval, begin, end)["probes_at_target"]
    return {"probes": seen, "cpu_ms_per_probe": cpu * 1000 / max(1, seen)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=3000)
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--duration", type=float, default=60.0, help="sampled window, seconds")
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--raw", type=Path, default=None, help="keep py-spy's raw stacks here")
    parser.add_argument(
        "--summarise",
        type=Path,
        default=None,
        help="only summarise again the run this JSON (written by an earlier run) describes",
    )
    parser.add_argument(
        "--floor", action="store_true", help="only the bare aiohttp loop, for comparison"
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.floor:
        bare = floor(args.checks, args.interval, args.duration)
        print(f"bare aiohttp loop: {bare['cpu_ms_per_probe']:.3f} ms per probe")
        save("profile-floor", bare, args.json)
        return
    if args.summarise is not None:
        measured = json.loads(args.summarise.read_text())
        raw = Path(measured.pop("raw"))
        measured.pop("areas", None)
    else:
        raw = args.raw or Path(tempfile.mkstemp(prefix="monitor-profile-", suffix=".txt")[1])
        measured = run(args.checks, args.interval, args.duration, args.rate, raw)
    per_area, leaves = summarise(raw)
    per_probe = float(measured["cpu_ms_per_probe"])
    threads = {k[7:-13]: float(v) for k, v in measured.items() if k.startswith("thread_")}
    print(
        f"CPU {per_probe:.3f} ms per probe, {measured['done_pct']:.1f}% done, "
        f"{measured['system_share']:.0%} of it in the kernel: event loop thread "
        f"{threads['main']:.3f} ms, writer and other threads {threads['others']:.3f} ms; "
        f"{sum(per_area.values()) - per_area[IDLE]} busy samples\n"
    )
    rows = [{"area": name, "samples": n, "ms": ms} for name, n, ms in shares(per_area, threads)]
    print(f"{'area':<48} {'ms/probe':>9} {'share':>6}  innermost frames")
    for row in rows:
        name, ms = str(row["area"]), float(row["ms"])  # type: ignore[arg-type]
        top = ", ".join(f"{leaf.split(' (')[0]}" for leaf, _ in leaves[name].most_common(3))
        print(f"{name:<48} {ms:>9.3f} {ms / per_probe:>6.1%}  {top}")
    path = save("profile", {**measured, "areas": rows, "raw": str(raw)}, args.json)
    print(f"\njson: {path}; raw stacks: {raw}")


if __name__ == "__main__":
    main()
