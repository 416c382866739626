"""One HTTP/1.1 exchange on a fresh connection, on asyncio's own transport, parsed by llhttp.

A probe needs far less than a general client: one request, the status and headers of the
answer, at most a bounded look at the body, then the connection closed. aiohttp's client
machinery (sessions, connectors, request and response objects, multidicts, tracing) cost about
0.3 ms of CPU per probe more than the exchange itself (docs/performance.md); this is the
exchange itself. llhttp (Node's parser, through `httptools`) parses; asyncio's protocol
callbacks time it: the answer's arrival is stamped in `data_received`, as the selector reports
the socket readable, not when a busy event loop next resumes the probe.

`Exchange` is the protocol of one connection and what a probe reads from it: the status, the
headers (Location, Content-Encoding), when they arrived, and the body through `read`, a chunk
at a time with back-pressure.
"""

from __future__ import annotations

import asyncio
import zlib
from collections import deque
from time import perf_counter
from typing import cast

import httptools

READ_AHEAD = 256 << 10  # bytes of body held before the socket is paused
TRUNCATED = "malformed or truncated response body"


class ProtocolError(Exception):
    """The peer's bytes are not HTTP/1.x, or its message broke off; the text says which."""


class Closed(Exception):
    """The peer closed or reset the connection before a whole response head: `cause` is the
    OSError of a reset, None for a clean close."""

    def __init__(self, cause: OSError | None) -> None:
        super().__init__("server closed the connection without a full response")
        self.cause = cause


class Exchange(asyncio.Protocol):
    """Writes `request` once connected, parses the answer. The head is awaited with `head()`,
    the body read with `read()`; both raise ProtocolError or Closed."""

    def __init__(self, request: bytes, *, head_only: bool) -> None:
        self._request = request
        self._head_only = head_only  # a HEAD request: no body follows, whatever the headers say
        self._parser = httptools.HttpResponseParser(self)
        self._loop = asyncio.get_running_loop()
        self._head: asyncio.Future[None] = self._loop.create_future()
        self.transport: asyncio.Transport | None = None
        self.status = 0
        self.headers: dict[bytes, bytes] = {}  # lower-cased names; the last of a repeated one
        self.head_at: float | None = None  # perf_counter() when the final head arrived
        self.last_at: float | None = None  # ... and the latest bytes
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._paused = False
        self._complete = False  # the whole message was parsed
        self._error: BaseException | None = None  # why the body broke off
        self._waiter: asyncio.Future[None] | None = None
        self._interim = False  # the message being parsed is a 1xx one

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio's and uvloop's transports alike (uvloop's do not subclass asyncio.Transport)
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        self.last_at = perf_counter()  # on_headers_complete takes it as the head's arrival
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            pass  # a 101 the probe did not ask for: its head is the answer
        except httptools.HttpParserError as exc:
            if self._head.done():  # the answer's head was whole: its body broke
                self._fail(ProtocolError(TRUNCATED))
            else:
                self._fail(ProtocolError(_parser_message(exc)))
            return
        self._wake()

    def eof_received(self) -> bool | None:
        return None  # close the transport: a probe never writes after its request

    def connection_lost(self, exc: Exception | None) -> None:
        if self._complete:
            pass
        elif not self._head.done():
            self._fail(Closed(exc if isinstance(exc, OSError) else None))
        elif self._delimited_by_close():
            self._complete = True
        elif self._error is None:
            self._error = ProtocolError(TRUNCATED)
        self._wake()

    # -- httptools callbacks -----------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.headers = {}

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.lower()] = value

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        self._interim = 100 <= status < 200 and status != 101
        if self._interim:
            return  # an Early Hints or a Continue: the answer is still to come
        self.status = status
        if not self._head.done():
            self.head_at = self.last_at
            self._head.set_result(None)
        if self._head_only:
            self._complete = True

    def on_body(self, body: bytes) -> None:
        if self._interim or self._head_only:
            return
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > READ_AHEAD and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        self._complete = True

    # -- what the probe awaits --------------------------------------------------------------

    async def head(self) -> None:
        await self._head

    async def read(self) -> bytes:
        """The next chunk of the body, b"" at its end; raises ProtocolError if it broke off."""
        while not self._chunks:
            if self._complete:
                return b""
            if self._error is not None:
                raise self._error
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        chunk = self._chunks.popleft()
        self._buffered -= len(chunk)
        if self._paused and self._buffered <= READ_AHEAD // 2 and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return chunk

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    # -- inside -------------------------------------------------------------------------------

    def _fail(self, exc: BaseException) -> None:
        if not self._head.done():
            self._head.set_exception(exc)
            self._head.exception()  # retrieved: a probe cancelled meanwhile never reads it
        elif self._error is None:
            self._error = exc
        if self.transport is not None:
            self.transport.close()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _delimited_by_close(self) -> bool:
        """The body runs until the connection closes: no length, not chunked."""
        if b"content-length" in self.headers:
            return False
        return b"chunked" not in self.headers.get(b"transfer-encoding", b"").lower()


def _parser_message(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return f"malformed response: {text}"


class Decoder:
    """The body's content-coding undone for a look at its text: gzip and deflate, as a client
    that sent `Accept-Encoding` would; identity, and a coding it does not know, pass through."""

    def __init__(self, coding: bytes) -> None:
        coding = coding.strip().lower()
        self._inflate: zlib._Decompress | None = None
        if coding in (b"gzip", b"x-gzip"):
            self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._deflate = coding == b"deflate"  # zlib-wrapped or raw: told by its first bytes

    def __call__(self, chunk: bytes) -> bytes:
        if self._deflate and self._inflate is None and chunk:
            wrapped = (
                len(chunk) >= 2 and chunk[0] & 0x0F == 8 and (chunk[0] << 8 | chunk[1]) % 31 == 0
            )
            self._inflate = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        if self._inflate is None:
            return chunk
        try:
            return self._inflate.decompress(chunk)
        except zlib.error as exc:
            raise ProtocolError(TRUNCATED) from exc
