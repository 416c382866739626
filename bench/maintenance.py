"""Maintenance calendar benchmark: the cost of one `MaintenanceCalendar.active()` look.

The daemon looks once a second for every component. This replays that for a simulated span
(a look per component per simulated second, so window starts and ends are crossed) and prints
the CPU time per look, for:

- plain: COMPONENTS components, each in a weekly window (Europe/Berlin) and a daily one;
- never: one component whose window cron never comes (February 30), as config validation now
  refuses but an older config could hold.

    python bench/maintenance.py
    python bench/maintenance.py --components 2000 --seconds 3600
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

from monitor.maintenance import MaintenanceCalendar
from monitor.model import Maintenance

START = dt.datetime(2026, 11, 29, 0, 50, tzinfo=dt.UTC).timestamp()  # before a Sunday window


def windows(components: int) -> list[Maintenance]:
    ids = [f"c{i}" for i in range(components)]
    return [
        Maintenance(components=(cid,), cron="0 2 * * sun", duration=7200, timezone="Europe/Berlin")
        for cid in ids
    ] + [Maintenance(components=tuple(ids), cron="*/10 * * * *", duration=120, timezone="UTC")]


def per_look(calendar: MaintenanceCalendar, ids: list[str], seconds: int) -> tuple[float, int]:
    """CPU microseconds per look, and the looks that found a window."""
    found = 0
    started = time.process_time()
    for second in range(seconds):
        at = START + second
        for cid in ids:
            if calendar.active(cid, at) is not None:
                found += 1
    spent = time.process_time() - started
    return spent / (seconds * len(ids)) * 1e6, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--components", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=600, help="simulated seconds")
    args = parser.parse_args()
    ids = [f"c{i}" for i in range(args.components)]
    micros, found = per_look(MaintenanceCalendar(windows(args.components)), ids, args.seconds)
    print(
        f"plain: {args.components} components x {args.seconds} s: {micros:.2f} us per look "
        f"({found} looks in a window)"
    )
    never = MaintenanceCalendar(
        [Maintenance(components=("c0",), cron="0 2 30 2 *", duration=3600, timezone="UTC")]
    )
    first, _ = per_look(never, ["c0"], 1)
    then, _ = per_look(never, ["c0"], 20)
    print(f"never: a February 30 window: first look {first:.0f} us, then {then:.1f} us per look")


if __name__ == "__main__":
    main()
