"""In cluster mode every HTTP probe says where it comes from: X-Monitor-Location and
X-Monitor-Node. `with_origin` as a table of plain checks, then real `monitor run` processes
probing a real aiohttp server on loopback that records what it was sent."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from multidict import CIMultiDict

from monitor.model import HttpCheck, TcpCheck
from monitor.probes.origin import with_origin

from .conftest import DaemonProcess, write_config

URL = "http://127.0.0.1:1/"
ORIGIN = (("X-Monitor-Location", "eu-west"), ("X-Monitor-Node", "web-1"))


@pytest.mark.parametrize(
    ("own", "sent"),
    [
        ((), ORIGIN),
        ((("Accept", "text/plain"),), (("Accept", "text/plain"), *ORIGIN)),
        (  # the check's own, in any case, give way: each goes once, with the node's value
            (
                ("x-monitor-node", "spoof"),
                ("Accept", "text/plain"),
                ("X-MONITOR-LOCATION", "moon"),
            ),
            (("Accept", "text/plain"), *ORIGIN),
        ),
        ((("X-Monitor-Nodes", "kept"),), (("X-Monitor-Nodes", "kept"), *ORIGIN)),
    ],
)
def test_an_http_check_carries_the_node_and_its_location(
    own: tuple[tuple[str, str], ...], sent: tuple[tuple[str, str], ...]
) -> None:
    check = HttpCheck(name="api", url=URL, headers=own, interval=5.0)
    marked = with_origin(check, "web-1", "eu-west")
    assert isinstance(marked, HttpCheck)
    assert marked.headers == sent
    assert marked == HttpCheck(name="api", url=URL, headers=sent, interval=5.0)
    assert check.headers == own  # a new check; the configured one is as it was
    assert with_origin(marked, "web-1", "eu-west") == marked  # once is enough


def test_a_tcp_check_is_left_as_it_is() -> None:
    check = TcpCheck(name="db", host="127.0.0.1", port=5432)
    assert with_origin(check, "web-1", "eu-west") is check


class Recorder:
    """What an HTTP server on loopback was sent: each request's path and headers."""

    def __init__(self) -> None:
        self.port = 0
        self.seen: list[tuple[str, CIMultiDict[str]]] = []
        self.changed = threading.Condition()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, request: web.Request) -> web.Response:
        with self.changed:
            self.seen.append((request.path, CIMultiDict(request.headers)))
            self.changed.notify_all()
        return web.Response(text="ok")

    def headers_of(self, path: str, timeout: float) -> CIMultiDict[str]:
        """The headers of the first request to `path`, waited for up to `timeout` seconds."""
        with self.changed:
            found = self.changed.wait_for(
                lambda: any(seen == path for seen, _ in self.seen), timeout
            )
            assert found, f"timed out after {timeout} s waiting for a request to {path}"
            return next(headers for seen, headers in self.seen if seen == path)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    recorder = Recorder()
    loop = asyncio.new_event_loop()
    runners: list[web.AppRunner] = []

    async def serve() -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", recorder.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        recorder.port = runner.addresses[0][1]
        runners.append(runner)

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(serve(), loop).result(5)
    yield recorder
    asyncio.run_coroutine_threadsafe(runners[0].cleanup(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def config_text(url: str, *, cluster: bool, headers: str) -> str:
    section = (
        """
[cluster]
database_env = "MONITOR_DATABASE_URL"
node = "file-node"
location = "file-place"
"""
        if cluster
        else ""
    )
    return f"""
[monitor]
database = "monitor.db"
listen = ""
[defaults]
interval = "1s"
timeout = "0.8s"
{section}
[[component]]
name = "Payment API"
  [[component.check]]
  type = "http"
  name = "healthz"
  url = "{url}"
  headers = {headers}
"""


@pytest.mark.slow
def test_in_cluster_mode_every_probe_says_its_node_and_location(
    tmp_path: Path,
    recorder: Recorder,
    daemons: Callable[..., DaemonProcess],
    pg_url: str,
) -> None:
    """The node's own names (--node and --location over the file's), at start and after a
    reload; a header of the same name in the check gives way."""
    headers = '{ Accept = "text/plain", "x-monitor-node" = "spoof" }'
    path = write_config(tmp_path, config_text(f"{recorder.url}/a", cluster=True, headers=headers))
    env = {"MONITOR_DATABASE_URL": pg_url}
    daemon = daemons(path, "--node", "probe-1", "--location", "ap-south", env=env)
    for where in ("/a", "/b"):
        if where == "/b":  # a reload puts the changed check in with the same names
            path.write_text(config_text(f"{recorder.url}/b", cluster=True, headers=headers))
            daemon.signal(signal.SIGHUP)
        sent = recorder.headers_of(where, 20)
        assert sent.getall("X-Monitor-Node") == ["probe-1"], daemon.log
        assert sent.getall("X-Monitor-Location") == ["ap-south"]
        assert sent.getall("Accept") == ["text/plain"]


@pytest.mark.slow
def test_on_its_own_a_daemon_sends_neither(
    tmp_path: Path, recorder: Recorder, daemons: Callable[..., DaemonProcess]
) -> None:
    headers = '{ Accept = "text/plain" }'
    path = write_config(tmp_path, config_text(f"{recorder.url}/a", cluster=False, headers=headers))
    daemon = daemons(path)
    sent = recorder.headers_of("/a", 20)
    assert sent.getall("Accept") == ["text/plain"], daemon.log
    assert "X-Monitor-Node" not in sent
    assert "X-Monitor-Location" not in sent
