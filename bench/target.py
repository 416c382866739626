"""A minimal, fast HTTP/1.1 target for benchmarks, in its own process.

Answers every path with 200 "ok" (or after `?delay=<ms>` milliseconds), closes the connection,
and records the arrival time of every request, so start lateness is measured at the target
independently of what the monitor says about itself. On SIGTERM it writes
{"path": [arrival, ...]} as JSON to the file named by --out.

    python bench/target.py --port 8080 --out arrivals.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time
from collections import defaultdict
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n"
    b"Connection: close\r\n\r\nok"
)


async def serve(host: str, port: int) -> dict[str, list[float]]:
    """Serve until SIGTERM or SIGINT; return the arrival times by path."""
    arrivals: dict[str, list[float]] = defaultdict(list)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            now = time.time()
            parts = line.split()
            if len(parts) < 2:
                return
            url = urlsplit(parts[1].decode())
            arrivals[url.path].append(now)
            await reader.readuntil(b"\r\n\r\n")
            delay = parse_qs(url.query).get("delay")
            if delay:
                await asyncio.sleep(float(delay[0]) / 1000)
            writer.write(RESPONSE)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, host, port, backlog=4096)
    print(f"listening {server.sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    async with server:
        await stop.wait()
    return arrivals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    arrivals = asyncio.run(serve(args.host, args.port))
    Path(args.out).write_text(json.dumps(arrivals))


if __name__ == "__main__":
    main()
