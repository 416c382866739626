"""The event loop the daemon and its worker processes run on: uvloop where it is installed,
asyncio's own otherwise, or when `MONITOR_EVENT_LOOP=asyncio` asks for it.

uvloop (libuv under asyncio's API) runs the same code with cheaper transports and callbacks:
a probe costs about a fifth less CPU on it (docs/performance.md). Everything else the daemon
does goes through asyncio's API, so nothing else changes; the tests run both loops (the
in-process tests on asyncio's, the daemon subprocesses on this one).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

ENV = "MONITOR_EVENT_LOOP"


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop, or None for asyncio's: asked for, or uvloop not installed."""
    if os.environ.get(ENV, "").strip().lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def running_loop_name() -> str:
    """ "uvloop" or "asyncio": whose loop this coroutine runs on."""
    module = type(asyncio.get_running_loop()).__module__
    return "uvloop" if module.startswith("uvloop") else "asyncio"


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)` on the loop `loop_factory` chooses."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)


def add_reader(fd: int, callback: Callable[..., object], *args: Any) -> None:
    """`loop.add_reader(fd, callback, *args)` on the running loop, the descriptor left blocking.

    libuv (uvloop) makes every descriptor it polls non-blocking. The pipes between the daemon
    and its probe workers are read when the loop says they are readable, but written with
    blocking sends: a full pipe must make the sender wait for the reader, never fail the send
    and lose a result (the 100,000-check benchmark lost 3.5% of them that way).
    """
    asyncio.get_running_loop().add_reader(fd, callback, *args)
    os.set_blocking(fd, True)
