"""Detection time: from a target going down to the component's transition and to the incident
on a (local, fake) Statuspage, against the theoretical fail_after x interval.

The real `monitor run` probes --trials components of one check each (and, with --load, more
checks in unpublished components), publishing to tests/fake_statuspage.py. One at a time, at a
random phase of the interval, the benchmark switches a path of the target to answer 500
(`/_control?fail=`), then reads when the component's transition was stored (SQLite
`transitions`, the row with check_id NULL) and when the incident reached the fake page.
Run it from the repository root (it imports tests.fake_statuspage).

    python bench/detection.py                          # 6 trials, 2 s interval, fail_after 3
    python bench/detection.py --interval 5 --load 5000
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from common import (
    ROOT,
    Daemon,
    Target,
    http_get,
    monitor_config,
    percentile,
    print_table,
    save,
    wait_for,
)

sys.path.insert(0, str(ROOT))
from tests.fake_statuspage import FakeStatuspage  # noqa: E402


def transition_at(db: Path, component: str, since: float) -> float | None:
    conn = sqlite3.connect(db)
    try:
        row = conn.execute(
            "SELECT min(at) FROM transitions WHERE check_id IS NULL AND component = ? "
            "AND after = 'major_outage' AND at >= ?",
            (component, int(since * 1000)),
        ).fetchone()
    except sqlite3.OperationalError:  # locked for a moment
        return None
    finally:
        conn.close()
    return row[0] / 1000 if row and row[0] is not None else None


def incident_at(fake: FakeStatuspage, remote_id: str, since: float) -> float | None:
    times = [
        inc["created_at"]
        for inc in fake.incidents()
        if remote_id in inc.get("component_ids", []) and inc["created_at"] >= since
    ]
    return min(times, default=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--fail-after", type=int, default=3)
    parser.add_argument("--rate-limit", type=float, default=1.0, help="publisher requests/s")
    parser.add_argument(
        "--load", type=int, default=0, help="extra unpublished checks, same interval"
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="monitor-detection-"))
    rng = random.Random(7)
    fake = FakeStatuspage().start()
    target = Target(work, workers=1)  # /_control is per process
    remote = [fake.add_component(f"component {n}") for n in range(args.trials)]
    urls = [target.url(f"/c{n}") for n in range(args.trials)]
    urls += [target.url(f"/load{n}") for n in range(args.load)]
    config = monitor_config(
        work,
        urls,
        interval=args.interval,
        timeout=min(args.interval, 1.0),
        per_component=1,
        fail_after=args.fail_after,
        publisher=[
            'type = "statuspage"',
            f'url = "{fake.url}"',
            'page_id = "page1"',
            'api_key_env = "BENCH_STATUSPAGE_KEY"',
            f"rate_limit = {args.rate_limit}",
        ],
        remote_ids=remote,
    )
    daemon = Daemon(config, env={**os.environ, "BENCH_STATUSPAGE_KEY": fake.api_key})
    theory = args.fail_after * args.interval
    rows: list[dict[str, object]] = []
    try:
        daemon.wait_started()
        time.sleep(2 * args.interval)  # every check up; the page in sync
        for n in range(args.trials):
            time.sleep(rng.uniform(0, args.interval))  # a random phase against the probes
            down = time.time()
            http_get(target.url(f"/_control?fail=/c{n}"))
            component = f"comp{n}"
            changed = wait_for(
                lambda c=component, d=down: transition_at(daemon.db, c, d),
                theory + 30,
                "transition",
                0.02,
            )
            posted = wait_for(
                lambda r=remote[n], d=down: incident_at(fake, r, d), 60, "incident", 0.02
            )
            rows.append(
                {
                    "trial": n,
                    "to_transition_s": changed - down,
                    "to_incident_s": posted - down,
                    "theory_s": theory,
                    "window_s": f"{theory - args.interval:g}-{theory:g}",
                }
            )
            print(
                f"trial {n}: transition after {changed - down:.2f} s, incident after {posted - down:.2f} s",
                flush=True,
            )
    finally:
        daemon.stop()
        target.stop()
        fake.stop()
    print_table(
        rows,
        [(k, k) for k in ("trial", "to_transition_s", "to_incident_s", "theory_s", "window_s")],
    )
    summary = {
        key: {
            p: percentile([float(r[key]) for r in rows], q) for p, q in (("p50", 50), ("max", 100))
        }  # type: ignore[arg-type]
        for key in ("to_transition_s", "to_incident_s")
    }
    print(
        f"summary: {summary}; theory: between {theory - args.interval:g} and {theory:g} s plus a probe"
    )
    data = {
        "interval_s": args.interval,
        "fail_after": args.fail_after,
        "load": args.load,
        "rows": rows,
        "summary": summary,
    }
    print(f"json: {save('detection', data, args.json)}")


if __name__ == "__main__":
    main()
