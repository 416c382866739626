"""Real servers on loopback for the probe tests: aiohttp for HTTP, asyncio streams for TCP."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import trustme
from aiohttp import web
from cryptography import x509

StreamHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def http_server(
    app: web.Application, tls: ssl.SSLContext | None = None
) -> AsyncIterator[int]:
    """Serve `app` on 127.0.0.1 and yield its port."""
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


@asynccontextmanager
async def tcp_server(
    handler: StreamHandler, tls: ssl.SSLContext | None = None
) -> AsyncIterator[int]:
    """Serve `handler` per connection on 127.0.0.1 and yield the port."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        except OSError:
            pass  # the probe went away first: that is its right
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tls)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accepts, never answers, and lets go when the client does."""
    while await reader.read(65536):
        pass


def closed_port() -> int:
    """A port nothing listens on: bound, noted, closed."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def server_tls(cert: trustme.LeafCert) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context


def self_signed_tls(ca: trustme.CA) -> ssl.SSLContext:
    """A server whose certificate is its own issuer: the CA certificate itself."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with ca.cert_pem.tempfile() as cert_file, ca.private_key_pem.tempfile() as key_file:
        context.load_cert_chain(cert_file, key_file)
    return context


def expired_cert(ca: trustme.CA) -> trustme.LeafCert:
    return ca.issue_cert(
        "127.0.0.1",
        not_before=dt.datetime(2019, 1, 1, tzinfo=dt.UTC),
        not_after=dt.datetime(2020, 1, 1, 12, 30, tzinfo=dt.UTC),
    )


def expiry_of(cert: trustme.LeafCert | trustme.CA) -> float:
    """notAfter as cryptography reads it: the reference for our own DER walker."""
    pem = cert.cert_pem if isinstance(cert, trustme.CA) else cert.cert_chain_pems[0]
    return x509.load_pem_x509_certificate(pem.bytes()).not_valid_after_utc.timestamp()
