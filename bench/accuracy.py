"""Latency accuracy: the monitor's reported latency minus the target's known delay.

Checks are split evenly over paths that answer after 0, 50, 200 and 1000 ms (bench/target.py
`?delay=`). The real `monitor run` probes them for --duration seconds; its SQLite `results`
(joined to `checks`, whose URL holds the delay) give each probe's reported latency. Run at a
low load and at a high one (a load the scale benchmark shows it keeps up with).

With --peer the same cases run against Prometheus + blackbox_exporter too (bench/blackbox.py),
whose latency is `probe_duration_seconds`: every sample Prometheus holds for the window. With
--paired every probe is also timed as before the transport stamped its end (when the probe's
coroutine had judged the response; bench/paired/sitecustomize.py), so both timings of the same
probes compare in one run.

    python bench/accuracy.py                                # 40x2 (low) and 5000x5 (1,000/s)
    python bench/accuracy.py --cases 40x2,2500x5 --duration 30
    python bench/accuracy.py --cases 80x2 --peer            # the peer in the same run
    python bench/accuracy.py --cases 80x2,5000x5 --paired   # new and old timing, same probes
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import tempfile
import time
import urllib.parse
from collections import defaultdict
from pathlib import Path

import blackbox
import common
from common import (
    HERE,
    Daemon,
    Target,
    free_port,
    http_get,
    monitor_config,
    percentile,
    print_table,
    save,
    stop,
    wait_for,
)

DELAYS_MS = (0, 50, 200, 1000)


def _urls(target: Target, checks: int) -> list[str]:
    return [target.url(f"/c{i}?delay={DELAYS_MS[i % len(DELAYS_MS)]}") for i in range(checks)]


def _delay(url: str) -> int:
    """The delay of /cN, from N: the stored URL has its query hidden (it may hold a secret)."""
    return DELAYS_MS[int(urllib.parse.urlsplit(url).path.rsplit("/c", 1)[1]) % len(DELAYS_MS)]


def _timeout(interval: float) -> float:
    return max(2.0, min(interval, 5.0))


def run_case(
    work: Path, checks: int, interval: float, duration: float, *, paired: bool = False
) -> list[dict[str, object]]:
    work.mkdir(parents=True, exist_ok=True)
    target = Target(work)
    urls = _urls(target, checks)
    timeout = _timeout(interval)
    log = work / "paired.log"
    env = None
    if paired:  # bench/paired/sitecustomize.py logs the old timing of every probe too
        path = os.pathsep.join(filter(None, [str(HERE / "paired"), os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "PYTHONPATH": path, "MONITOR_PAIRED_LOG": str(log)}
    daemon = Daemon(monitor_config(work, urls, interval=interval, timeout=timeout), env=env)
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
        delay = _delay(url)
        if outcome == 2:
            failed[delay] += 1
        else:
            errors[delay].append(latency_us / 1000 - delay)
    conn.close()
    rows = _rows("monitor", checks, interval, errors, failed)
    if paired:
        new: dict[int, list[float]] = defaultdict(list)
        old: dict[int, list[float]] = defaultdict(list)
        for line in log.read_text().splitlines():
            at, url, latency, before = line.split()
            if begin <= float(at) < end:
                delay = _delay(url)
                new[delay].append(float(latency) * 1000 - delay)
                old[delay].append(float(before) * 1000 - delay)
        rows += _rows("  same probes, new timing", checks, interval, new, defaultdict(int))
        rows += _rows("  same probes, old timing", checks, interval, old, defaultdict(int))
    return rows


def run_peer_case(
    work: Path, checks: int, interval: float, duration: float
) -> list[dict[str, object]]:
    """The same case for Prometheus + blackbox_exporter: `probe_duration_seconds` - delay."""
    blackbox.ensure_installed()
    work.mkdir(parents=True, exist_ok=True)
    target = Target(work)
    urls = _urls(target, checks)
    exporter = f"127.0.0.1:{free_port()}"
    web = f"127.0.0.1:{free_port()}"
    blackbox_yml, prometheus_yml = blackbox.write_configs(
        work, urls, interval, _timeout(interval), exporter
    )
    with (work / "peer.log").open("w") as log:
        bbx = subprocess.Popen(
            [
                "prometheus-blackbox-exporter",
                f"--config.file={blackbox_yml}",
                f"--web.listen-address={exporter}",
            ],
            stdout=log,
            stderr=log,
        )
        prom = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={prometheus_yml}",
                f"--storage.tsdb.path={work / 'tsdb'}",
                f"--web.listen-address={web}",
                "--storage.tsdb.retention.time=1h",
            ],
            stdout=log,
            stderr=log,
        )
    try:
        wait_for(
            lambda: (
                blackbox._ready(f"http://{web}/-/ready")
                and blackbox._ready(f"http://{exporter}/metrics")
            ),
            60,
            "the peer",
        )
        wait_for(
            lambda: blackbox._query(web, 'count(up{job="blackbox"})') == checks,
            120 + interval,
            "every target scraped",
            step=0.5,
        )
        time.sleep(duration)
        end = time.time()
        query = f'probe_duration_seconds{{job="blackbox"}}[{int(duration)}s]'
        params = urllib.parse.urlencode({"query": query, "time": f"{end:.3f}"})
        series = json.loads(http_get(f"http://{web}/api/v1/query?{params}", timeout=60))
        success = f'probe_success{{job="blackbox"}}[{int(duration)}s]'
        params = urllib.parse.urlencode({"query": success, "time": f"{end:.3f}"})
        outcomes = json.loads(http_get(f"http://{web}/api/v1/query?{params}", timeout=60))
    finally:
        stop(prom)
        stop(bbx)
        target.stop()
    ok = {
        (s["metric"]["instance"], t): v == "1"
        for s in outcomes["data"]["result"]
        for t, v in s["values"]
    }
    errors: dict[int, list[float]] = defaultdict(list)
    failed: dict[int, int] = defaultdict(int)
    for each in series["data"]["result"]:
        url = each["metric"]["instance"]
        delay = _delay(url)
        for t, value in each["values"]:
            if ok.get((url, t), True):
                errors[delay].append(float(value) * 1000 - delay)
            else:
                failed[delay] += 1
    return _rows("prometheus+blackbox", checks, interval, errors, failed)


def _rows(
    system: str,
    checks: int,
    interval: float,
    errors: dict[int, list[float]],
    failed: dict[int, int],
) -> list[dict[str, object]]:
    """One row per delay, and one over all of them ("all")."""
    groups: list[tuple[int | str, list[float], int]] = [
        (delay, errors[delay], failed[delay]) for delay in DELAYS_MS
    ]
    groups.append(("all", [e for delay in DELAYS_MS for e in errors[delay]], sum(failed.values())))
    return [
        {
            "system": system,
            "checks": checks,
            "interval_s": interval,
            "rate": checks / interval,
            "delay_ms": delay,
            "probes": len(values),
            "failed": fails,
            "error_p50_ms": percentile(values, 50),
            "error_p99_ms": percentile(values, 99),
            "error_max_ms": max(values, default=float("nan")),
        }
        for delay, values, fails in groups
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="40x2,5000x5", help="comma-separated CHECKSxINTERVAL")
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--workers",
        type=common.workers_arg,
        default="auto",
        help='[monitor] workers of the daemon: a number, or "auto" (the default)',
    )
    parser.add_argument("--peer", action="store_true", help="run each case on the peer stack too")
    parser.add_argument(
        "--paired",
        action="store_true",
        help="also time each probe as before the transport stamped it (bench/paired)",
    )
    args = parser.parse_args()
    common.WORKERS = args.workers
    work = Path(tempfile.mkdtemp(prefix="monitor-accuracy-"))
    rows: list[dict[str, object]] = []
    for n, case in enumerate(args.cases.split(",")):
        checks, interval = case.lower().split("x")
        print(f"== {checks} checks every {interval} s", flush=True)
        rows += run_case(
            work / str(n), int(checks), float(interval), args.duration, paired=args.paired
        )
        if args.peer:
            rows += run_peer_case(work / f"{n}-peer", int(checks), float(interval), args.duration)
    print_table(
        rows,
        [
            ("system", "system"),
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
