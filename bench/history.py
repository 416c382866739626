"""History benchmark: a year of rollups for 1,000 checks, 30 days of raw results for 100 checks.

1. Fills a database (daily rollups for 365 days and hourly for 30 days for 1,000 checks, raw
   results every 30 s for 30 days for 100 checks, status changes with outages, run heartbeats).
2. Times `monitor history --since 365d` and `--since 30d` (the whole command, as a user runs
   it, and the library call alone), and `monitor incidents --since 365d`.
3. Retention under load: with `retention` at 1 day, the writer deletes the ~29 days of raw rows
   while probe rows arrive at 1,000 a second; reports the longest retention chunk and the
   longest batch commit, i.e. how long a probe batch can wait behind retention.

    python bench/history.py            # prints a table, writes bench/results/history.json
"""

from __future__ import annotations

import json
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from monitor.history import N_BUCKETS
from monitor.model import Component, HttpCheck
from monitor.store import open_db, register_checks
from monitor.writer import Writer

HERE = Path(__file__).resolve().parent
CHECKS, RAW_CHECKS, COMPONENTS = 1000, 100, 100
DAY = 86400


def config_text(db: Path) -> str:
    lines = [f'[monitor]\ndatabase = "{db}"\nlisten = ""\nretention = "30d"']
    for c in range(COMPONENTS):
        lines.append(f'[[component]]\nname = "component {c}"')
        for i in range(CHECKS // COMPONENTS):
            lines.append(
                f'[[component.check]]\ntype = "http"\nname = "k{i}"\nurl = "http://127.0.0.1/{c}/{i}"'
            )
    return "\n".join(lines) + "\n"


def components() -> list[Component]:
    return [
        Component(
            id=f"component-{c}",
            name=f"component {c}",
            checks=tuple(
                HttpCheck(name=f"k{i}", url=f"http://127.0.0.1/{c}/{i}")
                for i in range(CHECKS // COMPONENTS)
            ),
        )
        for c in range(COMPONENTS)
    ]


def fill(path: Path, now: float) -> dict[str, float]:
    rng = random.Random(1)
    db = open_db(path)
    ids = list(register_checks(db, components()).values())
    conn = db.conn
    started = time.perf_counter()
    today = int(now // DAY)
    zero = [0] * N_BUCKETS

    def rollup(check_id: int, key: int, probes: int) -> list[int]:
        buckets = list(zero)
        buckets[8], buckets[9], buckets[10] = (
            probes // 2,
            probes // 3,
            probes - probes // 2 - probes // 3,
        )
        fail = 1 if rng.random() < 0.05 else 0
        return [check_id, key, probes - fail, 0, fail, probes * 40_000, *buckets]

    marks = ", ".join("?" * (6 + N_BUCKETS))
    with conn:
        conn.executemany(
            f"INSERT INTO rollup_day VALUES ({marks})",
            (rollup(i, day, 2880) for i in ids for day in range(today - 365, today)),
        )
        columns = ["ok", "slow", "fail", "latency_us"] + [f"b{i}" for i in range(N_BUCKETS)]
        month = (
            "CAST(strftime('%Y', day * 86400, 'unixepoch') AS INTEGER) * 12 "
            "+ CAST(strftime('%m', day * 86400, 'unixepoch') AS INTEGER) - 1"
        )
        conn.execute(  # what the writer does as it goes: months from the same rows
            f"INSERT INTO rollup_month (check_id, month, {', '.join(columns)}) "
            f"SELECT check_id, {month} AS m, {', '.join(f'sum({c})' for c in columns)} "
            "FROM rollup_day GROUP BY check_id, m"
        )
        conn.executemany(
            f"INSERT INTO rollup_hour VALUES ({marks})",
            (rollup(i, hour, 120) for i in ids for hour in range(today * 24 - 30 * 24, today * 24)),
        )
    with conn:
        start_ms = int((now - 30 * DAY) * 1000)
        conn.executemany(
            "INSERT INTO results VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                (
                    start_ms + step * 30_000 + n * 300,
                    ids[n],
                    0,
                    rng.randint(5_000, 90_000),
                    200,
                    None,
                    None,
                )
                for step in range(30 * 2880)
                for n in range(RAW_CHECKS)
            ),
        )
    with conn:
        for c in range(COMPONENTS):
            at = now - 365 * DAY
            for _ in range(12):  # about one outage a month per component
                at += rng.uniform(10, 50) * DAY
                if at > now - 3600:
                    break
                length = rng.uniform(300, 7200)
                conn.execute(
                    "INSERT INTO transitions (at, component, check_id, before, after, reason) VALUES (?, ?, NULL, ?, ?, ?)",
                    [int(at * 1000), f"component-{c}", "operational", "major_outage", "down"],
                )
                conn.execute(
                    "INSERT INTO transitions (at, component, check_id, before, after, reason) VALUES (?, ?, NULL, ?, ?, ?)",
                    [
                        int((at + length) * 1000),
                        f"component-{c}",
                        "major_outage",
                        "operational",
                        "up",
                    ],
                )
        conn.execute(
            "INSERT INTO runs (started, last_seen) VALUES (?, ?)",
            [int((now - 366 * DAY) * 1000), int(now * 1000)],
        )
    fill_s = time.perf_counter() - started
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return {"fill_s": fill_s}


def table_sizes(path: Path) -> dict[str, float]:
    """Bytes per table (with its indexes) from SQLite's dbstat, and per row."""
    conn = sqlite3.connect(path)
    out: dict[str, float] = {}
    try:
        sizes = dict(conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"))
    except sqlite3.OperationalError:  # SQLite built without dbstat
        return out
    for table in ("results", "rollup_hour", "rollup_day", "rollup_month", "transitions"):
        rows = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        out[f"{table}_bytes"] = sizes.get(table, 0)
        out[f"{table}_bytes_per_row"] = sizes.get(table, 0) / rows if rows else 0.0
    conn.close()
    return out


def timed(cmd: list[str], runs: int = 3) -> tuple[float, str]:
    times, out = [], ""
    for _ in range(runs):
        started = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        times.append(time.perf_counter() - started)
    return statistics.median(times), out


def library_time(config: Path, since: str) -> float:
    code = (
        "import time, datetime as dt; from monitor.config import load_config; "
        "from monitor import reports; from monitor.store import Store; "
        f"c = load_config(__import__('pathlib').Path({str(config)!r})); s = Store.open(c.monitor.database); "
        "now = time.time(); t = time.perf_counter(); "
        f"reports.history(c, s, (), reports.parse_when({since!r}, dt.UTC, now), now, dt.UTC, now); "
        "print(time.perf_counter() - t)"
    )
    return float(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
    )


def retention_under_load(path: Path) -> dict[str, float]:
    """Retention (1 day) deletes ~29 days of raw rows while probe rows arrive at 1,000/s."""
    writer = Writer(path, flush_interval=0.25, retention=DAY, prune_every=0.0)
    writer.start()
    before = sqlite3.connect(path).execute("SELECT count(*) FROM results").fetchone()[0]
    now_ms = int(time.time() * 1000)
    started = time.perf_counter()
    sent = 0
    while time.perf_counter() - started < 120:
        for n in range(250):  # a quarter second of probes at 1,000/s
            writer.submit((now_ms + sent, 1 + n % CHECKS, 0, 20_000, 200, None, None))
            sent += 1
        time.sleep(0.25)
        if writer.stats.pruned >= before - 30 * 2880 * RAW_CHECKS // 30 - 1:
            break
    elapsed = time.perf_counter() - started
    writer.stop()
    return {
        "raw_rows_before": before,
        "pruned_rows": writer.stats.pruned,
        "prune_elapsed_s": elapsed,
        "max_prune_chunk_ms": writer.stats.max_prune_seconds * 1000,
        "max_batch_commit_ms": writer.stats.max_commit_seconds * 1000,
        "probe_rows_written": writer.stats.rows_written,
    }


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="monitor-history-"))
    db = work / "history.db"
    config = work / "checks.toml"
    config.write_text(config_text(db))
    now = time.time()
    result: dict[str, float] = fill(db, now)
    result["db_bytes"] = db.stat().st_size
    result.update(table_sizes(db))
    monitor = [sys.executable, "-m", "monitor"]
    result["cli_version_s"], _ = timed([*monitor, "--version"])
    for since in ("365d", "30d"):
        seconds, out = timed([*monitor, "history", "-c", str(config), "--since", since, "--json"])
        document = json.loads(out)
        assert len(document["components"]) == COMPONENTS
        result[f"history_{since}_probes_per_component"] = document["components"][0]["probes"]
        result[f"history_{since}_command_s"] = seconds
        result[f"history_{since}_library_s"] = library_time(config, since)
    result["incidents_365d_command_s"], _ = timed(
        [*monitor, "incidents", "-c", str(config), "--since", "365d", "--json"]
    )
    result.update(retention_under_load(db))
    out = HERE / "results" / "history.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    width = max(map(len, result))
    for key, value in result.items():
        print(
            f"{key:<{width}}  {value:,.3f}"
            if isinstance(value, float)
            else f"{key:<{width}}  {value:,}"
        )
    print(f"(database in {work})")


if __name__ == "__main__":
    main()
