"""Reload benchmark: how long a SIGHUP takes when it changes every check, with worker processes.

Starts the real `monitor run` with N http checks (`workers = 2`, per-component metrics) against
bench/target.py, waits 15 s, changes `[defaults] timeout` (so every check changes), sends
SIGHUP and times until the log says `reloaded`, then checks that probing goes on.

    python bench/reload.py                      # 100,000 checks every 60 s
    python bench/reload.py --checks 20000 --interval 10

A reload of 100,000 checks hung the daemon before the commands to the workers got a thread of
their own (monitor/pool.py, Outbox): the event loop blocked on a full pipe.
"""

from __future__ import annotations

import argparse
import os
import signal
import tempfile
import time
from pathlib import Path

import common
from common import Daemon, Target, free_port, monitor_config, paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=100_000)
    parser.add_argument("--interval", type=float, default=60.0)
    parser.add_argument("--wait", type=float, default=90.0, help="seconds to wait for the reload")
    args = parser.parse_args()
    common.WORKERS = 2
    common.METRICS_PER_CHECK = False
    work = Path(tempfile.mkdtemp(prefix="monitor-reload-"))
    target = Target(work)
    urls = (target.url(path) for path in paths(args.checks))
    listen = f"127.0.0.1:{free_port()}"
    config = monitor_config(work, urls, interval=args.interval, timeout=5.0, listen=listen)
    daemon = Daemon(config)
    try:
        daemon.wait_started()
        time.sleep(15)
        text = config.read_text()
        config.write_text(text.replace('timeout = "5.0s"', 'timeout = "4.0s"'))
        began = time.monotonic()
        os.kill(daemon.proc.pid, signal.SIGHUP)
        took = None
        while time.monotonic() - began < args.wait:
            if "reloaded " in daemon.log.read_text(errors="replace"):
                took = time.monotonic() - began
                break
            time.sleep(0.2)
        reloaded_at = time.time()
        time.sleep(5)
    finally:
        daemon.stop()
        arrivals = target.stop()
    if took is None:
        print(f"{args.checks:,} checks: NO reload within {args.wait:.0f} s")
    else:
        print(f"{args.checks:,} checks: reloaded in {took:.1f} s")
    after = sum(1 for times in arrivals.values() for t in times if t > reloaded_at)
    print(f"probes reaching the target in the 5 s after: {after:,}")
    print(f"work folder {work}")


if __name__ == "__main__":
    main()
