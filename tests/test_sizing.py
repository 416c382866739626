"""`[monitor] workers = "auto"`: the sizing as tables, the measured cost, the key itself."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from monitor.config import ConfigError, parse_config
from monitor.sizing import (
    DEFAULT_COST,
    MIN_PROBES,
    WINDOW,
    CostMeter,
    Sizing,
    available_cpus,
    cgroup_quota,
    cpu_seconds,
    planned_rate,
    size_workers,
)

from .conftest import wait_for

ONE_CHECK = {"component": [{"name": "Web", "check": [{"type": "tcp", "host": "h", "port": 1}]}]}


@pytest.mark.parametrize(
    ("rate", "cost", "cpus", "workers"),
    [
        (0.0, DEFAULT_COST, 2, 1),  # no checks
        (0.2, DEFAULT_COST, 2, 1),  # the shipped checks.toml: a few checks at 5-30 s
        (100.0, 0.0015, 2, 1),  # 0.15 of a core
        (333.0, 0.0015, 2, 1),  # 0.4995: still fits in half a core
        (334.0, 0.0015, 2, 2),  # 0.501: two processes of a quarter core each
        (600.0, DEFAULT_COST, 2, 1),  # 0.48 of a core at 0.8 ms: in-process
        (650.0, DEFAULT_COST, 2, 2),  # 0.52
        (1000.0, 0.0015, 2, 2),  # 1.5 cores: 3 wanted, 2 cores
        (1000.0, 0.0015, 8, 3),
        (1000.0, DEFAULT_COST, 8, 2),  # 0.8 cores: two of 0.4
        (1000.0, 0.0007, 8, 2),  # a faster machine measured 0.7 ms: 0.7 cores
        (1000.0, 0.0005, 8, 1),  # exactly half a core
        (2000.0, DEFAULT_COST, 1, 1),  # one core: a worker process would only add a pipe
        (100_000.0, DEFAULT_COST, 256, 64),  # never past what the key takes
    ],
)
def test_auto_sizes_from_rate_cost_and_cores(
    rate: float, cost: float, cpus: int, workers: int
) -> None:
    sizing = size_workers(None, rate, cost, cpus)
    assert (sizing.workers, sizing.pinned) == (workers, False)


@pytest.mark.parametrize(("setting", "rate"), [(1, 5000.0), (4, 0.1), (64, 1.0)])
def test_a_number_pins_it_whatever_the_load(setting: int, rate: float) -> None:
    sizing = size_workers(setting, rate, DEFAULT_COST, 2)
    assert (sizing.workers, sizing.pinned) == (setting, True)


@pytest.mark.parametrize(
    ("intervals", "rate"),
    [((), 0.0), ((5.0,) * 5000, 1000.0), ((30.0,) * 30000, 1000.0), ((1.0, 2.0, 4.0), 1.75)],
)
def test_planned_rate_is_the_sum_of_one_over_interval(
    intervals: tuple[float, ...], rate: float
) -> None:
    assert planned_rate(intervals) == pytest.approx(rate)


@pytest.mark.parametrize(
    ("sizing", "line"),
    [
        (
            Sizing(2, 1000.0, 0.0015, measured=False, pinned=False),
            "probing with 2 worker processes (auto: 1,000 probes/s planned at 1.50 ms each)",
        ),
        (
            Sizing(1, 0.2333, 0.0015, measured=False, pinned=False),
            "probing with 1 process, the daemon's own "
            "(auto: 0.23 probes/s planned at 1.50 ms each)",
        ),
        (
            Sizing(2, 700.0, 0.00138, measured=True, pinned=False),
            "probing with 2 worker processes "
            "(auto: 700 probes/s planned at 1.38 ms each, as measured)",
        ),
        (
            Sizing(1, 1000.0, 0.0015, measured=False, pinned=True),
            "probing with 1 process, the daemon's own (pinned by [monitor] workers)",
        ),
        (
            Sizing(4, 1.0, 0.0015, measured=False, pinned=True),
            "probing with 4 worker processes (pinned by [monitor] workers)",
        ),
    ],
)
def test_the_log_line_says_how_many_and_why(sizing: Sizing, line: str) -> None:
    assert sizing.describe() == line


class Readings:
    """What the meter reads, set by the test: CPU seconds, probes done, the monotonic clock."""

    def __init__(self) -> None:
        self.cpu: float | None = 0.0
        self.probes = 0
        self.now = 0.0

    def meter(self) -> CostMeter:
        return CostMeter(lambda: self.cpu, lambda: self.probes, lambda: self.now)

    def advance(self, seconds: float, probes: int, cpu: float) -> None:
        self.now += seconds
        self.probes += probes
        assert self.cpu is not None
        self.cpu += cpu


def test_the_meter_measures_cpu_per_probe_over_the_last_minute() -> None:
    readings = Readings()
    meter = readings.meter()
    assert meter.cost() is None
    meter.sample()
    readings.advance(5.0, MIN_PROBES - 1, 1.0)
    meter.sample()
    assert meter.cost() is None, "too few probes to say"
    readings.advance(5.0, 1, 0.5)
    meter.sample()
    assert meter.cost() == pytest.approx(1.5 / MIN_PROBES)
    # A minute at 1 ms a probe, then at 2 ms: only the last minute counts.
    for cost in (0.001, 0.002):
        for _ in range(int(WINDOW / 5)):
            readings.advance(5.0, 1000, 1000 * cost)
            meter.sample()
        assert meter.cost() == pytest.approx(cost)


def test_the_meter_skips_what_it_cannot_read_and_forgets_on_reset() -> None:
    readings = Readings()
    meter = readings.meter()
    meter.sample()
    readings.advance(5.0, 5000, 7.5)
    readings.cpu = None  # a worker's /proc vanished between two looks
    meter.sample()
    assert meter.cost() is None
    readings.cpu = 7.5
    meter.sample()
    assert meter.cost() == pytest.approx(0.0015)
    meter.reset()
    assert meter.cost() is None
    readings.advance(5.0, 5000, -1.0)  # a worker gone: less CPU than before, no cost
    meter.sample()
    readings.advance(5.0, 5000, 0.0)
    meter.sample()
    assert meter.cost() is None


def test_cpu_seconds_reads_this_process_and_its_workers() -> None:
    own = cpu_seconds([])
    assert own is not None and own >= time.process_time() - 0.01

    def child_cpu() -> float:
        assert busy.poll() is None, "the busy child ended"
        return (cpu_seconds([busy.pid]) or 0.0) - (cpu_seconds([]) or 0.0)

    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        wait_for(lambda: child_cpu() >= 0.2, 20, "the busy child's CPU time")
    finally:
        busy.kill()
        busy.wait()
    assert cpu_seconds([busy.pid]) is None, "a worker gone (and reaped) cannot be read"
    ended = cpu_seconds([])
    assert ended is not None and ended - own >= 0.2, "a child that ended still counts"


@pytest.mark.parametrize(
    ("monitor", "workers"),
    [({}, None), ({"workers": "auto"}, None), ({"workers": 1}, 1), ({"workers": 64}, 64)],
)
def test_the_key_takes_auto_or_a_number(monitor: dict[str, object], workers: int | None) -> None:
    config = parse_config({"monitor": monitor, **ONE_CHECK}, Path("checks.toml"))
    assert config.monitor.workers == workers


@pytest.mark.parametrize(
    ("value", "shown"),
    [(0, "0"), (65, "65"), ("Auto", '"Auto"'), ("2", '"2"'), (2.0, "2.0"), (True, "true")],
)
def test_the_key_refuses_anything_else_naming_both_forms(value: object, shown: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"monitor": {"workers": value}, **ONE_CHECK}, Path("checks.toml"))
    assert caught.value.errors == [
        f'checks.toml: [monitor]: workers: must be "auto" or an integer 1-64, got {shown}'
    ]


UNIT = "0::/system.slice/monitor.service\n"  # /proc/self/cgroup of a systemd unit
UNIT_MAX = "system.slice/monitor.service/cpu.max"


def _tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.mark.parametrize(
    ("own", "files", "quota"),
    [
        # cgroup v2, no limit anywhere
        (UNIT, {UNIT_MAX: "max 100000\n"}, None),
        # v2: systemd CPUQuota=150% on the unit
        (UNIT, {UNIT_MAX: "150000 100000\n"}, 1.5),
        # v2: the tighter limit is the parent's (a slice), the unit has none
        (
            UNIT,
            {"system.slice/cpu.max": "50000 100000\n", UNIT_MAX: "max 100000\n"},
            0.5,
        ),
        # v2 inside a container: the process's own cgroup is the root it sees (docker --cpus=1.5)
        ("0::/\n", {"cpu.max": "150000 100000\n"}, 1.5),
        # v1: cpu,cpuacct controller with a quota; -1 elsewhere
        (
            "4:memory:/docker/abc\n2:cpu,cpuacct:/docker/abc\n",
            {"cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "250000\n",
             "cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000\n",
             "cpu,cpuacct/cpu.cfs_quota_us": "-1\n", "cpu,cpuacct/cpu.cfs_period_us": "100000\n"},
            2.5,
        ),
        # v1 without a quota
        ("1:cpu:/\n", {"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
        # garbage is no limit, never a crash
        ("0::/x\n", {"x/cpu.max": "lots\n"}, None),
        ("nonsense\n", {}, None),
    ],
)  # fmt: skip
def test_the_cgroup_cpu_quota_is_read_from_v2_and_v1_and_ancestors(
    tmp_path: Path, own: str, files: dict[str, str], quota: float | None
) -> None:
    root = tmp_path / "cgroup"
    root.mkdir()
    _tree(root, files)
    (tmp_path / "own").write_text(own)
    assert cgroup_quota(root, tmp_path / "own") == quota


def test_a_quota_caps_the_cores_rounding_up(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    (tmp_path / "own").write_text("0::/\n")
    root.mkdir()
    unlimited = available_cpus(root, tmp_path / "own")
    (root / "cpu.max").write_text("50000 100000\n")
    assert available_cpus(root, tmp_path / "own") == 1
    (root / "cpu.max").write_text("150000 100000\n")
    assert available_cpus(root, tmp_path / "own") == min(2, unlimited)
    assert available_cpus(root, tmp_path / "missing") == unlimited
