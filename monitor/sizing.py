"""How many processes probe when `[monitor] workers = "auto"` (the default).

One event loop carries one core. On a small 2-core machine a probe costs about 1.4 ms of CPU in
the daemon's own process (1.56 ms with worker processes: the results cross a pipe), so one
process saturates near 700 probes a second and its probes start late from well before that:
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

DEFAULT_COST = 0.0015
"""Seconds of CPU per probe before the daemon has measured its own: `bench/scale.py` measured
1.38-1.40 ms in-process and 1.56 ms with workers at 600-1,000 probes/s on a 2-core machine
(docs/performance.md); a faster machine measures less and sizes from that after a reload."""
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


def available_cpus() -> int:
    """The cores this process may run on (its affinity, where the system tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


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
