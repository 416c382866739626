"""The daemon's own HTTP endpoints: /metrics, /healthz and /status.json."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

HealthFn = Callable[[], str | None]
"""Returns None when healthy, else the reason it is not."""


def build_app(
    render: Callable[[], bytes], health: HealthFn, status: Callable[[], Mapping[str, Any]]
) -> web.Application:
    async def metrics(_: web.Request) -> web.Response:
        # Rendering grows with the number of checks (megabytes at 10,000): off the event loop.
        body = await asyncio.get_running_loop().run_in_executor(None, render)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        problem = health()
        if problem is None:
            return web.Response(text="ok\n")
        return web.Response(status=503, text=f"unhealthy: {problem}\n")

    async def status_json(_: web.Request) -> web.Response:
        return web.json_response(status())

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/status.json", status_json)
    return app


def parse_listen(listen: str) -> tuple[str, int]:
    """'127.0.0.1:9464' or '[::1]:9464' -> (host, port). Config validation has vetted it."""
    host, _, port = listen.rpartition(":")
    return host.strip("[]") or "0.0.0.0", int(port)


async def start_server(app: web.Application, listen: str) -> web.AppRunner:
    """Bind and serve; the caller owns the runner and calls `cleanup()` on it."""
    host, port = parse_listen(listen)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner
