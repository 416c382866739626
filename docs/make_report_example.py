"""Make the report shown in docs/history.md: a demo database of three components over 90 days
(probe results every 10 minutes, a few incidents, a maintenance window, a day the monitor did
not run), `monitor report` of it, and with --screenshots the pictures in docs/images/, taken
by headless Chromium (light and dark). The same seed gives the same database.

    python docs/make_report_example.py /tmp/demo --screenshots docs/images
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from monitor.config import load_config
from monitor.state import ComponentTransition, Status
from monitor.store import heartbeat, register_checks, save_transition
from monitor.writer import Writer

SINCE = dt.datetime(2026, 9, 1, tzinfo=dt.UTC).timestamp()
DAYS = 90
UNTIL = SINCE + DAYS * 86400
EVERY = 600.0  # a probe per check every 10 minutes
CONFIG = """
[monitor]
database = "demo.db"
listen = ""
retention = "3650d"

[[component]]
name = "Payment API"
  [[component.check]]
  type = "http"
  name = "charge"
  url = "https://pay.example.com/health"
  [[component.check]]
  type = "tcp"
  name = "gateway"
  host = "gw.example.com"
  port = 443

[[component]]
name = "Website"
  [[component.check]]
  type = "http"
  name = "home"
  url = "https://www.example.com/"

[[component]]
name = "Search"
  [[component.check]]
  type = "http"
  name = "query"
  url = "https://search.example.com/q?test"
"""
OP, DEG, PART, MAJ, MAINT = (
    Status.OPERATIONAL,
    Status.DEGRADED_PERFORMANCE,
    Status.PARTIAL_OUTAGE,
    Status.MAJOR_OUTAGE,
    Status.UNDER_MAINTENANCE,
)
H = 3600.0
# (component, day, hour, hours, status, reason): the incidents and the maintenance
EVENTS = [
    ("payment-api", 12, 14.2, 0.7, MAJ, "charge: HTTP 503 from 3 probes in a row"),
    ("payment-api", 41, 2.0, 3.5, DEG, "charge: slower than 800 ms for 5 probes"),
    ("payment-api", 77, 9.5, 1.2, PART, "gateway: connection refused"),
    ("website", 30, 22.0, 2.0, MAINT, "planned: database upgrade"),
    ("website", 63, 18.0, 0.4, MAJ, "home: timeout after 10.0 s"),
    ("search", 20, 8.0, 5.0, DEG, "query: slower than 1500 ms for 5 probes"),
    ("search", 52, 13.0, 0.25, PART, "query: HTTP 502"),
    ("search", 86, 6.0, 2.5, MAJ, "query: HTTP 500 from 3 probes in a row"),
]
GAP = (45 * 86400 - 3 * H, 46 * 86400 + 2 * H)  # the monitor did not run (a host move)
MEDIAN_MS = {"payment-api/charge": 85, "payment-api/gateway": 12, "website/home": 40}


def build(folder: Path, seed: int = 17) -> Path:
    """The demo config and its database in `folder`; returns the config's path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "checks.toml"
    path.write_text(textwrap.dedent(CONFIG).lstrip())
    config = load_config(path)
    database = Path(config.monitor.database)
    database.unlink(missing_ok=True)
    writer = Writer(database, flush_interval=0.05)
    writer.start()
    ids = writer.call(lambda db: register_checks(db, config.components)).result(10)
    bad: dict[str, list[tuple[float, float, Status]]] = {}
    for component, day, hour, hours, status, reason in EVENTS:
        start = SINCE + day * 86400 + hour * H
        bad.setdefault(component, []).append((start, start + hours * H, status))
        for at, before, after, why in (
            (start, OP, status, reason),
            (start + hours * H, status, OP, "all checks pass"),
        ):
            change = ComponentTransition(at, before, after, why)
            writer.submit(save_transition(component, None, change))
    rng = random.Random(seed)
    for key, check_id in sorted(ids.items()):
        component = key.split("/")[0]
        median = MEDIAN_MS.get(key, 120)
        at = SINCE + rng.uniform(0, EVERY)
        while at < UNTIL:
            if not GAP[0] <= at - SINCE < GAP[1]:
                day = (at - SINCE) // 86400
                drift = 1 + 0.25 * ((day * 7919) % 11) / 10  # some days are slower
                state = next((s for a, b, s in bad.get(component, ()) if a <= at < b), OP)
                slow = {DEG: 12.0, PART: 4.0, MAJ: 30.0}.get(state, 1.0)
                fail = state in (PART, MAJ) and rng.random() < 0.7
                latency_us = int(rng.lognormvariate(0, 0.45) * median * drift * slow * 1000)
                writer.submit(
                    (int(at * 1000), check_id, 2 if fail else 0, latency_us,
                     None if fail else 200, 1 if fail else None, "HTTP 503" if fail else None)
                )  # fmt: skip
            at += EVERY

    def runs(db):  # type: ignore[no-untyped-def]
        with db.conn:
            heartbeat(db, SINCE, SINCE + GAP[0])
            heartbeat(db, SINCE + GAP[1], UNTIL)

    writer.call(runs).result(10)
    writer.stop()
    return path


def report(config: Path, out: Path) -> None:
    window = ["--since", "2026-09-01", "--until", "2026-11-30"]
    subprocess.run(
        [sys.executable, "-m", "monitor", "report", "-c", str(config), *window, "-o", str(out)],
        check=True,
    )


def screenshot(page: Path, png: Path, size: str, dark: bool) -> None:
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                "chromium", "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--hide-scrollbars",
                f"--user-data-dir={profile}", f"--window-size={size}",
                f"--screenshot={png}", *(["--force-dark-mode"] if dark else []),
                page.resolve().as_uri(),
            ],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="where to put checks.toml, demo.db, report.html")
    parser.add_argument("--screenshots", type=Path, metavar="DIR", help="PNGs of the report here")
    args = parser.parse_args()
    config = build(args.folder)
    page = args.folder / "report.html"
    report(config, page)
    print(page)
    if args.screenshots:
        args.screenshots.mkdir(parents=True, exist_ok=True)
        for name, size, dark in (
            ("report.png", "1200,1600", False),
            ("report-dark.png", "1200,1600", True),
            ("report-phone.png", "390,844", False),
        ):
            screenshot(page, args.screenshots / name, size, dark)
            print(args.screenshots / name)


if __name__ == "__main__":
    main()
