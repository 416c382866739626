"""How many processes probe when `[monitor] workers = "auto"` (the default).

One event loop carries one core. On a small 2-core machine a probe costs about 0.6 ms of CPU in
the daemon's own process (0.8 ms with worker processes: the results cross a pipe), so one
process saturates near 1,600 probes a second and its probes start late from well before that:
the loop also runs the status engine and shares the GIL with the writer thread. The sizing keeps
each process at or under half a core of probing: in-process while the planned load fits in
TARGET_LOAD, else enough worker processes to carry it at TARGET_LOAD each, never more than the
cores this process may run on.

`size_workers` and `planned_rate` are pure (table-tested); `CostMeter` turns samples of CPU time
and probes done into the cost per probe the daemon measured over the last minute, and
`cpu_seconds` reads the CPU time of this process and its workers.
"""

from __future__ import annotations

import math
import os
import resource
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

DEFAULT_COST = 0.0008
"""Seconds of CPU per probe before the daemon has measured its own: `bench/scale.py` measured
0.51-0.65 ms in-process at 600 probes/s and 0.80 ms with worker processes at 1,000/s on a
2-core machine (docs/performance.md); a faster machine measures less and sizes from that after
a reload."""
TARGET_LOAD = 0.5
"""Cores of probing per process: the other half is headroom for the writer thread, the event
loop's other work and bursts, so that probes start on time."""
MAX_WORKERS = 64  # as `[monitor] workers` takes
WINDOW = 60.0  # seconds of history the measured cost is taken over
MIN_PROBES = 1000  # probes in the window before the measured cost replaces the default
SAMPLE_EVERY = 5.0  # seconds between the daemon's samples of CPU time and probes done


def planned_rate(intervals: Iterable[float]) -> float:
    """Probes a second that checks of these intervals plan: the sum of 1 / interval."""
    return sum(1.0 / interval for interval in intervals)


@dataclass(frozen=True)
class Sizing:
    """How many processes probe (1: the daemon's own), and why."""

    workers: int
    rate: float  # probes a second planned
    cost: float  # seconds of CPU per probe the choice assumed
    measured: bool  # the cost is the daemon's own measurement, not DEFAULT_COST
    pinned: bool  # `[monitor] workers` set a number; rate and cost were not asked

    def describe(self) -> str:
        """'probing with 2 worker processes (auto: 1,000 probes/s planned at 1.50 ms each)'."""
        if self.workers == 1:
            how = "probing with 1 process, the daemon's own"
        else:
            how = f"probing with {self.workers} worker processes"
        if self.pinned:
            return f"{how} (pinned by [monitor] workers)"
        measured = ", as measured" if self.measured else ""
        return (
            f"{how} (auto: {_rate(self.rate)} probes/s planned at "
            f"{self.cost * 1000:.2f} ms each{measured})"
        )


def _rate(rate: float) -> str:
    return f"{rate:,.0f}" if rate >= 10 else f"{rate:.2g}"


def size_workers(
    setting: int | None, rate: float, cost: float, cpus: int, *, measured: bool = False
) -> Sizing:
    """The processes to probe with: `setting` if the config pins it, else 1 while `rate` x
    `cost` fits in TARGET_LOAD of a core, else ceil(load / TARGET_LOAD), at most `cpus` (the
    cores this process may run on) and MAX_WORKERS."""
    if setting is not None:
        return Sizing(setting, rate, cost, measured, pinned=True)
    load = rate * cost
    workers = 1
    if load > TARGET_LOAD:
        workers = max(1, min(math.ceil(load / TARGET_LOAD), cpus, MAX_WORKERS))
    return Sizing(workers, rate, cost, measured, pinned=False)


def available_cpus(
    cgroup_root: Path = Path("/sys/fs/cgroup"), own_cgroup: Path = Path("/proc/self/cgroup")
) -> int:
    """The cores this process may use: its affinity (where the system tells it), capped by a CPU
    quota on its cgroup or an ancestor's (`docker run --cpus=1.5`, systemd `CPUQuota=150%`,
    Kubernetes limits), rounded up: a 1.5-core quota carries two half-core processes."""
    if hasattr(os, "sched_getaffinity"):
        cpus = max(1, len(os.sched_getaffinity(0)))
    else:
        cpus = max(1, os.cpu_count() or 1)
    quota = cgroup_quota(cgroup_root, own_cgroup)
    if quota is not None:
        cpus = min(cpus, max(1, math.ceil(quota - 1e-9)))
    return cpus


def cgroup_quota(cgroup_root: Path, own_cgroup: Path) -> float | None:
    """The tightest CPU quota, in cores, on this process's cgroup and its ancestors, or None
    when there is none or it cannot be read. cgroup v2: `cpu.max` ("max 100000" or "150000
    100000"); v1: `cpu.cfs_quota_us` over `cpu.cfs_period_us` in the cpu controller's tree."""
    try:
        lines = own_cgroup.read_text().splitlines()
    except OSError:
        return None
    tightest: float | None = None
    files: tuple[str, ...]
    for line in lines:
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and controllers == "":  # v2, the unified hierarchy
            base, files = cgroup_root, ("cpu.max",)
        elif "cpu" in controllers.split(","):  # v1, mounted as cpu,cpuacct (or cpu)
            mount = next(
                (cgroup_root / name for name in (controllers, "cpu,cpuacct", "cpu")
                 if (cgroup_root / name).is_dir()),
                None,
            )  # fmt: skip
            if mount is None:
                continue
            base, files = mount, ("cpu.cfs_quota_us", "cpu.cfs_period_us")
        else:
            continue
        for quota in _quotas(base, PurePosixPath(path), files):
            if tightest is None or quota < tightest:
                tightest = quota
    return tightest


def _quotas(base: Path, path: PurePosixPath, files: tuple[str, ...]) -> Iterable[float]:
    """The quotas set on `path` and each of its ancestors under `base`. Inside a container the
    process sees its own cgroup as the root ("0::/"), so the walk starts where it can read."""
    parts = path.parts[1:] if path.is_absolute() else path.parts
    for depth in range(len(parts), -1, -1):
        directory = base.joinpath(*parts[:depth])
        try:
            texts = [(directory / name).read_text().split() for name in files]
        except (OSError, ValueError):
            continue
        quota = _quota(texts)
        if quota is not None:
            yield quota


def _quota(texts: list[list[str]]) -> float | None:
    try:
        if len(texts) == 1:  # v2 cpu.max: "$MAX $PERIOD"
            fields = texts[0]
            if len(fields) != 2 or fields[0] == "max":
                return None
            limit, period = int(fields[0]), int(fields[1])
        else:  # v1: quota -1 is none
            limit, period = int(texts[0][0]), int(texts[1][0])
    except (ValueError, IndexError):
        return None
    if limit <= 0 or period <= 0:
        return None
    return limit / period


class CostMeter:
    """The CPU a probe costs, as this daemon runs: the CPU time spent over the last WINDOW
    seconds over the probes done in it, once there were MIN_PROBES of them.

    `cpu` gives the CPU seconds used so far (None when they cannot be read), `probes` the probes
    done so far; `sample` is called every SAMPLE_EVERY seconds. Everything counts: the engine,
    the writer, /metrics scrapes; that is what a probe costs the machine.
    """

    def __init__(
        self,
        cpu: Callable[[], float | None],
        probes: Callable[[], int],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cpu, self._probes, self._monotonic = cpu, probes, monotonic
        self._samples: deque[tuple[float, float, int]] = deque()

    def sample(self) -> None:
        cpu = self._cpu()
        if cpu is None:
            return
        now = self._monotonic()
        self._samples.append((now, cpu, self._probes()))
        # Keep the newest sample at least WINDOW old: the start of the window.
        while len(self._samples) > 2 and self._samples[1][0] <= now - WINDOW:
            self._samples.popleft()

    def reset(self) -> None:
        """Forget the samples: the probing changed shape (in-process to workers, or back)."""
        self._samples.clear()

    def cost(self) -> float | None:
        """Seconds of CPU per probe over the last minute, or None before MIN_PROBES."""
        if len(self._samples) < 2:
            return None
        (_, cpu0, probes0), (_, cpu1, probes1) = self._samples[0], self._samples[-1]
        done, used = probes1 - probes0, cpu1 - cpu0
        if done < MIN_PROBES or used <= 0:  # a worker gone between samples reads as less CPU
            return None
        return used / done


def cpu_seconds(pids: Iterable[int]) -> float | None:
    """CPU seconds (user + system) of this process (all its threads), its children that ended,
    and the running worker processes `pids`; None if a worker's cannot be read."""
    own = time.process_time()
    ended = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = own + ended.ru_utime + ended.ru_stime
    ticks = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:
            return None
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total
