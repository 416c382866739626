"""Latency accuracy: the monitor's reported latency minus the target's known delay.

Checks are split evenly over paths that answer after 0, 50, 200 and 1000 ms (bench/target.py
`?delay=`). The real `monitor run` probes them for --duration seconds; its SQLite `results`
(joined to `checks`, whose URL holds the delay) give each probe's reported latency. Run at a
low load and at a high one (a load the scale benchmark shows it keeps up with).

    python bench/accuracy.py                                # 40x2 (low) and 5000x5 (1,000/s)
    python bench/accuracy.py --cases 40x2,2500x5 --duration 30
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import common
from common import Daemon, Target, monitor_config, percentile, print_table, save

DELAYS_MS = (0, 50, 200, 1000)


def run_case(work: Path, checks: int, interval: float, duration: float) -> list[dict[str, object]]:
    work.mkdir(parents=True, exist_ok=True)
    target = Target(work)
    urls = [target.url(f"/c{i}?delay={DELAYS_MS[i % len(DELAYS_MS)]}") for i in range(checks)]
    timeout = max(2.0, min(interval, 5.0))
    daemon = Daemon(monitor_config(work, urls, interval=interval, timeout=timeout))
    try:
        daemon.wait_started()
        time.sleep(min(interval, 30))
        begin = time.time()
        time.sleep(duration)
        end = time.time()
    finally:
        daemon.stop()
        target.stop()
    errors: dict[int, list[float]] = defaultdict(list)
    failed: dict[int, int] = defaultdict(int)
    conn = sqlite3.connect(daemon.db)
    rows = conn.execute(
        "SELECT c.target, r.outcome, r.latency_us FROM results r JOIN checks c ON c.id = r.check_id "
        "WHERE r.at >= ? AND r.at < ?",
        (int(begin * 1000), int(end * 1000)),
    )
    for url, outcome, latency_us in rows:
        delay = int(url.rsplit("delay=", 1)[1])
        if outcome == 2:
            failed[delay] += 1
        else:
            errors[delay].append(latency_us / 1000 - delay)
    conn.close()
    return [
        {
            "checks": checks,
            "interval_s": interval,
            "rate": checks / interval,
            "delay_ms": delay,
            "probes": len(errors[delay]),
            "failed": failed[delay],
            "error_p50_ms": percentile(errors[delay], 50),
            "error_p99_ms": percentile(errors[delay], 99),
            "error_max_ms": max(errors[delay], default=float("nan")),
        }
        for delay in DELAYS_MS
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="40x2,5000x5", help="comma-separated CHECKSxINTERVAL")
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--workers", type=int, default=1, help="[monitor] workers of the daemon")
    args = parser.parse_args()
    common.WORKERS = args.workers
    work = Path(tempfile.mkdtemp(prefix="monitor-accuracy-"))
    rows: list[dict[str, object]] = []
    for n, case in enumerate(args.cases.split(",")):
        checks, interval = case.lower().split("x")
        print(f"== {checks} checks every {interval} s", flush=True)
        rows += run_case(work / str(n), int(checks), float(interval), args.duration)
    print_table(
        rows,
        [
            ("checks", "checks"),
            ("rate", "probes/s"),
            ("delay_ms", "delay ms"),
            ("probes", "probes"),
            ("failed", "failed"),
            ("error_p50_ms", "error p50 ms"),
            ("error_p99_ms", "error p99 ms"),
            ("error_max_ms", "error max ms"),
        ],
    )
    print(f"json: {save('accuracy', {'duration_s': args.duration, 'rows': rows}, args.json)}")


if __name__ == "__main__":
    main()
