"""The HTTP probe's own exchange (monitor/probes/wire.py) against raw loopback servers that send
exactly the bytes a test names: how bodies are framed and coded, what the request looks like,
how redirects change the method, and what a peer breaking off mid-way gives."""

from __future__ import annotations

import asyncio
import gzip
import socket
import ssl
import struct
import zlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest
import trustme
import uvloop
from aiohttp import web

from monitor.model import ErrorKind, HttpCheck, Outcome, ProbeResult, TcpCheck
from monitor.probes import ProbeContext, run_probe
from tests.probe_servers import http_server, server_tls, tcp_server

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Coroutine[Any, Any, None]]


@pytest.fixture
async def ctx() -> AsyncIterator[ProbeContext]:
    async with ProbeContext() as context:
        yield context


async def probe(ctx: ProbeContext, url: str, **options: Any) -> ProbeResult:
    options.setdefault("timeout", 2.0)
    return await run_probe(HttpCheck(name="t", url=url, **options), ctx)


def answer(raw: bytes, *, then_close: bool = True, requests: list[bytes] | None = None) -> Handler:
    """A server that reads the request head (kept in `requests`), sends `raw` and hangs up."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        if requests is not None:
            requests.append(head)
        writer.write(raw)
        await writer.drain()
        if then_close:
            writer.close()
        else:
            await reader.read()

    return handler


def chunked(*parts: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"


@pytest.mark.parametrize(
    ("raw", "outcome"),
    [
        # chunked, the text split across two chunks
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(b"all go", b"od"),
            Outcome.OK,
        ),
        # no length, not chunked: the body runs until the server closes
        (b"HTTP/1.1 200 OK\r\n\r\nall good, until the end", Outcome.OK),
        (b"HTTP/1.0 200 OK\r\n\r\nnothing here", Outcome.FAIL),
        # gzip and deflate (zlib-wrapped and raw) are undone before looking
        (
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s"
            % (len(gzip.compress(b"all good")), gzip.compress(b"all good")),
            Outcome.OK,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\n\r\n" + zlib.compress(b"all good"),
            Outcome.OK,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\n\r\n"
            + zlib.compressobj(wbits=-15).compress(b"all good")
            + zlib.compressobj(wbits=-15).flush(),
            Outcome.FAIL,  # a raw stream cut after its first object's flush: nothing decodes
        ),
    ],
)
async def test_the_body_is_read_however_it_is_framed_and_coded(
    ctx: ProbeContext, raw: bytes, outcome: Outcome
) -> None:
    async with tcp_server(answer(raw)) as port:
        result = await probe(ctx, f"http://127.0.0.1:{port}/", expect_body="good")
    assert result.outcome is outcome, result.error
    assert result.status_code == 200


async def test_raw_deflate_is_undone() -> None:
    deflate = zlib.compressobj(wbits=-15)
    body = deflate.compress(b"all good") + deflate.flush()
    raw = b"HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\n\r\n" + body
    async with ProbeContext() as ctx, tcp_server(answer(raw)) as port:
        result = await probe(ctx, f"http://127.0.0.1:{port}/", expect_body="good")
    assert result.outcome is Outcome.OK, result.error


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nall g",  # a chunk cut off
        b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nall",  # shorter than it said
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",  # not a chunk size
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\nthis is no gzip at all",
    ],
)
async def test_a_body_that_breaks_off_or_does_not_decode_is_a_protocol_error(
    ctx: ProbeContext, raw: bytes
) -> None:
    async with tcp_server(answer(raw)) as port:
        result = await probe(ctx, f"http://127.0.0.1:{port}/", expect_body="good")
    assert (result.error_kind, result.status_code) == (ErrorKind.PROTOCOL, 200)
    assert result.error == "malformed or truncated response body"


@pytest.mark.parametrize(
    ("raw", "kind", "error"),
    [
        (b"", ErrorKind.RESET, "server closed the connection without a full response"),
        (b"HTTP/1.1 200 OK\r\nContent-", ErrorKind.RESET, None),  # closed inside the head
        (b"HTTP/1.1 2x0 OK\r\n\r\n", ErrorKind.PROTOCOL, None),
        (b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n", ErrorKind.PROTOCOL, None),
    ],
)
async def test_a_head_that_is_cut_or_malformed_fails(
    ctx: ProbeContext, raw: bytes, kind: ErrorKind, error: str | None
) -> None:
    async with tcp_server(answer(raw)) as port:
        result = await probe(ctx, f"http://127.0.0.1:{port}/")
    assert result.error_kind is kind
    if error is not None:
        assert result.error == error
    if kind is ErrorKind.PROTOCOL:
        assert result.error is not None and result.error.startswith("malformed response: ")


async def test_a_reset_before_the_answer_is_a_reset(ctx: ProbeContext) -> None:
    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    async with tcp_server(reset) as port:
        result = await probe(ctx, f"http://127.0.0.1:{port}/")
    assert (result.error_kind, result.error) == (ErrorKind.RESET, "connection reset by peer")


async def test_head_ignores_the_length_it_is_told(ctx: ProbeContext) -> None:
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
    async with tcp_server(answer(raw, then_close=False)) as port:
        result = await probe(ctx, f"http://127.0.0.1:{port}/", method="HEAD")
    assert (result.outcome, result.status_code) == (Outcome.OK, 200)


async def test_the_request_says_what_a_client_should(ctx: ProbeContext) -> None:
    requests: list[bytes] = []
    async with tcp_server(answer(b"HTTP/1.1 204 No Content\r\n\r\n", requests=requests)) as port:
        result = await probe(
            ctx, f"http://al%20ice:p%C3%A4ss@127.0.0.1:{port}/a%20b?x=1&y=%C3%A4#frag"
        )
        assert result.outcome is Outcome.OK, result.error
        await probe(ctx, f"http://127.0.0.1:{port}/post", method="POST")
        await probe(ctx, f"http://127.0.0.1:{port}/", headers=(("Host", "api.example.test"),))
    first, post, host = (head.decode("latin-1").split("\r\n") for head in requests)
    assert first[0] == "GET /a%20b?x=1&y=%C3%A4 HTTP/1.1"
    assert f"Host: 127.0.0.1:{port}" in first
    assert "Connection: close" in first
    assert "Accept: */*" in first
    # Basic auth of the decoded credentials, Latin-1 as aiohttp and curl send them
    assert "Authorization: Basic YWwgaWNlOnDkc3M=" in first
    assert post[0] == "POST /post HTTP/1.1" and "Content-Length: 0" in post
    assert [line for line in host if line.lower().startswith("host:")] == ["Host: api.example.test"]


class Methods:
    """Redirects by status, recording the method and body each hop arrived with."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, bytes]] = []

    def app(self) -> web.Application:
        async def handle(request: web.Request) -> web.Response:
            self.seen.append((request.method, request.path, await request.read()))
            if request.path.startswith("/go/"):
                raise _redirect(int(request.path.split("/")[2]), "../landed")
            return web.Response(text="landed")

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        return app


def _redirect(status: int, location: str) -> web.HTTPException:
    error = web.HTTPException(headers={"Location": location})
    error.set_status(status)
    return error


@pytest.mark.parametrize(
    ("method", "status", "after"),
    [
        ("POST", 301, "GET"),
        ("POST", 302, "GET"),
        ("POST", 303, "GET"),
        ("PUT", 303, "GET"),
        ("HEAD", 303, "HEAD"),
        ("POST", 307, "POST"),
        ("POST", 308, "POST"),
        ("PUT", 302, "PUT"),
    ],
)
async def test_a_redirect_changes_the_method_as_browsers_do(
    ctx: ProbeContext, method: str, status: int, after: str
) -> None:
    methods = Methods()
    async with http_server(methods.app()) as port:
        result = await probe(ctx, f"http://127.0.0.1:{port}/go/{status}", method=method, body="b")
    assert result.outcome is Outcome.OK, result.error
    [(first, _, sent), (then, path, resent)] = methods.seen
    assert (first, then, path) == (method, after, "/landed")
    kept = after == method
    assert (sent, resent) == (b"b", b"b" if kept else b"")


@pytest.mark.parametrize(
    ("location", "error"),
    [
        ("ftp://127.0.0.1/file", "redirect to an invalid or non-HTTP URL"),
        ("http://", "redirect to an invalid or non-HTTP URL"),
        ("http://[::1/", "redirect to an invalid or non-HTTP URL"),
    ],
)
async def test_a_redirect_to_nowhere_http_is_a_protocol_error(
    ctx: ProbeContext, location: str, error: str
) -> None:
    raw = f"HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n".encode()
    async with tcp_server(answer(raw)) as port:
        result = await probe(ctx, f"http://127.0.0.1:{port}/")
    assert (result.error_kind, result.error) == (ErrorKind.PROTOCOL, error)


async def test_a_redirect_without_a_location_is_the_answer(ctx: ProbeContext) -> None:
    raw = b"HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n"
    async with tcp_server(answer(raw)) as port:
        result = await probe(ctx, f"http://127.0.0.1:{port}/")
    assert (result.outcome, result.status_code) == (Outcome.OK, 302)


async def test_one_lookup_serves_the_probes_that_ask_at_once(ctx: ProbeContext) -> None:
    answers = await asyncio.gather(*(ctx.resolve("localhost", 80) for _ in range(20)))
    assert all(found is answers[0] for found in answers)
    with pytest.raises(OSError):
        await ctx.resolve("nonexistent.invalid", 80)


# -- the same on uvloop -------------------------------------------------------------------------


async def _scenarios(tls: ssl.SSLContext) -> list[tuple[Any, ...]]:
    """A probe of each kind of answer and failure, as (outcome, kind, status, error, expiry)."""

    def app() -> web.Application:
        async def handle(request: web.Request) -> web.StreamResponse:
            if request.path == "/hop":
                raise _redirect(302, "/ok")
            if request.path == "/500":
                return web.Response(status=500)
            return web.Response(text="all good")

        application = web.Application()
        application.router.add_route("*", "/{tail:.*}", handle)
        return application

    cut = b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nall"
    zipped = gzip.compress(b"all good")
    gz = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s" % (
        len(zipped),
        zipped,
    )
    results: list[tuple[Any, ...]] = []
    async with (
        ProbeContext() as ctx,
        http_server(app()) as plain,
        http_server(app(), tls=tls) as secure,
        tcp_server(answer(cut)) as cut_port,
        tcp_server(answer(gz)) as gz_port,
        tcp_server(answer(b"")) as hang_up,
        tcp_server(_banner) as banner,
    ):
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        refused = closed.getsockname()[1]
        closed.close()
        for url, options in [
            (f"http://127.0.0.1:{plain}/ok", {"expect_body": "good"}),
            (f"http://127.0.0.1:{plain}/500", {}),
            (f"http://127.0.0.1:{plain}/hop", {"expect_body": "good"}),
            (f"http://127.0.0.1:{plain}/hop", {"max_redirects": 0}),
            (f"http://127.0.0.1:{refused}/", {}),
            ("http://nonexistent.invalid/", {}),
            (f"http://127.0.0.1:{hang_up}/", {}),
            (f"http://127.0.0.1:{cut_port}/", {"expect_body": "good"}),
            (f"http://127.0.0.1:{gz_port}/", {"expect_body": "good"}),
            (f"https://127.0.0.1:{secure}/ok", {}),  # a CA nobody trusts
            (f"https://127.0.0.1:{secure}/ok", {"tls_verify": False, "expect_body": "good"}),
            (f"https://127.0.0.1:{plain}/ok", {}),  # TLS to a plain port
        ]:
            result = await probe(ctx, url, **options)
            results.append(
                (result.outcome, result.error_kind, result.status_code, result.error,
                 result.cert_expiry)
            )  # fmt: skip
        for check in [
            TcpCheck(name="t", host="127.0.0.1", port=banner, expect="220", timeout=2.0),
            TcpCheck(name="t", host="localhost", port=banner, send="hi", timeout=2.0),
            TcpCheck(name="t", host="127.0.0.1", port=refused, timeout=2.0),
            TcpCheck(name="t", host="127.0.0.1", port=secure, tls=True, timeout=2.0),
            TcpCheck(name="t", host="127.0.0.1", port=secure, tls=True, tls_verify=False),
        ]:
            result = await run_probe(check, ctx)
            results.append(
                (result.outcome, result.error_kind, result.status_code, result.error,
                 result.cert_expiry is not None)
            )  # fmt: skip
    return results


async def _banner(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"220 mail ready\r\n")
    await writer.drain()
    await reader.read(100)


def test_uvloop_gives_the_same_results_as_asyncio() -> None:
    """The daemon and its workers run on uvloop (monitor/loops.py), `monitor check` and the
    tests above on asyncio's loop: the same probes give the same results on both."""
    tls = server_tls(trustme.CA().issue_cert("127.0.0.1"))
    on_asyncio = asyncio.run(_scenarios(tls))
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        on_uvloop = runner.run(_scenarios(tls))
    assert on_uvloop == on_asyncio
    outcomes = [outcome for outcome, *_ in on_asyncio]
    assert outcomes == [Outcome.OK, Outcome.FAIL, Outcome.OK, Outcome.FAIL, Outcome.FAIL,
                        Outcome.FAIL, Outcome.FAIL, Outcome.FAIL, Outcome.OK, Outcome.FAIL,
                        Outcome.OK, Outcome.FAIL,
                        Outcome.OK, Outcome.OK, Outcome.FAIL, Outcome.FAIL, Outcome.OK]  # fmt: skip
    kinds = [kind for _, kind, *_ in on_asyncio]
    assert kinds[4:8] == [ErrorKind.REFUSED, ErrorKind.DNS, ErrorKind.RESET, ErrorKind.PROTOCOL]
    assert (kinds[9], kinds[11]) == (ErrorKind.TLS, ErrorKind.TLS)
    assert on_asyncio[10][4] is not None  # the certificate's expiry, unverified
    assert (kinds[14], kinds[15]) == (ErrorKind.REFUSED, ErrorKind.TLS)
    assert on_asyncio[16][4] is True  # a TCP check's certificate expiry too
