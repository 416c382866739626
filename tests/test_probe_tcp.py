"""The TCP probe against real asyncio servers on loopback, with trustme certificates for TLS."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import ssl
import struct
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import trustme

from monitor.model import ErrorKind, Outcome, ProbeResult, TcpCheck
from monitor.probes import ProbeContext, run_probe
from monitor.probes.errors import describe_os_error
from tests.probe_servers import closed_port, expiry_of, server_tls, silent, tcp_server


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def ctx() -> AsyncIterator[ProbeContext]:
    async with ProbeContext() as context:
        yield context


async def probe(
    ctx: ProbeContext, port: int, host: str = "127.0.0.1", **options: Any
) -> ProbeResult:
    options.setdefault("timeout", 2.0)
    return await run_probe(TcpCheck(name="t", host=host, port=port, **options), ctx)


async def pong(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A tiny line protocol: answers PING with +PONG, anything else with -ERR."""
    line = await reader.readline()
    writer.write(b"+PONG\r\n" if line == b"PING\r\n" else b"-ERR unknown command\r\n")
    await writer.drain()
    await reader.read()


async def test_an_open_port_is_ok(ctx: ProbeContext) -> None:
    async with tcp_server(silent) as port:
        result = await probe(ctx, port)
    assert (result.outcome, result.error, result.cert_expiry) == (Outcome.OK, None, None)
    assert 0 < result.latency < 1


async def test_a_closed_port_is_refused(ctx: ProbeContext) -> None:
    result = await probe(ctx, closed_port())
    assert (result.outcome, result.error_kind) == (Outcome.FAIL, ErrorKind.REFUSED)
    assert result.error == "connection refused"


async def test_a_name_that_does_not_resolve_is_a_dns_failure(ctx: ProbeContext) -> None:
    result = await probe(ctx, 80, host="nonexistent.invalid")
    assert (result.error_kind, result.error) == (
        ErrorKind.DNS,
        'cannot resolve host "nonexistent.invalid"',
    )


async def test_send_and_expect_match(ctx: ProbeContext) -> None:
    async with tcp_server(pong) as port:
        result = await probe(ctx, port, send="PING\r\n", expect="PONG")
    assert result.outcome is Outcome.OK


async def test_a_reply_without_the_expected_text_fails(ctx: ProbeContext) -> None:
    async with tcp_server(pong) as port:
        result = await probe(ctx, port, send="PONG\r\n", expect="PONG", max_read=12)
    assert result.error_kind is ErrorKind.BODY
    assert result.error == 'expected "PONG" in the first 12 bytes, got "-ERR unknown"'


async def test_a_peer_that_closes_before_the_text_fails(ctx: ProbeContext) -> None:
    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 hello\r\n")

    async with tcp_server(greet) as port:
        result = await probe(ctx, port, expect="ESMTP")
    assert result.error_kind is ErrorKind.BODY
    closed = 'expected "ESMTP", connection closed after 11 bytes, got "220 hello\\r\\n"'
    assert result.error == closed


async def test_a_peer_that_resets_is_a_reset(ctx: ProbeContext) -> None:
    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    async with tcp_server(reset) as port:
        result = await probe(ctx, port, send="hi\n", expect="hello")
    assert (result.error_kind, result.error) == (ErrorKind.RESET, "connection reset by peer")


async def test_expected_text_split_across_packets_is_found(ctx: ProbeContext) -> None:
    async def split(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for part in (b"SSH-2.0-Open", b"SSH_9.6\r\n"):
            writer.write(part)
            await writer.drain()
            await asyncio.sleep(0.02)
        await reader.read()

    async with tcp_server(split) as port:
        result = await probe(ctx, port, expect="OpenSSH")
    assert result.outcome is Outcome.OK


async def test_a_peer_that_never_answers_times_out_on_time(ctx: ProbeContext) -> None:
    async with tcp_server(silent) as port:
        start = time.perf_counter()
        result = await probe(ctx, port, send="PING\r\n", expect="PONG", timeout=0.4)
        elapsed = time.perf_counter() - start
    assert (result.error_kind, result.error) == (ErrorKind.TIMEOUT, "timeout after 0.4 s")
    assert 0.4 <= elapsed <= 0.4 * 1.1 + 0.05


async def test_a_slow_connect_is_slow(ctx: ProbeContext) -> None:
    async def late(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.15)
        writer.write(b"ready\n")
        await reader.read()

    async with tcp_server(late) as port:
        slow = await probe(ctx, port, expect="ready", degraded_over=0.1)
        fine = await probe(ctx, port, expect="ready", degraded_over=1.0)
    assert (slow.outcome, fine.outcome) == (Outcome.SLOW, Outcome.OK)


# -- TLS ---------------------------------------------------------------------------------------


@pytest.fixture
async def tls_port(ca: trustme.CA) -> AsyncIterator[int]:
    cert = ca.issue_cert("127.0.0.1", not_after=dt.datetime(2045, 3, 4, 5, 6, 7, tzinfo=dt.UTC))
    async with tcp_server(pong, tls=server_tls(cert)) as port:
        yield port


EXPIRY = dt.datetime(2045, 3, 4, 5, 6, 7, tzinfo=dt.UTC).timestamp()


async def test_tls_with_a_trusted_ca_captures_the_expiry(ca: trustme.CA, tls_port: int) -> None:
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)
    async with ProbeContext(ssl_context=trusting) as ctx:
        result = await probe(ctx, tls_port, tls=True, send="PING\r\n", expect="PONG")
    assert (result.outcome, result.cert_expiry) == (Outcome.OK, EXPIRY)


async def test_tls_with_an_unknown_ca_fails(ctx: ProbeContext, tls_port: int) -> None:
    result = await probe(ctx, tls_port, tls=True)
    assert (result.error_kind, result.error) == (
        ErrorKind.TLS,
        "TLS: unable to get local issuer certificate",
    )


async def test_tls_without_verification_still_reads_the_expiry(
    ctx: ProbeContext, tls_port: int, ca: trustme.CA
) -> None:
    result = await probe(ctx, tls_port, tls=True, tls_verify=False, send="PING\r\n", expect="PONG")
    assert (result.outcome, result.cert_expiry) == (Outcome.OK, EXPIRY)


async def test_tls_to_a_plain_port_is_a_tls_failure(ctx: ProbeContext) -> None:
    async def plain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")

    async with tcp_server(plain) as port:
        result = await probe(ctx, port, tls=True, tls_verify=False)
    assert result.error_kind is ErrorKind.TLS
    assert result.error is not None and result.error.startswith("TLS: ")


def test_the_reference_expiry_is_what_trustme_issued(ca: trustme.CA) -> None:
    cert = ca.issue_cert("127.0.0.1", not_after=dt.datetime(2045, 3, 4, 5, 6, 7, tzinfo=dt.UTC))
    assert expiry_of(cert) == EXPIRY


# -- how socket errors read --------------------------------------------------------------------

FOLDED = "Multiple exceptions: [Errno 111] Connect call failed ('::1', 5432), [Errno 111] ..."


@pytest.mark.parametrize(
    ("error", "connecting", "kind", "message"),
    [
        (socket.gaierror(-2, "Name or service not known"), True, ErrorKind.DNS,
         'cannot resolve host "db.internal"'),
        (ConnectionRefusedError(111, "Connection refused"), True, ErrorKind.REFUSED,
         "connection refused"),
        (OSError(FOLDED), True, ErrorKind.REFUSED, "connection refused"),
        (OSError(113, "No route to host"), True, ErrorKind.REFUSED,
         "cannot connect: No route to host"),
        (ConnectionResetError(), False, ErrorKind.RESET, "connection reset by peer"),
        (BrokenPipeError(32, "Broken pipe"), False, ErrorKind.RESET, "connection reset by peer"),
        (OSError(110, "Connection timed out"), False, ErrorKind.RESET,
         "connection failed: Connection timed out"),
    ],
)  # fmt: skip
def test_socket_errors_read_as_one_kind_and_one_line(
    error: OSError, connecting: bool, kind: ErrorKind, message: str
) -> None:
    assert describe_os_error(error, "db.internal", connecting=connecting) == (kind, message)
