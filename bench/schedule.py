"""Scheduling benchmark: N checks at a fixed interval against one local target, for a fixed time.

Runs the real `monitor run` as a subprocess against bench/target.py (another process), then
reports how many probes each check got, start lateness (from the daemon and from the arrival
times at the target), CPU and memory of the daemon, and database bytes per probe.

    python bench/schedule.py                      # 1,000 checks at 1 s for 20 s
    python bench/schedule.py --checks 5000 --interval 5 --duration 30
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def write_config(folder: Path, port: int, checks: int, interval: float) -> Path:
    lines = [
        "[monitor]",
        'database = "bench.db"',
        'listen = ""',
        "[defaults]",
        f'interval = "{interval}s"',
        f'timeout = "{min(interval, 5)}s"',
        "[publisher]",
        'type = "none"',
    ]
    per_component = 10
    for c in range(0, checks, per_component):
        lines += ["[[component]]", f'name = "component {c // per_component}"']
        for i in range(c, min(c + per_component, checks)):
            lines += [
                "[[component.check]]",
                'type = "http"',
                f'name = "c{i}"',
                f'url = "http://127.0.0.1:{port}/c{i}"',
            ]
    path = folder / "bench.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def wait_for_line(path: Path, pattern: str, timeout: float) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = re.search(pattern, path.read_text(errors="replace"))
        if match:
            return match
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {pattern!r} in {path}:\n{path.read_text()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--json", type=Path, default=HERE / "results" / "schedule.json")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="monitor-bench-"))
    arrivals_file = work / "arrivals.json"
    target = subprocess.Popen(
        [sys.executable, str(HERE / "target.py"), "--out", str(arrivals_file)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert target.stdout is not None
    port = int(target.stdout.readline().split()[1])
    config = write_config(work, port, args.checks, args.interval)
    log_path = work / "daemon.log"
    with log_path.open("w") as log:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "-c", str(config)], stderr=log, stdout=log
        )
    wait_for_line(log_path, r"monitor \S+: \d+ checks", 60)
    began = time.time()
    time.sleep(args.duration)
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(30)
    ended = time.time()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # the daemon is the only child reaped
    target.send_signal(signal.SIGTERM)
    target.wait(30)

    stopped = wait_for_line(
        log_path,
        r"stopped: (\d+) probes started, (\d+) results written, max start lateness ([\d.]+) ms, "
        r"(\d+) runs missed, (\d+) overlapped",
        5,
    )
    started, written, max_late_ms, missed, overlapped = stopped.groups()
    db = work / "bench.db"
    conn = sqlite3.connect(db)
    per_check = [n for (n,) in conn.execute("SELECT count(*) FROM results GROUP BY check_id")]
    per_check += [0] * (args.checks - len(per_check))
    rows = sum(per_check)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    db_bytes = db.stat().st_size

    arrivals = json.loads(arrivals_file.read_text())
    jitter = []
    for times in arrivals.values():
        times.sort()
        jitter += [abs(b - a - args.interval) for a, b in zip(times, times[1:], strict=False)]

    expected = args.duration / args.interval
    result = {
        "checks": args.checks,
        "interval_s": args.interval,
        "duration_s": args.duration,
        "probes_per_s_planned": args.checks / args.interval,
        "probes_started": int(started),
        "results_written": int(written),
        "rows_in_db": rows,
        "per_check_min": min(per_check),
        "per_check_max": max(per_check),
        "per_check_expected": expected,
        "max_start_lateness_ms": float(max_late_ms),
        "runs_missed": int(missed),
        "runs_overlapped": int(overlapped),
        "target_jitter_p50_ms": percentile(jitter, 50) * 1000,
        "target_jitter_p99_ms": percentile(jitter, 99) * 1000,
        "target_jitter_max_ms": max(jitter, default=float("nan")) * 1000,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "cpu_ms_per_probe": (usage.ru_utime + usage.ru_stime) * 1000 / max(1, int(started)),
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "db_bytes_per_probe": db_bytes / max(1, rows),
        "wall_s": ended - began,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    width = max(map(len, result))
    for key, value in result.items():
        shown = f"{value:.2f}" if isinstance(value, float) else str(value)
        print(f"{key:<{width}}  {shown}")
    print(f"(mean per check {statistics.mean(per_check):.2f}; work folder {work})")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
