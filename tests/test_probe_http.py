"""The HTTP probe against real aiohttp servers on loopback, with trustme certificates."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import ssl
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

import pytest
import trustme
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from monitor.model import ErrorKind, HttpCheck, Outcome, ProbeResult, StatusRange
from monitor.probes import PROBES, ProbeContext, run_probe
from monitor.probes.http import contains
from monitor.probes.tls import not_after
from tests.probe_servers import (
    closed_port,
    expired_cert,
    expiry_of,
    http_server,
    self_signed_tls,
    server_tls,
    silent,
    tcp_server,
)

CHUNK = 64 << 10
BIG = 50 << 20


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def ctx() -> AsyncIterator[ProbeContext]:
    async with ProbeContext() as context:
        yield context


class Recorder:
    """What the test server saw; `done` is set when a streaming handler has finished."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.sent = 0
        self.done = asyncio.Event()


def make_app(seen: Recorder) -> web.Application:
    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="all good")

    async def status(request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]), text="whatever")

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query["delay"]))
        return web.Response(text="ok")

    async def redirect(request: web.Request) -> web.Response:
        hops = int(request.match_info["hops"])
        if hops == 0:
            return web.Response(text="landed")
        raise web.HTTPFound(f"/redirect/{hops - 1}")

    async def echo(request: web.Request) -> web.Response:
        seen.requests.append((request.method, dict(request.headers), await request.read()))
        return web.Response(text="echoed")

    async def stream(request: web.Request) -> web.StreamResponse:
        """`size` bytes of filler, with `needle` at offset `at` when asked for."""
        size = int(request.query["size"])
        needle = request.query.get("needle", "").encode()
        at = int(request.query.get("at", -1))
        response = web.StreamResponse()
        response.content_length = size
        await response.prepare(request)
        filler = b"x" * CHUNK
        try:
            while seen.sent < size:
                chunk = filler[: size - seen.sent]
                if 0 <= at - seen.sent < len(chunk):
                    offset = at - seen.sent
                    chunk = chunk[:offset] + needle + chunk[offset + len(needle) :]
                await response.write(chunk)
                seen.sent += len(chunk)
        finally:
            seen.done.set()
        return response

    async def drip(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        while True:
            await response.write(b".")
            await asyncio.sleep(0.05)

    app = web.Application()
    app.router.add_get("/ok", ok)
    app.router.add_get("/status/{code}", status)
    app.router.add_get("/slow", slow)
    app.router.add_get("/redirect/{hops}", redirect)
    app.router.add_route("*", "/echo", echo)
    app.router.add_get("/stream", stream)
    app.router.add_get("/drip", drip)
    return app


@pytest.fixture
def seen() -> Recorder:
    return Recorder()


@pytest.fixture
async def base(seen: Recorder) -> AsyncIterator[str]:
    async with http_server(make_app(seen)) as port:
        yield f"http://127.0.0.1:{port}"


async def probe(ctx: ProbeContext, url: str, **options: Any) -> ProbeResult:
    options.setdefault("timeout", 2.0)
    return await run_probe(HttpCheck(name="t", url=url, **options), ctx)


# -- status and body ---------------------------------------------------------------------------


async def test_a_healthy_endpoint_is_ok(ctx: ProbeContext, base: str) -> None:
    result = await probe(ctx, f"{base}/ok")
    assert result.outcome is Outcome.OK
    assert result.status_code == 200
    assert result.error_kind is None and result.error is None
    assert 0 < result.latency < 1
    assert result.cert_expiry is None


async def test_an_unexpected_status_fails(ctx: ProbeContext, base: str) -> None:
    result = await probe(ctx, f"{base}/status/500", expect_status=(StatusRange(200, 299),))
    assert result.outcome is Outcome.FAIL
    assert result.error_kind is ErrorKind.STATUS
    assert result.error == "status 500, expected 2xx"
    assert result.status_code == 500


async def test_expect_status_accepts_what_it_lists(ctx: ProbeContext, base: str) -> None:
    accepted = (StatusRange(200, 200), StatusRange(404, 404))
    assert (await probe(ctx, f"{base}/status/404", expect_status=accepted)).outcome is Outcome.OK
    result = await probe(ctx, f"{base}/status/201", expect_status=accepted)
    assert result.error == "status 201, expected 200, 404"


async def test_a_body_without_the_expected_text_fails(ctx: ProbeContext, base: str) -> None:
    result = await probe(ctx, f"{base}/ok", expect_body="healthy")
    assert result.outcome is Outcome.FAIL
    assert result.error_kind is ErrorKind.BODY
    assert result.error == 'body does not contain "healthy" (read 8 B)'
    assert result.status_code == 200


async def test_a_body_with_the_expected_text_is_ok(ctx: ProbeContext, base: str) -> None:
    assert (await probe(ctx, f"{base}/ok", expect_body="good")).outcome is Outcome.OK


async def test_status_is_judged_before_the_body(ctx: ProbeContext, base: str) -> None:
    result = await probe(ctx, f"{base}/status/503", expect_body="whatever")
    assert result.error_kind is ErrorKind.STATUS


async def test_method_headers_and_body_reach_the_server(
    ctx: ProbeContext, base: str, seen: Recorder
) -> None:
    result = await probe(
        ctx,
        f"{base}/echo",
        method="PUT",
        headers=(("X-Probe", "yes"), ("Content-Type", "application/json")),
        body='{"ping": "\u00e9"}',
    )
    assert result.outcome is Outcome.OK
    [(method, headers, body)] = seen.requests
    assert method == "PUT"
    assert headers["X-Probe"] == "yes"
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"].startswith("monitor/")
    assert body == '{"ping": "\u00e9"}'.encode()


async def test_probes_do_not_share_cookies(ctx: ProbeContext, seen: Recorder) -> None:
    async def set_cookie(request: web.Request) -> web.Response:
        seen.requests.append((request.method, dict(request.headers), b""))
        response = web.Response(text="ok")
        response.set_cookie("session", "abc")
        return response

    app = web.Application()
    app.router.add_get("/", set_cookie)
    async with http_server(app) as port:
        await probe(ctx, f"http://127.0.0.1:{port}/")
        await probe(ctx, f"http://127.0.0.1:{port}/")
    assert [("Cookie" in headers) for _, headers, _ in seen.requests] == [False, False]


# -- latency and deadlines ---------------------------------------------------------------------


async def test_a_good_but_slow_response_is_slow(ctx: ProbeContext, base: str) -> None:
    result = await probe(ctx, f"{base}/slow?delay=0.2", degraded_over=0.1)
    assert result.outcome is Outcome.SLOW
    assert result.latency >= 0.2
    assert result.error is None


async def test_a_response_within_degraded_over_is_ok(ctx: ProbeContext, base: str) -> None:
    assert (await probe(ctx, f"{base}/slow?delay=0", degraded_over=1.0)).outcome is Outcome.OK


async def test_a_slow_failure_stays_a_failure(ctx: ProbeContext, base: str) -> None:
    result = await probe(ctx, f"{base}/status/500", degraded_over=0.0)
    assert result.outcome is Outcome.FAIL


async def test_latency_is_the_targets_delay_within_a_few_ms(ctx: ProbeContext, base: str) -> None:
    result = await probe(ctx, f"{base}/slow?delay=0.2")
    assert result.outcome is Outcome.OK
    assert 0.2 <= result.latency < 0.2 + 0.02


def answer_then(
    first: bytes, then: bytes = b"", *, pause: float = 0.0
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Coroutine[Any, Any, None]]:
    """A server that reads the request, sends `first`, and `pause` seconds later `then`."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(first)
        await writer.drain()
        if then:
            await asyncio.sleep(pause)
            writer.write(then)
            await writer.drain()

    return handler


OK_HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\n"


async def test_a_stalled_event_loop_after_the_response_arrived_is_not_latency(
    ctx: ProbeContext,
) -> None:
    """The response arrives, the protocol sees it, and then the loop is blocked for 200 ms
    before the probe's coroutine gets its turn: the latency is when the response came."""
    loop = asyncio.get_running_loop()

    async def answer_and_stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(OK_HEAD + b"all good")  # on loopback, readable before write returns
        # Next turn of the loop: the client's socket is readable, its data_received runs after
        # this callback and wakes the probe with call_soon, which queues behind the stall.
        loop.call_soon(loop.call_soon, time.sleep, 0.2)
        await writer.drain()

    async with tcp_server(answer_and_stall) as port:
        began = time.perf_counter()
        result = await probe(ctx, f"http://127.0.0.1:{port}/")
        elapsed = time.perf_counter() - began
    assert result.outcome is Outcome.OK
    assert elapsed >= 0.2  # the loop was stalled while the probe waited for its turn
    assert result.latency < 0.05


async def test_latency_ends_at_the_final_response_not_an_early_hint(ctx: ProbeContext) -> None:
    hint = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
    async with tcp_server(answer_then(hint, OK_HEAD + b"all good", pause=0.2)) as port:
        result = await probe(ctx, f"http://127.0.0.1:{port}/")
    assert (result.outcome, result.status_code) == (Outcome.OK, 200)
    assert 0.2 <= result.latency < 0.2 + 0.02


async def test_latency_with_expect_body_ends_at_the_body_read(ctx: ProbeContext) -> None:
    async with tcp_server(answer_then(OK_HEAD, b"all good", pause=0.2)) as port:
        url = f"http://127.0.0.1:{port}/"
        without = await probe(ctx, url)
        with_body = await probe(ctx, url, expect_body="good")
    assert (without.outcome, with_body.outcome) == (Outcome.OK, Outcome.OK)
    assert without.latency < 0.05
    assert 0.2 <= with_body.latency < 0.2 + 0.02


async def assert_times_out(check: Callable[[], Awaitable[ProbeResult]], seconds: float) -> None:
    start = time.perf_counter()
    result = await check()
    elapsed = time.perf_counter() - start
    assert result.outcome is Outcome.FAIL
    assert result.error_kind is ErrorKind.TIMEOUT
    assert result.error == f"timeout after {seconds} s"
    assert seconds <= elapsed <= seconds * 1.1 + 0.05
    assert seconds <= result.latency <= elapsed


async def test_a_server_that_never_answers_times_out_on_time(ctx: ProbeContext) -> None:
    async with tcp_server(silent) as port:
        await assert_times_out(lambda: probe(ctx, f"http://127.0.0.1:{port}/", timeout=0.5), 0.5)


async def test_the_deadline_covers_reading_the_body(ctx: ProbeContext, base: str) -> None:
    await assert_times_out(lambda: probe(ctx, f"{base}/drip", expect_body="!", timeout=0.3), 0.3)


# -- connection failures -----------------------------------------------------------------------


async def test_a_closed_port_is_refused(ctx: ProbeContext) -> None:
    result = await probe(ctx, f"http://127.0.0.1:{closed_port()}/")
    assert (result.outcome, result.error_kind) == (Outcome.FAIL, ErrorKind.REFUSED)
    assert result.error == "connection refused"


async def test_a_name_that_does_not_resolve_is_a_dns_failure(ctx: ProbeContext) -> None:
    result = await probe(ctx, "http://nonexistent.invalid/")
    assert (result.outcome, result.error_kind) == (Outcome.FAIL, ErrorKind.DNS)
    assert result.error == 'cannot resolve host "nonexistent.invalid"'


async def test_a_peer_that_hangs_up_is_a_reset(ctx: ProbeContext) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")

    async with tcp_server(hang_up) as port:
        result = await probe(ctx, f"http://127.0.0.1:{port}/")
    assert result.error_kind is ErrorKind.RESET


async def test_a_peer_that_speaks_no_http_is_a_protocol_error(ctx: ProbeContext) -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        await writer.drain()
        await reader.read()

    async with tcp_server(garbage) as port:
        result = await probe(ctx, f"http://127.0.0.1:{port}/")
    assert result.error_kind is ErrorKind.PROTOCOL
    assert result.error is not None and result.error.startswith("malformed response")


async def test_a_truncated_body_is_a_protocol_error(ctx: ProbeContext) -> None:
    async def short(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this")
        await writer.drain()

    async with tcp_server(short) as port:
        result = await probe(ctx, f"http://127.0.0.1:{port}/", expect_body="ok")
    assert (result.error_kind, result.status_code) == (ErrorKind.PROTOCOL, 200)


async def test_secrets_never_reach_the_message(ctx: ProbeContext, base: str) -> None:
    secret_headers = (("Authorization", "Bearer TOPSECRET"),)
    results = [
        await probe(ctx, f"http://alice:TOPSECRET@127.0.0.1:{closed_port()}/"),
        await probe(ctx, "http://alice:TOPSECRET@nonexistent.invalid/"),
        await probe(ctx, "https://alice:TOPSECRET@exa mple.com/"),
        await probe(ctx, f"{base}/status/500", headers=secret_headers),
        await probe(ctx, f"{base}/ok", headers=secret_headers, expect_body="TOPSECRET"[::-1]),
    ]
    assert all(r.outcome is Outcome.FAIL and r.error for r in results)
    assert not [r.error for r in results if "TOPSECRET" in (r.error or "")]


# -- redirects ---------------------------------------------------------------------------------


async def test_a_redirect_chain_is_followed(ctx: ProbeContext, base: str) -> None:
    result = await probe(ctx, f"{base}/redirect/3", max_redirects=3, expect_body="landed")
    assert (result.outcome, result.status_code) == (Outcome.OK, 200)


async def test_a_redirect_not_followed_is_judged_by_its_status(
    ctx: ProbeContext, base: str
) -> None:
    result = await probe(ctx, f"{base}/redirect/3", follow_redirects=False)
    assert (result.outcome, result.status_code) == (Outcome.OK, 302)
    only_200 = (StatusRange(200, 200),)
    result = await probe(ctx, f"{base}/redirect/3", follow_redirects=False, expect_status=only_200)
    assert (result.error_kind, result.error) == (ErrorKind.STATUS, "status 302, expected 200")


async def test_a_redirect_chain_too_long_is_a_protocol_error(ctx: ProbeContext, base: str) -> None:
    result = await probe(ctx, f"{base}/redirect/3", max_redirects=2)
    assert (result.error_kind, result.error) == (ErrorKind.PROTOCOL, "more than 2 redirects")
    result = await probe(ctx, f"{base}/redirect/1", max_redirects=0)
    assert (result.error_kind, result.error) == (ErrorKind.PROTOCOL, "more than 0 redirects")


class Hops:
    """Two real servers on loopback ports of their own, so of two origins: `first` redirects as
    its path says (/to-second/PATH, /to-first/PATH) and both record the headers of every
    request, by server and path."""

    def __init__(self) -> None:
        self.ports: dict[str, int] = {}
        self.headers: dict[tuple[str, str], dict[str, str]] = {}

    def app(self, name: str) -> web.Application:
        async def handle(request: web.Request) -> web.Response:
            self.headers[(name, request.path)] = dict(request.headers)
            where, _, rest = request.path[1:].partition("/")
            if where in ("to-first", "to-second"):
                raise web.HTTPFound(f"http://127.0.0.1:{self.ports[where[3:]]}/{rest}")
            if where == "here":
                raise web.HTTPFound(f"/{rest}")
            return web.Response(text="landed")

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        return app

    def url(self, name: str, path: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}{path}"


@pytest.fixture
async def hops() -> AsyncIterator[Hops]:
    hops = Hops()
    async with http_server(hops.app("first")) as first, http_server(hops.app("second")) as second:
        hops.ports.update(first=first, second=second)
        yield hops


SECRET_HEADERS = (
    ("X-Api-Key", "key-SECRET"),
    ("Authorization", "Bearer bearer-SECRET"),
    ("Accept", "application/vnd.SECRET+json"),
    ("Host", "api.example.test"),
)


async def test_no_configured_header_follows_a_redirect_to_another_origin(
    ctx: ProbeContext, hops: Hops
) -> None:
    """aiohttp drops Authorization itself; a key in any other header went on to the host the
    redirect named. Now none of the check's headers does, as browsers and curl do with
    credentials; the first server got them all."""
    url = hops.url("first", "/to-second/landing")
    result = await probe(ctx, url, headers=SECRET_HEADERS, expect_body="landed")
    assert result.outcome is Outcome.OK, result.error
    sent = hops.headers[("first", "/to-second/landing")]
    assert {name: sent[name] for name, _ in SECRET_HEADERS} == dict(SECRET_HEADERS)
    got = hops.headers[("second", "/landing")]
    assert not [value for value in got.values() if "SECRET" in value], got
    assert "X-Api-Key" not in got and "Authorization" not in got
    assert got["Host"] == f"127.0.0.1:{hops.ports['second']}"  # its own, not the check's


async def test_url_credentials_do_not_follow_a_redirect_to_another_origin(
    ctx: ProbeContext, hops: Hops
) -> None:
    url = hops.url("first", "/to-second/landing").replace("//", "//user:pw-SECRET@")
    result = await probe(ctx, url, expect_body="landed")
    assert result.outcome is Outcome.OK, result.error
    assert "Authorization" in hops.headers[("first", "/to-second/landing")]
    assert "Authorization" not in hops.headers[("second", "/landing")]


async def test_headers_follow_a_redirect_within_the_origin_only_until_it_leaves(
    ctx: ProbeContext, hops: Hops
) -> None:
    """Same origin: kept. Back home after a hop elsewhere: still dropped, as aiohttp does with
    Authorization, since the way back was the other host's choice."""
    url = hops.url("first", "/here/to-second/to-first/home")
    result = await probe(ctx, url, headers=SECRET_HEADERS[:1], expect_body="landed")
    assert result.outcome is Outcome.OK, result.error
    assert hops.headers[("first", "/to-second/to-first/home")]["X-Api-Key"] == "key-SECRET"
    assert "X-Api-Key" not in hops.headers[("second", "/to-first/home")]
    assert "X-Api-Key" not in hops.headers[("first", "/home")]


# -- big bodies --------------------------------------------------------------------------------


async def test_a_huge_body_is_read_no_further_than_max_body(
    ctx: ProbeContext, base: str, seen: Recorder
) -> None:
    tracemalloc.start()
    try:
        start = time.perf_counter()
        result = await probe(ctx, f"{base}/stream?size={BIG}", expect_body="needle")
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    await asyncio.wait_for(seen.done.wait(), 5)
    assert (result.error_kind, result.error) == (
        ErrorKind.BODY,
        'body does not contain "needle" (read 1.0 MiB)',
    )
    assert elapsed < 1.0
    assert peak < 4 << 20, f"peak {peak / (1 << 20):.1f} MiB"
    # What the server got out before noticing: max_body plus socket buffers (~5 MiB), not 50.
    assert seen.sent < 16 << 20, f"sent {seen.sent / (1 << 20):.1f} MiB"


async def test_the_read_stops_as_soon_as_the_text_turns_up(
    ctx: ProbeContext, base: str, seen: Recorder
) -> None:
    url = f"{base}/stream?size={BIG}&needle=needle&at={5 << 20}"
    result = await probe(ctx, url, expect_body="needle", max_body=BIG)
    await asyncio.wait_for(seen.done.wait(), 5)
    assert result.outcome is Outcome.OK
    assert seen.sent < 16 << 20, f"sent {seen.sent / (1 << 20):.1f} MiB"


async def test_text_past_max_body_is_not_found(ctx: ProbeContext, base: str) -> None:
    url = f"{base}/stream?size={3 << 20}&needle=needle&at={2 << 20}"
    result = await probe(ctx, url, expect_body="needle", max_body=2 << 20)
    assert result.error == 'body does not contain "needle" (read 2.0 MiB)'


def run_now(coroutine: Coroutine[Any, Any, tuple[bool, int]]) -> tuple[bool, int]:
    """Runs a coroutine that never really waits, without an event loop."""
    try:
        coroutine.send(None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    raise AssertionError("the coroutine waited")


@given(
    before=st.binary(max_size=40),
    needle=st.binary(min_size=1, max_size=6),
    after=st.binary(max_size=40),
    present=st.booleans(),
    cuts=st.lists(st.integers(0, 100), max_size=12),
    limit=st.integers(0, 100),
)
def test_contains_finds_text_across_chunk_boundaries(
    before: bytes, needle: bytes, after: bytes, present: bool, cuts: list[int], limit: int
) -> None:
    body = before + (needle if present else b"") + after
    edges = sorted({0, len(body), *(c for c in cuts if c < len(body))})
    chunks = [body[a:b] for a, b in zip(edges, edges[1:], strict=False)]
    served = iter(chunks)

    async def read() -> bytes:
        return next(served, b"")

    found, seen = run_now(contains(read, needle, limit))
    # The model: the first chunk end at which the needle is within what may be read.
    expected = (False, min(len(body), limit))
    for end in edges[1:]:
        if needle in body[: min(end, limit)]:
            expected = (True, min(end, limit))
            break
    assert (found, seen) == expected


# -- TLS ---------------------------------------------------------------------------------------


def text_app(text: str) -> web.Application:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=text)

    app = web.Application()
    app.router.add_get("/", handler)
    return app


def trusting(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@pytest.fixture
async def tls_port(ca: trustme.CA) -> AsyncIterator[int]:
    async with http_server(text_app("secure"), tls=server_tls(ca.issue_cert("127.0.0.1"))) as port:
        yield port


YEAR_3000 = dt.datetime(3000, 1, 1, tzinfo=dt.UTC).timestamp()  # trustme's default notAfter


async def test_a_certificate_from_an_unknown_ca_fails(ctx: ProbeContext, tls_port: int) -> None:
    result = await probe(ctx, f"https://127.0.0.1:{tls_port}/")
    assert (result.outcome, result.error_kind) == (Outcome.FAIL, ErrorKind.TLS)
    assert result.error == "TLS: unable to get local issuer certificate"


async def test_without_verification_the_expiry_is_still_captured(
    ctx: ProbeContext, tls_port: int
) -> None:
    result = await probe(ctx, f"https://127.0.0.1:{tls_port}/", tls_verify=False)
    assert (result.outcome, result.status_code) == (Outcome.OK, 200)
    assert result.cert_expiry == YEAR_3000


async def test_a_private_ca_file_is_trusted(ca: trustme.CA, tls_port: int) -> None:
    with ca.cert_pem.tempfile() as ca_file:
        context = ProbeContext(ca_file=ca_file)
    async with context as ctx:
        result = await probe(ctx, f"https://127.0.0.1:{tls_port}/", expect_body="secure")
    assert (result.outcome, result.cert_expiry) == (Outcome.OK, YEAR_3000)


async def test_a_redirect_keeps_the_first_certificate(
    ctx: ProbeContext, ca: trustme.CA, base: str
) -> None:
    async def away(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"{base}/ok")

    app = web.Application()
    app.router.add_get("/", away)
    cert = ca.issue_cert("127.0.0.1", not_after=dt.datetime(2040, 6, 1, tzinfo=dt.UTC))
    async with http_server(app, tls=server_tls(cert)) as port:
        result = await probe(ctx, f"https://127.0.0.1:{port}/", tls_verify=False)
    assert (result.outcome, result.status_code) == (Outcome.OK, 200)
    assert result.cert_expiry == expiry_of(cert)


async def test_a_self_signed_certificate_fails(ctx: ProbeContext, ca: trustme.CA) -> None:
    async with http_server(text_app("hi"), tls=self_signed_tls(ca)) as port:
        result = await probe(ctx, f"https://127.0.0.1:{port}/")
        insecure = await probe(ctx, f"https://127.0.0.1:{port}/", tls_verify=False)
    assert result.error_kind is ErrorKind.TLS
    assert result.error in ("TLS: self-signed certificate", "TLS: self signed certificate")
    assert insecure.outcome is Outcome.OK
    assert insecure.cert_expiry == expiry_of(ca)


async def test_an_expired_certificate_fails_saying_so(ca: trustme.CA) -> None:
    async with (
        ProbeContext(ssl_context=trusting(ca)) as ctx,
        http_server(text_app("hi"), tls=server_tls(expired_cert(ca))) as port,
    ):
        result = await probe(ctx, f"https://127.0.0.1:{port}/")
        insecure = await probe(ctx, f"https://127.0.0.1:{port}/", tls_verify=False)
    assert (result.error_kind, result.error) == (ErrorKind.TLS, "TLS: certificate has expired")
    assert insecure.outcome is Outcome.OK
    assert insecure.cert_expiry == dt.datetime(2020, 1, 1, 12, 30, tzinfo=dt.UTC).timestamp()


async def test_plain_http_to_a_tls_port_fails(ctx: ProbeContext, tls_port: int) -> None:
    result = await probe(ctx, f"http://127.0.0.1:{tls_port}/")
    assert result.outcome is Outcome.FAIL
    assert result.error_kind in (ErrorKind.PROTOCOL, ErrorKind.RESET)


async def test_https_to_a_plain_port_is_a_tls_failure(ctx: ProbeContext, base: str) -> None:
    result = await probe(ctx, base.replace("http:", "https:") + "/ok")
    assert result.error_kind is ErrorKind.TLS
    assert result.error is not None and result.error.startswith("TLS: ")


# -- certificate dates, and the context itself --------------------------------------------------


@pytest.mark.parametrize(
    "not_after_",
    [
        dt.datetime(2020, 1, 1, 12, 30, tzinfo=dt.UTC),  # UTCTime
        dt.datetime(1999, 12, 31, 23, 59, 59, tzinfo=dt.UTC),  # UTCTime, 19xx
        dt.datetime(2050, 1, 1, tzinfo=dt.UTC),  # GeneralizedTime from 2050 on
        dt.datetime(3000, 1, 1, tzinfo=dt.UTC),
    ],
)
def test_not_after_agrees_with_cryptography(ca: trustme.CA, not_after_: dt.datetime) -> None:
    cert = ca.issue_cert(
        "example.com", not_before=dt.datetime(1990, 1, 1, tzinfo=dt.UTC), not_after=not_after_
    )
    der = _der(cert)
    assert not_after(der) == expiry_of(cert) == not_after_.timestamp()


def _der(cert: trustme.LeafCert) -> bytes:
    return ssl.PEM_cert_to_DER_cert(cert.cert_chain_pems[0].bytes().decode())


REAL_DER = _der(trustme.CA().issue_cert("example.com"))


@given(cut=st.integers(0, len(REAL_DER)), at=st.integers(0, len(REAL_DER)), noise=st.binary())
def test_not_after_never_raises_on_garbage(cut: int, at: int, noise: bytes) -> None:
    spliced = REAL_DER[:at] + noise + REAL_DER[at + len(noise) :]
    for sample in (REAL_DER[:cut], noise, spliced):
        assert isinstance(not_after(sample), float | None)
    assert not_after(REAL_DER[:cut]) is None or cut == len(REAL_DER)


async def test_the_dns_cache_exists_only_inside_the_context() -> None:
    context = ProbeContext()
    with pytest.raises(RuntimeError):
        await context.resolve("localhost", 80)
    async with context:
        [(family, *_, address)] = await context.resolve("127.0.0.1", 80)
        assert (family, address) == (socket.AF_INET, ("127.0.0.1", 80))
        [(family, *_, address)] = await context.resolve("[::1]", 8080)
        assert (family, address) == (socket.AF_INET6, ("::1", 8080, 0, 0))
        first = await context.resolve("localhost", 80)
        assert first and {info[4][0] for info in first} <= {"127.0.0.1", "::1"}
        assert await context.resolve("localhost", 80) is first  # from the cache
    with pytest.raises(RuntimeError):
        await context.resolve("localhost", 80)
    assert set(PROBES) == {"http", "tcp"}
