"""Storage benchmark: bytes per stored probe result and batch write time at scale.

Writes `--rows` results for `--checks` checks in time order through the real Writer thread, the
way the daemon does, then reports the database size per row and the commit times.

    python bench/storage.py --checks 10000 --rows 2000000
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import tempfile
import time
from pathlib import Path

from monitor.model import Component, HttpCheck
from monitor.store import register_checks
from monitor.writer import Writer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=10000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--fail-ratio", type=float, default=0.01)
    args = parser.parse_args()
    path = Path(tempfile.mkdtemp(prefix="monitor-storage-")) / "bench.db"
    components = [
        Component(
            id=f"c{c}",
            name=f"c{c}",
            checks=tuple(
                HttpCheck(name=f"k{i}", url=f"http://127.0.0.1/{c}/{i}") for i in range(10)
            ),
        )
        for c in range(args.checks // 10)
    ]
    writer = Writer(path, flush_interval=0.25)
    writer.start()
    ids = list(writer.call(lambda db: register_checks(db, components)).result().values())
    rng = random.Random(1)
    at = 1_800_000_000_000
    step_ms = 30_000 / len(ids)  # every check every 30 s
    started = time.perf_counter()
    for n in range(args.rows):
        failed = rng.random() < args.fail_ratio
        writer.submit(
            (
                int(at + n * step_ms),
                ids[n % len(ids)],
                2 if failed else 0,
                rng.randint(800, 250_000),
                None if failed else 200,
                0 if failed else None,
                "timeout after 10.0 s" if failed else None,
            )
        )
    submit_s = time.perf_counter() - started
    writer.stop(timeout=600)
    total_s = time.perf_counter() - started
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    rows = conn.execute("SELECT count(*) FROM results").fetchone()[0]
    conn.close()
    size = path.stat().st_size
    print(f"rows                 {rows}")
    print(f"db bytes             {size}")
    print(f"bytes per row        {size / rows:.1f}")
    print(f"submit rows/s        {args.rows / submit_s:,.0f} (event-loop side: a queue put)")
    print(f"write rows/s         {args.rows / total_s:,.0f}")
    print(f"batches              {writer.stats.batches}")
    print(f"max batch commit ms  {writer.stats.max_commit_seconds * 1000:.1f}")
    per_day = 86400 / 30
    print(f"per check per day    {size / rows * per_day / 1024:.1f} KiB at a 30 s interval")


if __name__ == "__main__":
    main()
