"""The TCP probe: connect, optionally over TLS, optionally send something and expect a reply."""

from __future__ import annotations

import asyncio
import socket
from time import perf_counter
from typing import TYPE_CHECKING, Any

from monitor.model import ErrorKind, Outcome, ProbeResult, TcpCheck
from monitor.probes.build import tcp_problem
from monitor.probes.errors import describe_os_error
from monitor.probes.tls import not_after, peer_der

if TYPE_CHECKING:
    from monitor.probes import ProbeContext

# After our close_notify, how long a TLS connection may linger waiting for the peer's.
_TLS_SHUTDOWN = 2.0


async def probe(check: TcpCheck, ctx: ProbeContext) -> ProbeResult:
    """Judge one connection to `check.host:check.port`. The deadline is the caller's."""
    start = perf_counter()
    tls: dict[str, Any] = {}
    if check.tls:
        tls = {"ssl": ctx.ssl_context(check.tls_verify), "ssl_shutdown_timeout": _TLS_SHUTDOWN}
    try:
        sock = await ctx.connect(check.host, check.port)
    except OSError as exc:
        if isinstance(exc, socket.gaierror) and (problem := tcp_problem(check)):
            return ProbeResult.failed(ErrorKind.CONFIG, problem, perf_counter() - start)
        kind, message = describe_os_error(exc, check.host, connecting=True)
        return ProbeResult.failed(kind, message, perf_counter() - start)
    except ValueError:  # UnicodeError too: a host the resolver cannot be given
        if problem := tcp_problem(check):
            return ProbeResult.failed(ErrorKind.CONFIG, problem, perf_counter() - start)
        raise  # not the check's settings: our own bug, which run_probe reports
    if check.tls:
        tls["server_hostname"] = check.host.strip("[]").rstrip(".")
    try:
        reader, writer = await asyncio.open_connection(sock=sock, **tls)
    except OSError as exc:  # the TLS handshake
        sock.close()
        kind, message = describe_os_error(exc, check.host, connecting=True)
        return ProbeResult.failed(kind, message, perf_counter() - start)
    except BaseException:
        sock.close()
        raise
    expiry = not_after(peer_der(writer.get_extra_info("ssl_object")))
    try:
        failure = await _converse(check, reader, writer)
    except OSError as exc:
        failure = describe_os_error(exc, check.host, connecting=False)
    finally:
        # Not awaiting wait_closed(): a peer that never answers our TLS close_notify must not
        # hold up the verdict; the transport finishes closing on its own.
        writer.close()
    latency = perf_counter() - start
    if failure is None:
        return ProbeResult(Outcome.OK, latency, cert_expiry=expiry)
    return ProbeResult.failed(*failure, latency, cert_expiry=expiry)


async def _converse(
    check: TcpCheck, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> tuple[ErrorKind, str] | None:
    if check.send:
        writer.write(check.send.encode())
        await writer.drain()
    if not check.expect:
        return None
    needle = check.expect.encode()
    received = bytearray()
    while len(received) < check.max_read:
        chunk = await reader.read(check.max_read - len(received))
        if not chunk:
            return ErrorKind.BODY, (
                f'expected "{check.expect}", connection closed after {len(received)} bytes, '
                f'got "{_excerpt(received)}"'
            )
        search_from = max(0, len(received) - len(needle) + 1)
        received += chunk
        if received.find(needle, search_from) >= 0:
            return None
    got = _excerpt(received)
    return (
        ErrorKind.BODY,
        f'expected "{check.expect}" in the first {len(received)} bytes, got "{got}"',
    )


def _excerpt(data: bytes | bytearray, width: int = 40) -> str:
    """The start of what the peer sent, printable and short: 'SSH-2.0-OpenSSH_9.6\\r\\n'."""
    text = bytes(data[:width]).decode("utf-8", "replace")
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return shown + ("…" if len(data) > width else "")
