"""The scheduler: even spread, a concurrency cap, and honest lateness."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict

import pytest

from monitor.scheduler import ProbeScheduler, spread


def test_spread_is_even_within_each_interval() -> None:
    offsets = spread([("a", 1.0), ("b", 1.0), ("c", 1.0), ("d", 1.0), ("x", 30.0), ("y", 30.0)])
    assert offsets == {"a": 0.0, "b": 0.25, "c": 0.5, "d": 0.75, "x": 0.0, "y": 15.0}


async def test_each_job_runs_on_its_grid_and_reports_lateness() -> None:
    planned: dict[str, list[float]] = defaultdict(list)
    lateness: list[float] = []
    enough = asyncio.Event()

    async def run(key: str, plan: float, late: float) -> None:
        planned[key].append(plan)
        lateness.append(late)
        if all(len(planned[f"c{i}"]) >= 4 for i in range(10)):
            enough.set()

    scheduler = ProbeScheduler(run, concurrency=100)
    scheduler.add([(f"c{i}", 0.2) for i in range(10)])
    scheduler.start()
    try:
        async with asyncio.timeout(5):
            await enough.wait()
    finally:
        scheduler.shutdown()
    for times in planned.values():
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert all(gap == pytest.approx(0.2, abs=0.002) for gap in gaps), gaps
    firsts = sorted(times[0] for times in planned.values())
    steps = [b - a for a, b in zip(firsts, firsts[1:], strict=False)]
    assert all(step == pytest.approx(0.02, abs=0.002) for step in steps), "starts are spread"
    assert max(lateness) < 0.1
    assert scheduler.stats.started == len(lateness)


async def test_concurrency_cap_holds_and_waiting_counts_as_lateness() -> None:
    release = asyncio.Event()
    in_flight = 0
    peak = 0
    late: list[float] = []
    two_started, six_started = asyncio.Event(), asyncio.Event()

    async def run(key: str, plan: float, lateness: float) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        late.append(lateness)
        if len(late) >= 2:
            two_started.set()
        if len(late) >= 6:
            six_started.set()
        await release.wait()
        in_flight -= 1

    scheduler = ProbeScheduler(run, concurrency=2)
    scheduler.add([(f"c{i}", 0.06) for i in range(6)], lead=0.0)  # all due within 60 ms
    scheduler.start()
    try:
        async with asyncio.timeout(5):
            await two_started.wait()
        await asyncio.sleep(0.3)  # let the others queue behind the cap for a measurable while
        assert peak == 2
        release.set()
        async with asyncio.timeout(5):
            await six_started.wait()
    finally:
        scheduler.shutdown()
    assert peak == 2
    assert scheduler.stats.overlapped > 0, "runs due while the previous one waits are counted"
    assert max(late) > 0.2, "a probe held back by the cap reports that it started late"


class SteppedClock:
    """The wall clock as the scheduler reads it, with steps a test makes."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


async def test_probing_keeps_its_pace_through_wall_clock_steps(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Stepped back or forward a minute, the clock neither stops probing for a minute nor
    makes every check run at once, and lateness stays what it is on the monotonic clock."""
    clock = SteppedClock()
    keys = [f"c{i}" for i in range(5)]
    interval = 0.2
    runs: dict[str, list[tuple[float, float, float, float]]] = defaultdict(list)
    wanted = 0
    enough, stepped = asyncio.Event(), asyncio.Event()
    steps: list[float] = []

    async def run(key: str, planned: float, lateness: float) -> None:
        runs[key].append((planned, lateness, clock(), clock.offset))
        if all(len(runs[k]) >= wanted for k in keys):
            enough.set()

    def on_step(step: float) -> None:
        steps.append(step)
        stepped.set()

    async def more_runs(count: int) -> None:
        nonlocal wanted
        wanted = max(len(runs[k]) for k in keys) + count
        enough.clear()
        async with asyncio.timeout(10):  # a wall-clock scheduler stepped back waits 60 s
            await enough.wait()

    scheduler = ProbeScheduler(run, concurrency=10, clock=clock, on_clock_step=on_step)
    scheduler.add((key, interval) for key in keys)
    scheduler.start()
    caplog.set_level(logging.WARNING, logger="monitor.scheduler")
    try:
        await more_runs(3)
        for step in (-60.0, 60.0, 60.0):  # back a minute, forward to the truth, a minute ahead
            stepped.clear()
            clock.offset += step
            await more_runs(3)
            async with asyncio.timeout(10):
                await stepped.wait()
            await more_runs(2)
    finally:
        scheduler.shutdown()

    assert steps == [pytest.approx(s, abs=0.5) for s in (-60.0, 60.0, 60.0)]
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.name == "monitor.scheduler" and r.levelno == logging.WARNING
    ]
    assert sum("stepped back by 60.0 s" in m for m in warnings) == 1, warnings
    assert sum("stepped forward by 60.0 s" in m for m in warnings) == 2, warnings
    assert scheduler.stats.clock_steps == 3
    for key in keys:
        times = runs[key]
        assert len(times) >= 3 + 3 * (3 + 2)
        for planned, lateness, wall, _ in times:
            assert 0 <= lateness < 5, "a step is no lateness (it would show as 60 s)"
            assert planned + lateness == pytest.approx(wall, abs=0.05), "plans read the new clock"
        # Less the steps, the plans stay on one grid of the interval: nothing skipped, nothing
        # bunched, across every step.
        grid = [planned - offset for planned, _, _, offset in times]
        for a, b in zip(grid, grid[1:], strict=False):
            assert (b - a) / interval == pytest.approx(round((b - a) / interval), abs=0.05)
            assert 0 < b - a < 5, "no gap (a clock stepped back would leave 60 s)"


async def test_a_wall_clock_that_stands_still_is_no_step_and_stops_nothing() -> None:
    runs: list[tuple[float, float]] = []
    enough = asyncio.Event()
    steps: list[float] = []

    async def run(key: str, planned: float, lateness: float) -> None:
        runs.append((planned, lateness))
        if len(runs) >= 15:  # three seconds: three looks at the clocks
            enough.set()

    scheduler = ProbeScheduler(
        run, concurrency=10, clock=lambda: 1_000_000.0, on_clock_step=steps.append
    )
    scheduler.add([("c", 0.2)])
    scheduler.start()
    try:
        async with asyncio.timeout(15):
            await enough.wait()
    finally:
        scheduler.shutdown()
    assert steps == [] and scheduler.stats.clock_steps == 0
    assert all(0 <= lateness < 5 for _, lateness in runs)
    assert all(planned + lateness == pytest.approx(1_000_000.0) for planned, lateness in runs)


async def test_stop_lets_runs_in_flight_finish_and_cancels_those_past_the_grace(
    caplog: pytest.LogCaptureFixture,
) -> None:
    started: set[str] = set()
    finished: list[str] = []
    cancelled: list[str] = []
    both = asyncio.Event()

    async def run(key: str, planned: float, lateness: float) -> None:
        started.add(key)
        if len(started) == 2:
            both.set()
        try:
            await asyncio.sleep(0.1 if key == "quick" else 60)
        except asyncio.CancelledError:
            cancelled.append(key)
            raise
        finished.append(key)

    scheduler = ProbeScheduler(run, concurrency=10, grace=0.5)
    scheduler.add([("quick", 30.0), ("stuck", 31.0)], lead=0.0)  # each alone: both due now
    scheduler.start()
    async with asyncio.timeout(5):
        await both.wait()
    caplog.set_level(logging.INFO, logger="monitor.scheduler")
    asked = time.monotonic()
    async with asyncio.timeout(5):
        await scheduler.stop()
    assert finished == ["quick"], "a run in flight is waited for"
    assert cancelled == ["stuck"], "one still going after the grace is cancelled"
    assert 0.4 < time.monotonic() - asked < 3
    assert not scheduler.running
    assert "stopping: 2 probes in flight" in caplog.text


async def test_update_schedules_again_only_a_new_interval() -> None:
    runs: dict[str, list[float]] = defaultdict(list)
    enough = asyncio.Event()

    async def run(key: str, planned: float, lateness: float) -> None:
        runs[key].append(time.monotonic())
        if len(runs["fast"]) >= 4:
            enough.set()

    scheduler = ProbeScheduler(run, concurrency=10)
    scheduler.add([("fast", 30.0), ("same", 31.0)], lead=0.0)  # each alone: both due now
    scheduler.start()
    try:
        scheduler.update([("fast", 0.05), ("same", 31.0), ("unknown", 0.05)])
        async with asyncio.timeout(5):
            await enough.wait()
    finally:
        await scheduler.stop()
    assert len(runs["same"]) == 1, "the same interval keeps its place on the grid"
    assert "unknown" not in runs, "update adds nothing"
