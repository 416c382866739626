"""monitor/loops.py: the loop the daemon and its workers run on, and the pipes between them."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading

import pytest
import uvloop

from monitor import loops

MESSAGE = b"x" * 65536
COUNT = 64  # 4 MiB: far past what a socket pair buffers


def _send_all(conn: multiprocessing.connection.Connection, errors: list[BaseException]) -> None:
    try:
        for _ in range(COUNT):
            conn.send_bytes(MESSAGE)
    except BaseException as exc:  # noqa: BLE001 - handed to the test
        errors.append(exc)


def test_a_watched_pipe_stays_blocking_so_a_full_pipe_waits_and_loses_nothing() -> None:
    """libuv makes a polled descriptor non-blocking, and a worker both polls its end of the
    pipe (for commands) and sends its results on it: with the pipe full, a send failed with
    BlockingIOError and the result was lost. Sent from a thread while nobody reads, then read:
    every message arrives."""
    ours, theirs = multiprocessing.Pipe()
    errors: list[BaseException] = []

    async def watch_and_send() -> None:
        loops.add_reader(ours.fileno(), lambda: None)
        assert os.get_blocking(ours.fileno())
        sender = threading.Thread(target=_send_all, args=(ours, errors))
        sender.start()
        await asyncio.sleep(0)
        received = 0
        while received < COUNT:  # the reader, late: the sender waited on a full pipe
            received += len(await asyncio.to_thread(theirs.recv_bytes)) // len(MESSAGE)
        await asyncio.to_thread(sender.join)
        asyncio.get_running_loop().remove_reader(ours.fileno())
        assert received == COUNT

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(watch_and_send())
    assert errors == []


def test_uvloop_would_have_left_it_non_blocking() -> None:
    """What the helper undoes, so the test above cannot pass by luck on another libuv."""
    ours, _theirs = multiprocessing.Pipe()

    async def watch() -> bool:
        asyncio.get_running_loop().add_reader(ours.fileno(), lambda: None)
        blocking = os.get_blocking(ours.fileno())
        asyncio.get_running_loop().remove_reader(ours.fileno())
        return blocking

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert runner.run(watch()) is False


@pytest.mark.parametrize(("setting", "name"), [("asyncio", "asyncio"), ("", "uvloop")])
def test_the_environment_chooses_the_loop(
    monkeypatch: pytest.MonkeyPatch, setting: str, name: str
) -> None:
    monkeypatch.setenv(loops.ENV, setting)

    async def which() -> str:
        return loops.running_loop_name()

    assert loops.run(which()) == name
