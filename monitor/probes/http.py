"""The HTTP(S) probe: one request, its redirects, and a bounded look at the body."""

from __future__ import annotations

import ssl
import weakref
from collections.abc import Awaitable, Callable, Iterable
from time import perf_counter
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import hdrs
from yarl import URL

from monitor.model import ErrorKind, HttpCheck, Outcome, ProbeResult
from monitor.probes.build import http_problem
from monitor.probes.errors import describe_os_error
from monitor.probes.tls import describe_ssl_error, not_after, peer_der

if TYPE_CHECKING:
    from aiohttp.client_proto import ResponseHandler
    from aiohttp.connector import Connection

    from monitor.probes import ProbeContext

# aiohttp's own deadline is a backstop only: it must never beat run_probe's, which reports it.
_BACKSTOP = 1.0


class Arrivals:
    """When the transport handed the response over, in `perf_counter()` seconds: one stamp per
    message (status line and headers) parsed, interim 1xx ones included, and the latest bytes.

    Taken in the protocol's `data_received`, which runs as soon as the selector reports the
    socket readable, not when the probe's coroutine next gets a turn of a busy event loop.
    """

    __slots__ = ("last", "messages")

    def __init__(self) -> None:
        self.messages: list[float] = []
        self.last: float | None = None


def _stamp(protocol: ResponseHandler, arrivals: Arrivals) -> None:
    """Stamps `arrivals` on every `data_received` of this connection's protocol, before aiohttp
    parses the bytes. Weak, so the protocol's own attribute makes no reference cycle."""
    deliver = type(protocol).data_received
    ref = weakref.ref(protocol)

    def data_received(data: bytes) -> None:
        now = perf_counter()
        handler = ref()
        if handler is None:
            return
        queued = len(handler)  # parsed messages not yet read by the response
        deliver(handler, data)
        arrivals.last = now
        arrivals.messages += [now] * (len(handler) - queued)

    protocol.data_received = data_received  # type: ignore[method-assign]


class CertCapturingResponse(aiohttp.ClientResponse):
    """A response that keeps the peer certificate (DER) of the connection it arrived on, and
    when its headers and its latest bytes arrived (`Arrivals`).

    aiohttp releases the connection as soon as a response without a body has ended, often
    before the caller sees it, so the certificate is taken while the response starts. Nothing
    arrives before `start`: the request was written without a pause since the connection was
    made, and the connection is never reused (`force_close`).
    """

    peer_der: bytes | None = None
    headers_at: float | None = None
    arrivals: Arrivals | None = None

    async def start(self, connection: Connection) -> aiohttp.ClientResponse:
        transport = connection.transport
        if transport is not None:
            self.peer_der = peer_der(transport.get_extra_info("ssl_object"))
        protocol = connection.protocol
        if protocol is None:
            return await super().start(connection)
        self.arrivals = arrivals = Arrivals()
        _stamp(protocol, arrivals)
        response = await super().start(connection)
        read = len(arrivals.messages) - len(protocol)  # 1xx ones first, this one last
        if read > 0:
            self.headers_at = arrivals.messages[read - 1]
        return response


async def probe(check: HttpCheck, ctx: ProbeContext) -> ProbeResult:
    """Judge one request to `check.url`. The deadline is the caller's (see `run_probe`)."""
    start = perf_counter()
    response: aiohttp.ClientResponse | None = None
    try:
        async with ctx.session.request(
            check.method,
            check.url,
            headers=check.headers or None,
            data=check.body,
            allow_redirects=check.follow_redirects,
            # aiohttp counts the redirect that is one too many; 0 would mean "no limit".
            max_redirects=check.max_redirects + 1,
            ssl=ctx.ssl_context(check.tls_verify),
            timeout=aiohttp.ClientTimeout(total=check.timeout + _BACKSTOP),
            middlewares=(_headers_stay_home(check),) if check.headers else None,
        ) as response:
            return await _judge(check, response, start)
    except TimeoutError:
        raise
    except (aiohttp.ClientError, OSError) as exc:
        kind, message = _describe(exc, check)
        return ProbeResult.failed(
            kind,
            message,
            perf_counter() - start,
            status_code=response.status if response is not None else None,
            cert_expiry=_cert_expiry(response) if response is not None else None,
        )
    except ValueError as exc:  # UnicodeError too: aiohttp could not build or send a request
        if response is not None:
            raise  # judging the response: our own bug, which run_probe reports
        if problem := http_problem(check):
            return ProbeResult.failed(ErrorKind.CONFIG, problem, perf_counter() - start)
        if isinstance(exc, UnicodeError) and check.follow_redirects:
            # The check's own host encodes, so a redirect's did not.
            message = "redirect to a host that cannot be looked up"
            return ProbeResult.failed(ErrorKind.PROTOCOL, message, perf_counter() - start)
        raise


def _headers_stay_home(check: HttpCheck) -> aiohttp.ClientMiddlewareType:
    """Drops the check's headers from every request after a redirect has left the origin (scheme,
    host and port) of its URL, as browsers and curl drop credentials.

    aiohttp drops only Authorization, so a key in X-Api-Key, or the check's own Host, would go to
    whatever host a redirect names. Dropped for the rest of the chain, even back home: the way
    back is the other host's choice, and aiohttp keeps Authorization dropped too.
    """
    names = [name for name, _ in check.headers]
    home: URL | None = None
    left = False

    async def middleware(
        request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        nonlocal home, left
        origin = request.url.origin()
        home = home or origin
        left = left or origin != home
        if left:
            for name in names:
                request.headers.popall(name, None)
            if hdrs.HOST not in request.headers and request.url.host_port_subcomponent:
                request.headers[hdrs.HOST] = request.url.host_port_subcomponent
        return await handler(request)

    return middleware


async def _judge(check: HttpCheck, response: aiohttp.ClientResponse, start: float) -> ProbeResult:
    status = response.status
    expiry = _cert_expiry(response)
    if not any(status in accepted for accepted in check.expect_status):
        expected = ", ".join(str(accepted) for accepted in check.expect_status)
        return ProbeResult.failed(
            ErrorKind.STATUS,
            f"status {status}, expected {expected}",
            _latency(response, start),
            status_code=status,
            cert_expiry=expiry,
        )
    if check.expect_body is None:
        return ProbeResult(
            Outcome.OK, _latency(response, start), status_code=status, cert_expiry=expiry
        )
    found, read = await contains(
        response.content.readany, check.expect_body.encode(), check.max_body
    )
    latency = _latency(response, start, body=True)
    if not found:
        return ProbeResult.failed(
            ErrorKind.BODY,
            f'body does not contain "{_clip(check.expect_body)}" (read {_size(read)})',
            latency,
            status_code=status,
            cert_expiry=expiry,
        )
    return ProbeResult(Outcome.OK, latency, status_code=status, cert_expiry=expiry)


def _latency(response: aiohttp.ClientResponse, start: float, *, body: bool = False) -> float:
    """From the probe's start to the arrival of the response's headers, or with `body` of the
    latest bytes when the body had been read, as the transport saw them (`Arrivals`): a busy
    event loop that resumes the probe late does not lengthen it. Now, if nothing was stamped."""
    at = None
    if isinstance(response, CertCapturingResponse):
        at = response.headers_at
        if body and response.arrivals is not None:
            at = response.arrivals.last
    return (at if at is not None else perf_counter()) - start


async def contains(
    read: Callable[[], Awaitable[bytes]], needle: bytes, limit: int
) -> tuple[bool, int]:
    """Whether `needle` is in the first `limit` bytes `read` yields, and how many were read.

    Holds one chunk and the last len(needle) - 1 bytes before it, never the whole body, and
    stops reading as soon as the needle turns up.
    """
    if not needle:
        return True, 0
    keep = len(needle) - 1
    tail = b""
    seen = 0
    while seen < limit:
        chunk = await read()
        if not chunk:
            break
        if len(chunk) > limit - seen:
            chunk = chunk[: limit - seen]
        seen += len(chunk)
        if needle in chunk or (tail and needle in tail + chunk[:keep]):
            return True, seen
        if keep:
            tail = chunk[-keep:] if len(chunk) >= keep else (tail + chunk)[-keep:]
    return False, seen


def _describe(exc: BaseException, check: HttpCheck) -> tuple[ErrorKind, str]:
    """aiohttp's exceptions in our words. Their own text may hold the URL, so it is not used."""
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return ErrorKind.DNS, f'cannot resolve host "{exc.host}"'
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        cause = exc.certificate_error
        if isinstance(cause, ssl.SSLError):
            return ErrorKind.TLS, describe_ssl_error(cause)
        return ErrorKind.TLS, "TLS: certificate rejected"
    if isinstance(exc, aiohttp.ClientConnectorError):  # refused, unreachable, TLS handshake
        return describe_os_error(exc.os_error, exc.host, connecting=True)
    if isinstance(exc, aiohttp.TooManyRedirects):
        return ErrorKind.PROTOCOL, f"more than {check.max_redirects} redirects"
    if isinstance(exc, aiohttp.RedirectClientError):
        return ErrorKind.PROTOCOL, "redirect to an invalid or non-HTTP URL"
    if isinstance(exc, (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError)):  # the check's own
        return ErrorKind.CONFIG, http_problem(check) or "cannot build the request: invalid url"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return ErrorKind.RESET, "server closed the connection without a full response"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return ErrorKind.PROTOCOL, "malformed or truncated response body"
    if isinstance(exc, aiohttp.ClientResponseError):
        return ErrorKind.PROTOCOL, f"malformed response: {exc.message}"
    if isinstance(exc, OSError):
        return describe_os_error(exc, _host(check), connecting=False)
    if isinstance(exc, aiohttp.ClientConnectionError):
        return ErrorKind.RESET, "connection closed unexpectedly"
    return ErrorKind.PROTOCOL, type(exc).__name__


def _cert_expiry(response: aiohttp.ClientResponse) -> float | None:
    """The first certificate seen on the way: the one for the URL the check names."""
    hops: Iterable[aiohttp.ClientResponse] = (*response.history, response)
    for hop in hops:
        der = getattr(hop, "peer_der", None)
        if der:
            return not_after(der)
    return None


def _host(check: HttpCheck) -> str:
    try:
        return URL(check.url).host or "?"
    except ValueError:
        return "?"


def _clip(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    if count < 1 << 20:
        return f"{count / 1024:.1f} KiB"
    return f"{count / (1 << 20):.1f} MiB"
