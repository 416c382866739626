"""What the benchmarks share: the target, the daemon, /proc readings, percentiles, tables.

Every process here is started by the benchmark, on loopback, and stopped by it by its own pid.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
CLK_TCK = os.sysconf("SC_CLK_TCK")
STOPPED = (
    r"stopped: (\d+) probes started, (\d+) results written, max start lateness ([\d.]+) ms, "
    r"(\d+) runs missed, (\d+) overlapped"
)


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def family(pid: int) -> list[int]:
    """`pid` and its child processes (the daemon's probe workers, with `workers` > 1)."""
    pids = [pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                pids.append(int(entry.name))
    return pids


def cpu_seconds(pid: int) -> float:
    """utime + stime of a live process and its children (all threads), from /proc/PID/stat."""
    total = 0.0
    for each in family(pid):
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


def memory_mb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) in MB of a process and its children, from /proc/PID/status."""
    rss = peak = 0.0
    for each in family(pid):
        try:
            text = Path(f"/proc/{each}/status").read_text()
        except OSError:
            continue
        found = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", text, re.M))
        rss += int(found.get("VmRSS", 0)) / 1024
        peak += int(found.get("VmHWM", 0)) / 1024
    return rss, peak


def wait_for(predicate, timeout: float, what: str, step: float = 0.05):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")


def wait_for_line(path: Path, pattern: str, timeout: float) -> re.Match[str]:
    return wait_for(  # type: ignore[no-any-return]
        lambda: re.search(pattern, path.read_text(errors="replace")),
        timeout,
        f"{pattern!r} in {path}:\n{path.read_text(errors='replace')[-2000:]}",
    )


def http_get(url: str, timeout: float = 5.0) -> bytes:
    assert url.startswith("http://127.0.0.1:"), url  # loopback only
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
        return bytes(response.read())


def stop(proc: subprocess.Popen[bytes] | subprocess.Popen[str], timeout: float = 60) -> None:
    """SIGTERM this one process, then SIGKILL it if it does not go."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


class Target:
    """bench/target.py in its own process(es); `arrivals` is filled in by `stop`."""

    def __init__(self, work: Path, workers: int = 2) -> None:
        self.out = work / f"arrivals-{time.monotonic_ns()}.json"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "target.py"),
                "--workers",
                str(workers),
                "--out",
                str(self.out),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        words = self.proc.stdout.readline().split()
        self.port = int(words[1])
        self.pid = int(words[3])
        self.arrivals: dict[str, list[float]] = {}

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> dict[str, list[float]]:
        stop(self.proc)
        self.arrivals = json.loads(self.out.read_text())
        self.out.unlink()
        return self.arrivals


def target_timing(
    arrivals: dict[str, list[float]], interval: float, begin: float, end: float
) -> dict[str, float]:
    """Probes seen in [begin, end) and start lateness: each check's inter-arrival minus interval.

    A skipped run shows as one interval of lateness; early arrivals count by their size.
    """
    seen = 0
    lateness: list[float] = []
    for times in arrivals.values():
        inside = sorted(t for t in times if begin <= t < end)
        seen += len(inside)
        lateness += [abs(b - a - interval) for a, b in zip(inside, inside[1:], strict=False)]
    return {
        "probes_at_target": seen,
        "late_p50_ms": percentile(lateness, 50) * 1000,
        "late_p99_ms": percentile(lateness, 99) * 1000,
        "late_max_ms": max(lateness, default=float("nan")) * 1000,
        "late_samples": len(lateness),
    }


def _toml(value: int | str) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value)


def workers_arg(text: str) -> int | str:
    """--workers: a number, or "auto" (the daemon's default)."""
    return text if text == "auto" else int(text)


def paths(count: int, query: str = "") -> list[str]:
    return [f"/c{i}{query}" for i in range(count)]


WORKERS: int | str = 1  # `[monitor] workers` of the daemon (a number or "auto"); from --workers
METRICS_PER_CHECK: bool | None = None  # `[monitor] metrics_per_check`; None: the default


def monitor_config(
    folder: Path,
    urls: Iterable[str],
    *,
    interval: float,
    timeout: float,
    listen: str = "",
    per_component: int = 10,
    fail_after: int = 3,
    publisher: Sequence[str] = ('type = "none"',),
    remote_ids: Sequence[str | None] | None = None,
    workers: int | str | None = None,
) -> Path:
    """A checks.toml with one http check per URL, `per_component` checks to a component."""
    lines = [
        "[monitor]",
        'database = "bench.db"',
        f'listen = "{listen}"',
        f"workers = {_toml(workers or WORKERS)}",
        *(
            []
            if METRICS_PER_CHECK is None
            else [f"metrics_per_check = {str(METRICS_PER_CHECK).lower()}"]
        ),
        "[defaults]",
        f'interval = "{interval}s"',
        f'timeout = "{timeout}s"',
        f"fail_after = {fail_after}",
        "[publisher]",
        *publisher,
    ]
    urls = list(urls)
    for c in range(0, len(urls), per_component):
        n = c // per_component
        lines += ["[[component]]", f'name = "component {n}"', f'id = "comp{n}"']
        if remote_ids is not None and n < len(remote_ids) and remote_ids[n]:
            lines.append(f'remote_id = "{remote_ids[n]}"')
        for i in range(c, min(c + per_component, len(urls))):
            lines += [
                "[[component.check]]",
                'type = "http"',
                f'name = "c{i}"',
                f'url = "{urls[i]}"',
            ]
    path = folder / "bench.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass
class Daemon:
    """`monitor run` as a subprocess, with its log in the work folder."""

    config: Path
    env: dict[str, str] | None = None

    def __post_init__(self) -> None:
        self.log = self.config.parent / "daemon.log"
        with self.log.open("w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "monitor", "run", "-c", str(self.config)],
                stderr=log,
                stdout=log,
                cwd=ROOT,
                env=self.env,
            )
        self.pid = self.proc.pid

    def wait_started(self, timeout: float = 600) -> None:
        def started() -> bool:
            if self.proc.poll() is not None:
                raise SystemExit(
                    f"monitor run exited:\n{self.log.read_text(errors='replace')[-2000:]}"
                )
            return bool(re.search(r"monitor \S+: \d+ checks", self.log.read_text(errors="replace")))

        wait_for(started, timeout, "monitor run to start")

    def stop(self) -> dict[str, float]:
        stop(self.proc)
        found = wait_for_line(self.log, STOPPED, 10).groups()
        started, written, late_ms, missed, overlapped = found
        return {
            "daemon_started": int(started),
            "daemon_written": int(written),
            "daemon_max_late_ms": float(late_ms),
            "daemon_missed": int(missed),
            "daemon_overlapped": int(overlapped),
        }

    @property
    def db(self) -> Path:
        return self.config.parent / "bench.db"


def delay_histogram(listen: str) -> dict[str, float]:
    """monitor_schedule_delay_seconds from /metrics: how many probes started over 100 ms late."""
    began = time.perf_counter()
    text = http_get(f"http://{listen}/metrics", timeout=30).decode()
    took = time.perf_counter() - began
    buckets = {
        float(le): float(v)
        for le, v in re.findall(
            r'^monitor_schedule_delay_seconds_bucket\{le="([^"+]+)"\} (\S+)', text, re.M
        )
    }
    count = float(re.search(r"^monitor_schedule_delay_seconds_count (\S+)", text, re.M)[1])  # type: ignore[index]
    over = count - buckets.get(0.1, count)
    return {
        "delay_observed": count,
        "delay_over_100ms": over,
        "delay_over_1s": count - buckets.get(1.0, count),
        "metrics_scrape_s": took,
        "metrics_bytes": len(text),
    }


def db_summary(db: Path, begin: float, end: float) -> dict[str, float]:
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT count(*) FROM results").fetchone()[0]
    inside = conn.execute(
        "SELECT count(*) FROM results WHERE at >= ? AND at < ?",
        (int(begin * 1000), int(end * 1000)),
    ).fetchone()[0]
    failed = conn.execute("SELECT count(*) FROM results WHERE outcome = 2").fetchone()[0]
    down = conn.execute(
        "SELECT count(*) FROM transitions WHERE check_id IS NULL AND after != 'operational'"
    ).fetchone()[0]
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    try:  # the results table alone, without the per-check tables a short run is dominated by
        results_bytes = conn.execute(
            "SELECT sum(pgsize) FROM dbstat WHERE name = 'results'"
        ).fetchone()[0]
    except sqlite3.OperationalError:  # SQLite built without dbstat
        results_bytes = None
    conn.close()
    return {
        "results_bytes_per_row": results_bytes / max(1, rows) if results_bytes else None,
        "db_rows": rows,
        "db_rows_in_window": inside,
        "db_failed": failed,
        "components_not_operational": down,
        "db_bytes_per_probe": db.stat().st_size / max(1, rows),
    }


def print_table(rows: list[dict[str, object]], columns: list[tuple[str, str]]) -> None:
    """Columns as (key, heading); floats shown with one decimal place, or two when small."""

    def show(value: object) -> str:
        if isinstance(value, float):
            if value != value:  # nan
                return "-"
            return f"{value:.2f}" if abs(value) < 10 else f"{value:,.1f}"
        return "-" if value is None else str(value)

    cells = [[show(row.get(key)) for key, _ in columns] for row in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, (_, h) in enumerate(columns)]
    print("  ".join(h.rjust(w) for (_, h), w in zip(columns, widths, strict=True)))
    for line in cells:
        print("  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)))


def save(name: str, data: object, path: Path | None = None) -> Path:
    path = path or RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))
    return path
