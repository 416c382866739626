"""A TCP proxy on 127.0.0.1 whose faults a test switches at any time: refused, black-holed,
delayed, cut.

It runs an asyncio loop in a thread of its own, so a sync test, an async test (on its own loop)
and a daemon in a subprocess can all connect through it. Every switch returns once it has taken
effect: after `refuse()` a new connection is refused, after `cut()` the old ones are reset.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, TypeVar

CHUNK = 65536
CONNECT_TIMEOUT = 5.0
SWITCH_TIMEOUT = 5.0
T = TypeVar("T")


def _linger_zero(sock: Any) -> None:
    """Make the socket's close send a RST, as a peer that vanished would."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


class _Link:
    """One client connection and its upstream, served by `task`."""

    def __init__(self, conn: socket.socket, task: asyncio.Task[None]) -> None:
        self.conn = conn
        self.client: asyncio.StreamWriter | None = None
        self.upstream: asyncio.StreamWriter | None = None
        self.task = task
        self.dead = False

    def reset(self) -> None:
        """RST both sides and end the task. Until the client's stream exists the task is left
        to see `dead` itself: cancelled there, it would leave the socket to a transport that
        never closes it."""
        self.dead = True
        self.abort()
        if self.client is not None:
            self.task.cancel()

    def abort(self) -> None:
        for writer in (self.client, self.upstream):
            if writer is not None:
                _linger_zero(writer.get_extra_info("socket"))
                writer.transport.abort()


class FaultProxy:
    """Forwards 127.0.0.1:`port` (0: a free one) to `target_host`:`target_port`.

    Starts in pass mode. Each switch applies to the connections already open too:
    - `pass_()`: forward everything; data held by a blackhole flows again.
    - `refuse()`: stop listening (new connections are refused) and reset the open ones.
    - `blackhole()`: accept, but forward nothing either way; data is held, not lost, as a
      network partition holds TCP segments until it heals.
    - `delay(seconds)`: forward each chunk `seconds` after it arrived (latency, not throughput).
    - `cut()`: reset every open connection now; the mode stays.
    """

    def __init__(self, target_host: str, target_port: int, port: int = 0) -> None:
        self.target = (target_host, target_port)
        self.port = port
        self.accepted = 0  # connections accepted so far
        self._mode = "pass"
        self._delay = 0.0
        self._listener: socket.socket | None = None
        self._links: set[_Link] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._flowing: asyncio.Event | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"faultproxy->{target_port}", daemon=True
        )
        self._thread.start()
        self._call(self._open())

    @property
    def mode(self) -> str:
        """pass, refuse, blackhole, delay or closed."""
        return self._mode

    @property
    def connections(self) -> int:
        """Connections open through the proxy now."""
        return self._call(self._count())

    def pass_(self) -> None:
        self._call(self._switch("pass", 0.0))

    def refuse(self) -> None:
        self._call(self._switch("refuse", 0.0))

    def blackhole(self) -> None:
        self._call(self._switch("blackhole", 0.0))

    def delay(self, seconds: float) -> None:
        self._call(self._switch("delay", seconds))

    def cut(self) -> None:
        self._call(self._reset_all())

    def close(self, timeout: float = 5.0) -> None:
        """Reset every connection, stop listening and join the thread (within `timeout`)."""
        if self._loop.is_closed():
            return
        if self._thread.is_alive():
            self._call(self._shutdown())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)
        if self._thread.is_alive():
            raise RuntimeError(f"fault proxy thread still running {timeout} s after close")
        self._loop.close()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- in the proxy's loop ------------------------------------------------------------

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(SWITCH_TIMEOUT)

    async def _count(self) -> int:
        return len(self._links)

    async def _open(self) -> None:
        """Listen (again, on the same port after a refuse). Accepting is a reader callback, not
        a task or an asyncio.Server, so that closing the listener can never strand a socket
        accepted but not yet handed over."""
        if self._flowing is None:
            self._flowing = asyncio.Event()
            self._flowing.set()
        if self._listener is None:
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))
            listener.listen(128)
            listener.setblocking(False)
            self.port = listener.getsockname()[1]
            self._listener = listener
            asyncio.get_running_loop().add_reader(listener, self._accept)

    def _stop_listening(self) -> None:
        if self._listener is not None:
            asyncio.get_running_loop().remove_reader(self._listener)
            self._listener.close()
            self._listener = None

    def _accept(self) -> None:
        assert self._listener is not None
        while True:
            try:
                conn, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # out of descriptors, or the like: the peer sees a reset
                return
            self.accepted += 1
            task = asyncio.get_running_loop().create_task(self._serve(conn))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _switch(self, mode: str, delay: float) -> None:
        assert self._flowing is not None
        self._mode, self._delay = mode, delay
        if mode == "refuse":
            self._stop_listening()
            await self._reset_all()
            return
        await self._open()
        if mode == "blackhole":
            self._flowing.clear()
        else:
            self._flowing.set()

    async def _reset_all(self) -> None:
        links, self._links = self._links, set()
        for link in links:
            link.reset()
        await asyncio.gather(*(link.task for link in links), return_exceptions=True)

    async def _shutdown(self) -> None:
        """Reset every connection and wait until every task has ended."""
        self._mode = "closed"
        self._stop_listening()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SWITCH_TIMEOUT / 2
        while True:
            await self._reset_all()
            await asyncio.sleep(0)  # an aborted transport closes its socket in a callback
            if not self._tasks:
                return
            if loop.time() > deadline:
                raise RuntimeError(f"fault proxy: {len(self._tasks)} connections would not end")
            await asyncio.wait(list(self._tasks), timeout=0.05)

    async def _serve(self, conn: socket.socket) -> None:
        task = asyncio.current_task()
        assert task is not None and self._flowing is not None
        if self._mode in ("refuse", "closed"):  # accepted as the listener closed
            _linger_zero(conn)
            conn.close()
            return
        link = _Link(conn, task)
        self._links.add(link)
        flows: list[asyncio.Task[None]] = []
        try:
            reader, link.client = await asyncio.open_connection(sock=conn)
            if link.dead:
                return
            await self._flowing.wait()  # a blackhole accepts and then says nothing
            async with asyncio.timeout(CONNECT_TIMEOUT):
                up_reader, link.upstream = await asyncio.open_connection(*self.target)
            if link.dead:  # reset while connecting: the cancel can be lost as the connect ends
                return
            loop = asyncio.get_running_loop()
            for source, sink in ((reader, link.upstream), (up_reader, link.client)):
                queue: asyncio.Queue[tuple[float, bytes | None]] = asyncio.Queue()
                flows.append(loop.create_task(self._read(source, queue)))
                flows.append(loop.create_task(self._write(queue, sink)))
            writers = flows[1::2]
            await asyncio.wait(writers, return_when=asyncio.FIRST_EXCEPTION)
            if any(w.done() and not w.cancelled() and w.exception() for w in writers):
                link.abort()  # one side reset: so does the other
        except (OSError, TimeoutError):
            link.abort()  # the target is down: the client sees a reset
        except asyncio.CancelledError:
            pass  # reset by a switch, which awaits this task
        finally:
            self._links.discard(link)
            for flow in flows:
                flow.cancel()
            await asyncio.gather(*flows, return_exceptions=True)
            if link.dead:
                link.abort()
            for writer in (link.client, link.upstream):
                if writer is not None:
                    writer.transport.abort()
            if link.client is None:
                conn.close()

    async def _read(
        self, source: asyncio.StreamReader, queue: asyncio.Queue[tuple[float, bytes | None]]
    ) -> None:
        """Queue each chunk with the time it is due; b"" is the end, None a reset."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                data = await source.read(CHUNK)
                queue.put_nowait((loop.time() + self._delay, data))
                if not data:
                    return
        except OSError:
            queue.put_nowait((0.0, None))

    async def _write(
        self, queue: asyncio.Queue[tuple[float, bytes | None]], sink: asyncio.StreamWriter
    ) -> None:
        """Forward each chunk at its due time, and only while not blackholed."""
        assert self._flowing is not None
        loop = asyncio.get_running_loop()
        while True:
            due, data = await queue.get()
            if data is None:
                raise ConnectionResetError("the other side reset the connection")
            await asyncio.sleep(max(0.0, due - loop.time()))
            await self._flowing.wait()
            if not data:
                if sink.can_write_eof():
                    sink.write_eof()
                return
            sink.write(data)
            await sink.drain()
