"""A minimal, fast HTTP/1.1 target for benchmarks, in its own process(es).

Answers every path with 200 "ok" (or after `?delay=<ms>` milliseconds), closes the connection,
and records the arrival time (the accept) of every request by path, so start lateness is
measured at the target independently of what the client says about itself.

- `--workers N` runs N processes accepting on one listening socket (forked after it is bound),
  so the target is not the bottleneck at a few thousand requests a second.
- `GET /_control?fail=/path` makes /path answer 500 from now on, `?ok=/path` brings it back,
  `?down=/path` closes its connections without an answer. Control is per process: use it with
  `--workers 1` (the default).
- On SIGTERM or SIGINT it writes {"path": [arrival, ...]} (Unix seconds, to the microsecond) as
  JSON to the file named by --out; control requests are not recorded.

    python bench/target.py --port 8080 --out arrivals.json --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import multiprocessing.synchronize
import os
import signal
import socket
import time
from array import array
from collections import defaultdict
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

HEAD = b"Content-Type: text/plain\r\nConnection: close\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" + HEAD + b"ok"
FAIL = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n" + HEAD + b"fail"
CONTROL_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n" + HEAD + b"ok\n"
MAX_HEAD = 64 * 1024


class Target:
    """What one worker knows: arrivals by path and the paths switched to fail."""

    def __init__(self) -> None:
        self.arrivals: dict[str, array[float]] = defaultdict(lambda: array("d"))
        self.failing: dict[str, bytes | None] = {}  # path -> answer, None to close

    def control(self, query: str) -> None:
        params = parse_qs(query)
        for path in params.get("fail", []):
            self.failing[path] = FAIL
        for path in params.get("down", []):
            self.failing[path] = None
        for path in params.get("ok", []):
            self.failing.pop(path, None)


class Handler(asyncio.Protocol):
    """One connection: read the head, record, answer (maybe later), close."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.accepted = time.time()
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.answered = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.answered or self.transport is None:
            return
        self.buffer += data
        if b"\r\n\r\n" not in self.buffer:
            if len(self.buffer) > MAX_HEAD:
                self.transport.close()
            return
        self.answered = True
        parts = self.buffer.split(b"\r\n", 1)[0].split()
        if len(parts) < 2:
            self.transport.close()
            return
        url = urlsplit(parts[1].decode("latin-1"))
        if url.path == "/_control":
            self.target.control(url.query)
            self._answer(CONTROL_OK)
            return
        self.target.arrivals[url.path].append(self.accepted)
        answer = self.target.failing.get(url.path, OK)
        if answer is None:
            self.transport.abort()
            return
        delay = parse_qs(url.query).get("delay")
        if delay:
            asyncio.get_running_loop().call_later(float(delay[0]) / 1000, self._answer, answer)
        else:
            self._answer(answer)

    def _answer(self, answer: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(answer)
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


def listening_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(4096)
    sock.setblocking(False)
    return sock


async def serve(sock: socket.socket, ready: multiprocessing.synchronize.Event | None) -> Target:
    """Serve until SIGTERM or SIGINT; return what was recorded."""
    target = Target()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Handler(target), sock=sock, backlog=4096)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    if ready is not None:
        ready.set()
    async with server:
        await stop.wait()
    return target


def worker(sock: socket.socket, out: str, ready: multiprocessing.synchronize.Event) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us with SIGTERM
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    target = asyncio.run(serve(sock, ready))
    data = {path: [round(t, 6) for t in times] for path, times in target.arrivals.items()}
    Path(out).write_text(json.dumps(data))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    sock = listening_socket(args.host, args.port)
    port = sock.getsockname()[1]
    if args.workers == 1:
        print(f"listening {port} pid {os.getpid()}", flush=True)
        target = asyncio.run(serve(sock, None))
        data = {path: [round(t, 6) for t in times] for path, times in target.arrivals.items()}
        Path(args.out).write_text(json.dumps(data))
        return
    # Blocked before the fork so only sigwait sees them; each worker unblocks them for its loop.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    ctx = multiprocessing.get_context("fork")
    procs = []
    for n in range(args.workers):
        ready = ctx.Event()
        proc = ctx.Process(target=worker, args=(sock, f"{args.out}.{n}", ready))
        proc.start()
        ready.wait(10)
        procs.append(proc)
    sock.close()
    print(f"listening {port} pid {os.getpid()}", flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    merged: dict[str, list[float]] = defaultdict(list)
    for n, proc in enumerate(procs):
        assert proc.pid is not None
        os.kill(proc.pid, signal.SIGTERM)
        proc.join(30)
        part = Path(f"{args.out}.{n}")
        if part.exists():
            for path, times in json.loads(part.read_text()).items():
                merged[path] += times
            part.unlink()
    Path(args.out).write_text(json.dumps(merged))


if __name__ == "__main__":
    main()
