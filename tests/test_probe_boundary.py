"""A check whose request cannot even be built is a failed probe of kind `config`, never an
exception: through `run_probe`, `monitor check` and the daemon.

Validation refuses such checks at load (tests/test_config.py), so these tests build the model
directly, past it, as a check the validation does not know about yet would arrive.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import signal
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import ClassVar

import pytest
from aiohttp import web
from click.testing import CliRunner

from monitor.cli import main
from monitor.config import load_config
from monitor.model import ERROR_KINDS, Check, Config, ErrorKind, HttpCheck, Outcome, TcpCheck
from monitor.probes import PROBES, ProbeContext, run_probe
from monitor.store import ERROR_KIND_CODE, Store, register_checks
from monitor.writer import Writer
from tests.probe_servers import http_server, tcp_server

from .conftest import Target, free_port, wait_for, write_config

SECRET = "s3cr3t-token"


@pytest.fixture
async def ctx() -> AsyncIterator[ProbeContext]:
    async with ProbeContext() as context:
        yield context


@pytest.fixture
async def server() -> AsyncIterator[tuple[int, list[str]]]:
    """A real HTTP server on loopback, and the paths it was asked for."""
    seen: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(request.path)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    async with http_server(app) as port:
        yield port, seen


@pytest.mark.parametrize(
    ("url", "headers", "error"),
    [
        (
            "http://127.0.0.1:{port}/a",
            (("X-Token", f"{SECRET}\x00"),),
            "cannot build the request: header X-Token holds a control character (U+0000); "
            "fix headers",
        ),
        (
            "http://127.0.0.1:{port}/b",
            (("X-Token\x7f", SECRET),),
            'cannot build the request: header "X-Token\\u007f" holds a control character '
            "(U+007F); fix headers",
        ),
        (
            f"http://monitor:{SECRET}@127.0.0.1:{{port}}/c",
            (("Authorization", f"Bearer {SECRET}"),),
            "cannot build the request: url has credentials (user:password@) and headers set "
            "Authorization; keep one of them",
        ),
        (
            f"http://%E7%94%A8:{SECRET}@127.0.0.1:{{port}}/d",
            (),
            "cannot build the request: the credentials in url cannot be sent as HTTP Basic "
            'auth (Latin-1 text, no ":" in the user name); set an Authorization header instead',
        ),
        (
            "http://api..localhost:{port}/e",
            (),
            'cannot build the request: host "api..localhost" cannot be encoded for DNS '
            "(label empty or too long); fix url",
        ),
        (
            "http://a\u200bb.localhost:{port}/f",
            (),
            'cannot build the request: host "a\\u200bb.localhost" is not a valid host name; '
            "fix url",
        ),
    ],
)
async def test_an_http_request_that_cannot_be_built_fails_as_config(
    ctx: ProbeContext,
    server: tuple[int, list[str]],
    url: str,
    headers: tuple[tuple[str, str], ...],
    error: str,
) -> None:
    port, seen = server
    check = HttpCheck(name="x", url=url.format(port=port), headers=headers, timeout=5)
    result = await run_probe(check, ctx)
    assert (result.outcome, result.error_kind, result.error) == (
        Outcome.FAIL,
        ErrorKind.CONFIG,
        error,
    )
    assert SECRET not in (result.error or "")
    assert seen == []


async def test_a_url_aiohttp_refuses_fails_as_config(ctx: ProbeContext) -> None:
    result = await run_probe(HttpCheck(name="x", url="http://127.0.0.1:99999/", timeout=5), ctx)
    assert (result.outcome, result.error_kind, result.error) == (
        Outcome.FAIL,
        ErrorKind.CONFIG,
        "cannot build the request: url is not a valid URL; fix url",
    )


async def test_a_redirect_to_a_host_that_cannot_be_looked_up_is_the_target_s_fault(
    ctx: ProbeContext, caplog: pytest.LogCaptureFixture
) -> None:
    async def away(request: web.Request) -> web.Response:
        raise web.HTTPFound("http://api..localhost/")

    app = web.Application()
    app.router.add_get("/", away)
    async with http_server(app) as port:
        check = HttpCheck(name="x", url=f"http://127.0.0.1:{port}/", timeout=5)
        result = await run_probe(check, ctx)
    assert (result.outcome, result.error_kind, result.error) == (
        Outcome.FAIL,
        ErrorKind.PROTOCOL,
        "redirect to a host that cannot be looked up",
    )
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], "not a bug of ours"


@pytest.mark.parametrize(
    ("host", "error"),
    [
        ("db\x00.localhost", 'host "db\\u0000.localhost" is not a valid host name; fix host'),
        (
            "db..localhost",
            'host "db..localhost" cannot be encoded for DNS (label empty or too long); fix host',
        ),
    ],
)
async def test_a_tcp_connection_that_cannot_be_made_fails_as_config(
    ctx: ProbeContext, host: str, error: str
) -> None:
    check = TcpCheck(name="x", host=host, port=5432, timeout=5)
    result = await run_probe(check, ctx)
    assert (result.outcome, result.error_kind, result.error) == (
        Outcome.FAIL,
        ErrorKind.CONFIG,
        f"cannot connect: {error}",
    )


@dataclasses.dataclass(frozen=True, kw_only=True)
class BrokenCheck(Check):
    type: ClassVar[str] = "broken"


async def broken_probe(check: Check, ctx: ProbeContext) -> None:
    empty: dict[str, int] = {}
    empty[check.name]  # a bug of ours: a KeyError


async def test_a_bug_in_a_probe_fails_the_probe_and_is_logged_once(
    ctx: ProbeContext, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(PROBES, "broken", broken_probe)
    caplog.set_level(logging.ERROR)
    results = [await run_probe(BrokenCheck(name=f"c{i}"), ctx) for i in range(3)]
    for result in results:
        assert (result.outcome, result.error_kind) == (Outcome.FAIL, ErrorKind.CONFIG)
        assert result.error == (
            "cannot probe: KeyError inside the monitor, a bug; its traceback is in the log"
        )
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1, "a bug is logged once, not every interval"
    record = errors[0]  # the daemon's Redactor, if a test installed it, turns exc_info to text
    trace = record.exc_text or logging.Formatter().formatException(record.exc_info)  # type: ignore[arg-type]
    assert "Traceback" in trace and "in broken_probe" in trace and "KeyError" in trace
    assert "broken" in errors[0].getMessage()


async def test_cancelling_a_probe_still_cancels_it(ctx: ProbeContext) -> None:
    entered = asyncio.Event()

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()  # the probe is connected and waits for an answer
        entered.set()
        await reader.read()

    async with tcp_server(hang) as port:
        check = TcpCheck(
            name="x", host="127.0.0.1", port=port, send="PING\r\n", expect="never", timeout=30
        )
        task = asyncio.create_task(run_probe(check, ctx))
        await asyncio.wait_for(entered.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def test_error_kind_codes_are_a_storage_format(tmp_path: Path) -> None:
    """The codes already on disk never change; `config` is appended, and reads back."""
    assert [ERROR_KIND_CODE[kind] for kind in ErrorKind] == list(range(len(ErrorKind)))
    assert {kind.value: ERROR_KIND_CODE[kind] for kind in ErrorKind} == {
        "timeout": 0,
        "refused": 1,
        "dns": 2,
        "tls": 3,
        "status": 4,
        "body": 5,
        "reset": 6,
        "protocol": 7,
        "config": 8,
    }
    assert all(ERROR_KINDS[code] is kind for kind, code in ERROR_KIND_CODE.items())
    path = tmp_path / "m.db"
    writer = Writer(path, flush_interval=0.05)
    writer.start()
    config = write_config(tmp_path, CONFIG.format(url="http://h/", listen=""))
    components = load_config(config).components
    ids = writer.call(lambda db: register_checks(db, components)).result(5)
    code = ERROR_KIND_CODE[ErrorKind.CONFIG]
    writer.submit((1_700_000_000_000, ids["api/bad"], 2, 10, None, code, "cannot build"))
    writer.stop()
    store = Store.open(path)
    try:
        (stored,) = store.results(since_ms=0)
        assert (stored.error_kind, stored.error) == (ErrorKind.CONFIG, "cannot build")
    finally:
        store.close()


CONFIG = """
[monitor]
database = "monitor.db"
listen = "{listen}"

[[component]]
id = "api"
name = "API"

  [[component.check]]
  type = "http"
  name = "bad"
  url = "{url}"
  interval = "1s"
  timeout = "1s"
  fail_after = 2
"""


def unvalidated(config_path: Path) -> Callable[[str | None], Config]:
    """`load` for the CLI: the file's config with its one check given a header past validation."""

    def load(_: str | None) -> Config:
        config = load_config(config_path)
        (component,) = config.components
        (check,) = component.checks
        assert isinstance(check, HttpCheck)
        bad = dataclasses.replace(check, headers=(("X-Token", f"{SECRET}\x00"),))
        return dataclasses.replace(
            config, components=(dataclasses.replace(component, checks=(bad,)),)
        )

    return load


async def test_monitor_check_shows_the_failed_probe_and_exits_1(
    tmp_path: Path, server: tuple[int, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, seen = server
    path = write_config(tmp_path, CONFIG.format(url=f"http://127.0.0.1:{port}/", listen=""))
    monkeypatch.setattr("monitor.cli.run.load", unvalidated(path))
    result = await asyncio.to_thread(CliRunner().invoke, main, ["check", "--json"])
    assert result.exit_code == 1, result.output
    document = json.loads(result.output)
    (check,) = document["components"][0]["checks"]
    assert (document["ok"], check["outcome"], check["error_kind"]) == (False, "fail", "config")
    assert check["error"].startswith("cannot build the request: header X-Token")
    assert SECRET not in result.output and seen == []
    assert isinstance(result.exception, SystemExit), "exits, never crashes"
    table = await asyncio.to_thread(CliRunner().invoke, main, ["check"])
    assert table.exit_code == 1 and isinstance(table.exception, SystemExit)
    assert "fail" in table.output and "config:" in table.output


# The daemon, its config loaded from the file, then one check given a header past validation.
DRIVER = """
import asyncio, dataclasses, signal, sys
from pathlib import Path
from monitor import logs
from monitor.config import load_config
from monitor.daemon import Daemon

config = load_config(Path(sys.argv[1]))
(component,) = config.components
(check,) = component.checks
bad = dataclasses.replace(check, headers=(("X-Token", sys.argv[2] + "\\x00"),))
config = dataclasses.replace(config, components=(dataclasses.replace(component, checks=(bad,)),))
logs.setup("info", "text", logs.Redactor())

async def main():
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await Daemon(config).run(stop)

asyncio.run(main())
"""


@pytest.mark.slow
def test_the_daemon_reports_a_check_that_cannot_be_built_as_down(
    tmp_path: Path, target: Target
) -> None:
    listen = f"127.0.0.1:{free_port()}"
    path = write_config(tmp_path, CONFIG.format(url=f"{target.url}/healthz", listen=listen))
    log_path = tmp_path / "daemon.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", DRIVER, str(path), SECRET], stdout=log, stderr=subprocess.STDOUT
        )
    try:

        def get(route: str) -> str:
            with urllib.request.urlopen(f"http://{listen}{route}", timeout=5) as response:
                return str(response.read().decode())

        def scraped(route: str) -> str:
            try:
                return get(route)
            except OSError:
                return ""

        up = 'monitor_check_up{check="bad",component="api"}'
        wait_for(lambda: f"{up} 0.0" in scraped("/metrics"), 30, "the check to go down")
        (component,) = json.loads(get("/status.json"))["components"]
        assert component["status"] != "operational"
        assert [c["state"] for c in component["checks"]] == ["down"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        text = log_path.read_text(errors="replace")
        assert "Traceback" not in text and SECRET not in text
        assert target.count() == 0, "the request never left"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
