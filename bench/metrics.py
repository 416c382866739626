"""Scrape benchmark: what `/metrics` costs at N checks, per check and per component
(`[monitor] metrics_per_check` true and false), in one run.

For each N it builds the daemon's metrics as `monitor run` does (its `Metrics`, and the
states that give `monitor_check_up` or `monitor_checks_down` and
`monitor_component_status`) for N checks in components of --per-component checks, feeds each
check a few probe results (ok, slow and failed ones, some with a certificate), then times
`Metrics.render()`, the whole body of a scrape, best and median of --repeat, and its size. It
also times the probe's own update (`CheckMetrics.observe`) in each mode, since the per-component
sums must cost the probe nothing more. No daemon, no network: the numbers are the rendering's.

    python bench/metrics.py                               # 10,000 and 100,000 checks
    python bench/metrics.py --checks 1000,10000 --repeat 5
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import timeit
from pathlib import Path

from common import print_table, save
from prometheus_client import CollectorRegistry

from monitor.metrics import Metrics
from monitor.model import Outcome, ProbeResult
from monitor.state import CheckState, CheckStatus, ComponentStatus, Status

COLUMNS = [
    ("checks", "checks"),
    ("components", "components"),
    ("per_check", "per check"),
    ("render_best_s", "scrape best s"),
    ("render_median_s", "scrape median s"),
    ("bytes", "bytes"),
    ("bytes_per_check", "B/check"),
    ("observe_ns", "observe ns"),
]
YEAR = 365 * 86400.0


def results(rng: random.Random, count: int) -> list[ProbeResult]:
    """Probe results as a varied install sees them: mostly ok, some slow, a few failed; one
    check in three over TLS."""
    tls = rng.random() < 1 / 3
    out = []
    for _ in range(count):
        outcome = rng.choices(list(Outcome), weights=(90, 7, 3))[0]
        expiry = 1.9e9 + rng.random() * YEAR if tls else None
        out.append(ProbeResult(outcome, rng.expovariate(1 / 0.05), cert_expiry=expiry))
    return out


def build(checks: int, per_component: int, observations: int, per_check: bool) -> Metrics:
    rng = random.Random(checks)  # the same checks and results in both modes
    metrics = Metrics(CollectorRegistry(), per_check=per_check)
    states: dict[str, CheckStatus] = {}
    statuses: dict[str, ComponentStatus] = {}
    for n in range(checks):
        component, check = f"component-{n // per_component:06d}", f"check-{n:06d}"
        series = metrics.for_check(component, check)
        for result in results(rng, observations):
            series.observe(result)
        down = rng.random() < 0.01
        states[f"{component}/{check}"] = CheckStatus(CheckState.DOWN if down else CheckState.UP)
        statuses.setdefault(component, ComponentStatus(Status.OPERATIONAL))
    metrics.add_states(lambda: states, lambda: statuses)
    return metrics


def observe_ns(repeat: int) -> dict[bool, float]:
    """The probe's update of its series in each mode, ns per result: the best of `repeat` runs
    of 100,000 pairs of results, the two modes taking turns so that a busy machine slows both."""
    series = {}
    for per_check in (True, False):
        metrics = Metrics(CollectorRegistry(), per_check=per_check)
        series[per_check] = metrics.for_check("web", "home")
        metrics.for_check("web", "api")  # per component, a series shared with another check
    ok, tls = ProbeResult(Outcome.OK, 0.0123), ProbeResult(Outcome.SLOW, 0.7, cert_expiry=2e9)
    best = dict.fromkeys(series, float("inf"))
    for _ in range(repeat):
        for per_check, each in series.items():
            took = timeit.timeit(lambda s=each: (s.observe(ok), s.observe(tls)), number=100_000)
            best[per_check] = min(best[per_check], took / 200_000 * 1e9)
    return best


def measure(
    checks: int, per_component: int, observations: int, repeat: int, observe: dict[bool, float]
) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for per_check in (True, False):
        metrics = build(checks, per_component, observations, per_check)
        times, size = [], 0
        for _ in range(repeat):
            start = time.perf_counter()
            body = metrics.render()
            times.append(time.perf_counter() - start)
            size = len(body)
            del body
        rows.append(
            {
                "checks": checks,
                "components": -(-checks // per_component),
                "per_check": per_check,
                "render_best_s": min(times),
                "render_median_s": statistics.median(times),
                "bytes": size,
                "bytes_per_check": size / checks,
                "observe_ns": observe[per_check],
            }
        )
        del metrics
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", default="10000,100000", help="comma-separated check counts")
    parser.add_argument("--per-component", type=int, default=10, help="checks per component")
    parser.add_argument("--observations", type=int, default=3, help="probe results per check")
    parser.add_argument("--repeat", type=int, default=3, help="scrapes timed per case")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    rows: list[dict[str, object]] = []
    observe = observe_ns(max(args.repeat, 7))
    for checks in (int(n) for n in args.checks.split(",")):
        print(f"== {checks:,} checks, {args.per_component} per component", flush=True)
        rows += measure(checks, args.per_component, args.observations, args.repeat, observe)
    print_table(rows, COLUMNS)
    print(f"saved {save('metrics', rows, args.json)}")


if __name__ == "__main__":
    main()
