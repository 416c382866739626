"""Scale benchmark: the real `monitor run` with N checks at a fixed interval, and optionally the
peer stack (Prometheus + blackbox_exporter) on the same targets, one after the other.

Each case is CHECKSxINTERVAL (5000x5 is 5,000 checks every 5 s, 1,000 probes a second). For
each system it starts a fresh target (bench/target.py, two processes), waits until the system is
up, then measures a window of --duration seconds:

- done: probes that reached the target in the window / probes planned (checks x window/interval),
  and for the monitor the rows its database holds for the window;
- start lateness at the target: each check's inter-arrival time minus its interval (p50/p99/max);
- CPU seconds of the system's processes in the window (/proc/PID/stat) per 1,000 probes done;
- peak RSS (VmHWM); the monitor's database bytes per probe; probes the monitor itself saw start
  over 100 ms late (its monitor_schedule_delay_seconds histogram) and its last log line.

    python bench/scale.py                                  # 1000x1 for 30 s, monitor only
    python bench/scale.py --peer --cases 3000x5,5000x5 --duration 60
    python bench/scale.py --cases 1000x1,5000x5,10000x5,30000x30 --duration 60
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import common
from blackbox import run_peer
from common import (
    Daemon,
    Target,
    cpu_seconds,
    db_summary,
    delay_histogram,
    free_port,
    memory_mb,
    monitor_config,
    paths,
    print_table,
    save,
    target_timing,
)

COLUMNS = [
    ("system", "system"),
    ("checks", "checks"),
    ("interval_s", "every s"),
    ("rate", "probes/s"),
    ("done_pct", "done %"),
    ("stored_pct", "stored %"),
    ("late_p50_ms", "late p50 ms"),
    ("late_p99_ms", "late p99 ms"),
    ("late_max_ms", "late max ms"),
    ("cpu_ms_per_probe", "CPU ms/probe"),
    ("cpu_ratio", "CPU vs peer"),
    ("peak_rss_mb", "peak RSS MB"),
    ("db_bytes_per_probe", "DB B/probe"),
    ("results_bytes_per_row", "results B/row"),
    ("results_gb_per_day", "results GB/day"),
    ("metrics_scrape_s", "scrape s"),
    ("metrics_mb", "scrape MB"),
    ("delay_over_100ms", "starts >100ms"),
    ("daemon_max_late_ms", "own max late ms"),
]


def parse_case(text: str) -> tuple[int, float]:
    checks, interval = text.lower().split("x")
    return int(checks), float(interval)


def run_monitor(
    work: Path, checks: int, interval: float, duration: float, timeout: float
) -> dict[str, object]:
    work.mkdir(parents=True, exist_ok=True)
    target = Target(work)
    listen = f"127.0.0.1:{free_port()}"
    config = monitor_config(
        work,
        (target.url(p) for p in paths(checks)),
        interval=interval,
        timeout=timeout,
        listen=listen,
    )
    daemon = Daemon(config)
    result: dict[str, object] = {"system": "monitor", "checks": checks, "interval_s": interval}
    try:
        setup = time.monotonic()
        daemon.wait_started()
        result["startup_s"] = time.monotonic() - setup
        time.sleep(min(interval, 30))  # as for the peer: measure once every check has run once
        begin = time.time()
        cpu0 = cpu_seconds(daemon.pid)
        time.sleep(duration)
        cpu1 = cpu_seconds(daemon.pid)
        end = time.time()
        rss, peak = memory_mb(daemon.pid)
        result.update(delay_histogram(listen))
        result.update(daemon.stop())
    finally:
        daemon.proc.poll() is None and daemon.stop()
        arrivals = target.stop()
    planned = checks * (end - begin) / interval
    timing = target_timing(arrivals, interval, begin, end)
    stored = db_summary(daemon.db, begin, end)
    result.update(timing)
    result.update(stored)
    result.update(
        {
            "window_s": end - begin,
            "planned": planned,
            "done_pct": 100 * timing["probes_at_target"] / planned,
            "stored_pct": 100 * stored["db_rows_in_window"] / planned,
            "cpu_s": cpu1 - cpu0,
            # what a day of these checks' results takes in the database (the results table's
            # pages per row, dbstat, times a day of probes), before retention deletes any; the
            # rollups add a row per check per hour, day and month
            "results_gb_per_day": float(stored.get("results_bytes_per_row") or 0)
            * checks
            / interval
            * 86400
            / 1e9,
            "metrics_mb": float(result.get("metrics_bytes", 0)) / 1e6,
            "cpu_ms_per_probe": (cpu1 - cpu0) * 1000 / max(1, timing["probes_at_target"]),
            "rss_mb": rss,
            "peak_rss_mb": peak,
            "log_tail": daemon.log.read_text(errors="replace").strip().splitlines()[-1],
            # How many processes probed, and why: "probing with 2 worker processes (auto: ...)".
            "probing": [
                line.split(" probing with ", 1)[-1]
                for line in daemon.log.read_text(errors="replace").splitlines()
                if " probing with " in line
            ],
        }
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cases", default="1000x1", help="comma-separated CHECKSxINTERVAL, e.g. 1000x1,5000x5"
    )
    parser.add_argument(
        "--duration", type=float, default=30.0, help="measured window per system, seconds"
    )
    parser.add_argument(
        "--peer", action="store_true", help="also run Prometheus + blackbox_exporter"
    )
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--workers",
        type=common.workers_arg,
        default="auto",
        help='[monitor] workers of the daemon: a number, or "auto" (the default)',
    )
    parser.add_argument(
        "--metrics-per-check",
        choices=("true", "false"),
        default=None,
        help="[monitor] metrics_per_check of the daemon (default: the daemon's, true)",
    )
    args = parser.parse_args()
    common.WORKERS = args.workers
    if args.metrics_per_check is not None:
        common.METRICS_PER_CHECK = args.metrics_per_check == "true"
    work = Path(tempfile.mkdtemp(prefix="monitor-scale-"))
    rows: list[dict[str, object]] = []
    for n, case in enumerate(args.cases.split(",")):
        checks, interval = parse_case(case)
        timeout = min(interval, 5.0)
        print(
            f"== {checks} checks every {interval:g} s ({checks / interval:,.0f} probes/s)",
            flush=True,
        )
        ours = run_monitor(work / f"{n}-monitor", checks, interval, args.duration, timeout)
        ours["rate"] = checks / interval
        rows.append(ours)
        print(f"   monitor: probing with {'; '.join(ours['probing'])}", flush=True)  # type: ignore[arg-type]
        print(f"   monitor: {ours['log_tail']}", flush=True)
        if args.peer:
            peer = run_peer(work / f"{n}-peer", checks, interval, args.duration, timeout=timeout)
            peer["rate"] = checks / interval
            rows.append(peer)
            ours["cpu_ratio"] = float(ours["cpu_ms_per_probe"]) / float(peer["cpu_ms_per_probe"])  # type: ignore[arg-type]
            shutil.rmtree(work / f"{n}-peer" / "tsdb", ignore_errors=True)
    print()
    print_table(rows, COLUMNS)
    path = save("scale", {"duration_s": args.duration, "cpus": _cpus(), "rows": rows}, args.json)
    print(f"\njson: {path}; work folder {work}")


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    main()
