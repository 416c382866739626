"""The HTTP(S) probe: one request, its redirects, and a bounded look at the body.

Each hop is one exchange on a fresh connection (`wire.Exchange`: asyncio's transport, llhttp's
parser), so every probe pays for, and measures, its own DNS lookup (cached 10 s), connect and
handshake. Redirects are followed here, as browsers and curl follow them: 301, 302 and 303 turn
a POST into a GET (303 anything but HEAD), and once a redirect has left the origin (scheme, host
and port) of the check's URL, none of the check's headers nor its URL credentials go any
further, even back home.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from time import perf_counter
from typing import TYPE_CHECKING

from yarl import URL

from monitor.model import ErrorKind, HttpCheck, Outcome, ProbeResult
from monitor.probes.build import http_problem
from monitor.probes.errors import describe_os_error
from monitor.probes.tls import not_after, peer_der
from monitor.probes.wire import Closed, Decoder, Exchange, ProtocolError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from monitor.probes import ProbeContext

REDIRECTS = frozenset({301, 302, 303, 307, 308})


class Failed(Exception):
    """A hop failed before its answer could be judged: the result to return."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind, self.message = kind, message


@dataclass(frozen=True, slots=True)
class Hop:
    """Where a request goes and the bytes it sends: small, as one is kept per check."""

    url: str  # normalised, without its fragment: a redirect is taken relative to it
    host: str  # as the resolver takes it (IDNA)
    port: int
    secure: bool
    request: bytes
    method: str
    body: bytes | None
    home: bool  # still at the origin of the check's URL: its headers and credentials go


async def probe(check: HttpCheck, ctx: ProbeContext) -> ProbeResult:
    """Judge one request to `check.url`. The deadline is the caller's (see `run_probe`)."""
    start = perf_counter()
    first = _first_hop(check, ctx.user_agent)
    if isinstance(first, str):
        return ProbeResult.failed(ErrorKind.CONFIG, first, perf_counter() - start)
    hop, hops, der = first, 0, None
    exchange: Exchange | None = None
    try:
        while True:
            exchange = await _send(check, ctx, hop)
            if der is None and exchange.transport is not None:
                der = peer_der(exchange.transport.get_extra_info("ssl_object"))
            try:
                await exchange.head()
            except Closed as exc:
                if exc.cause is not None:
                    kind, message = describe_os_error(exc.cause, hop.host, connecting=False)
                    raise Failed(kind, message) from None
                raise Failed(ErrorKind.RESET, str(exc)) from None
            except ProtocolError as exc:
                raise Failed(ErrorKind.PROTOCOL, str(exc)) from None
            location = exchange.headers.get(b"location")
            if not (check.follow_redirects and exchange.status in REDIRECTS and location):
                break
            exchange.close()
            hops += 1
            if hops > check.max_redirects:
                raise Failed(ErrorKind.PROTOCOL, f"more than {check.max_redirects} redirects")
            hop = _next_hop(check, ctx.user_agent, hop, first, exchange.status, location)
        return await _judge(check, exchange, start, not_after(der))
    except Failed as failure:
        return ProbeResult.failed(failure.kind, failure.message, perf_counter() - start)
    finally:
        if exchange is not None:
            exchange.close()


_FIRST_HOPS: dict[tuple[object, ...], Hop | str] = {}


def _first_hop(check: HttpCheck, user_agent: str) -> Hop | str:
    """The check's request, or why it cannot be built (kind config); worked out once."""
    key = (check.url, check.method, check.body, check.headers, user_agent)
    hop = _FIRST_HOPS.get(key)
    if hop is None:
        if len(_FIRST_HOPS) > 1 << 18:
            _FIRST_HOPS.clear()
        hop = _FIRST_HOPS[key] = _build_first_hop(check, user_agent)
    return hop


def _build_first_hop(check: HttpCheck, user_agent: str) -> Hop | str:
    if problem := http_problem(check):
        return problem
    try:
        url = URL(check.url)
        if url.scheme not in ("http", "https") or not url.raw_host:
            return "cannot build the request: url is not an http:// or https:// URL; fix url"
        body = None if check.body is None else check.body.encode()
        return _hop(url, check.method, body, True, check.headers, user_agent)
    except ValueError:  # UnicodeError too: a URL, host or header that cannot be sent
        return "cannot build the request: invalid url; fix url"


def _hop(
    url: URL,
    method: str,
    body: bytes | None,
    home: bool,
    headers: tuple[tuple[str, str], ...],
    user_agent: str,
) -> Hop:
    """A hop to `url`; raises UnicodeError for a host the resolver cannot take."""
    host = url.raw_host or ""
    host.encode("idna")
    secure = url.scheme == "https"
    request = _request_bytes(method, url, headers if home else (), body, user_agent, home)
    return Hop(
        str(url.with_fragment(None)),
        host,
        url.port or (443 if secure else 80),
        secure,
        request,
        method,
        body,
        home,
    )


def _next_hop(
    check: HttpCheck, user_agent: str, hop: Hop, first: Hop, status: int, location: bytes
) -> Hop:
    """Where a redirect leads: `location` taken relative to the hop's URL."""
    try:
        url = URL(location.decode("utf-8", "surrogateescape"))
        if not url.scheme:  # relative: taken from the hop's URL; an absolute one as it is
            url = URL(hop.url).join(url)
        ok = url.scheme in ("http", "https") and bool(url.raw_host)
    except ValueError:
        ok = False
    if not ok:
        raise Failed(ErrorKind.PROTOCOL, "redirect to an invalid or non-HTTP URL")
    method, body = hop.method, hop.body
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        method, body = "GET", None
    home = hop.home and url.origin() == URL(first.url).origin()
    try:
        return _hop(url, method, body, home, check.headers, user_agent)
    except UnicodeError:
        raise Failed(ErrorKind.PROTOCOL, "redirect to a host that cannot be looked up") from None


async def _send(check: HttpCheck, ctx: ProbeContext, hop: Hop) -> Exchange:
    """Connects to the hop's host (its addresses raced, RFC 8305) and writes the request."""
    host = hop.host
    try:
        sock = await ctx.connect(host, hop.port)
    except UnicodeError:  # a name the resolver cannot be given (a redirect's: ours are checked)
        raise Failed(ErrorKind.DNS, f'cannot resolve host "{host}"') from None
    except OSError as exc:
        raise Failed(*describe_os_error(exc, host, connecting=True)) from None
    try:
        _, exchange = await asyncio.get_running_loop().create_connection(
            lambda: Exchange(hop.request, head_only=hop.method == "HEAD"),
            sock=sock,
            ssl=ctx.ssl_context(check.tls_verify) if hop.secure else None,
            server_hostname=host.rstrip(".") if hop.secure else None,
        )
    except OSError as exc:  # the TLS handshake (ssl.SSLError), or the peer gone meanwhile
        sock.close()
        raise Failed(*describe_os_error(exc, host, connecting=True)) from None
    except BaseException:
        sock.close()
        raise
    return exchange


def _request_bytes(
    method: str,
    url: URL,
    headers: tuple[tuple[str, str], ...],
    body: bytes | None,
    user_agent: str,
    home: bool,
) -> bytes:
    own = {name.lower() for name, _ in headers}
    lines = [f"{method} {url.raw_path_qs or '/'} HTTP/1.1"]
    if "host" not in own:
        lines.append(f"Host: {url.host_port_subcomponent}")
    lines += [f"{name}: {value}" for name, value in headers]
    if "user-agent" not in own:
        lines.append(f"User-Agent: {user_agent}")
    if "accept" not in own:
        lines.append("Accept: */*")
    if "accept-encoding" not in own:
        lines.append("Accept-Encoding: gzip, deflate")
    if home and (url.user or url.password) and "authorization" not in own:
        pair = f"{url.user or ''}:{url.password or ''}".encode("latin-1")
        lines.append(f"Authorization: Basic {base64.b64encode(pair).decode()}")
    if body is not None:
        if "content-type" not in own:
            lines.append("Content-Type: text/plain; charset=utf-8")
        lines.append(f"Content-Length: {len(body)}")
    elif method in ("POST", "PUT", "PATCH"):
        lines.append("Content-Length: 0")
    lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
    return head + body if body else head


async def _judge(
    check: HttpCheck, exchange: Exchange, start: float, expiry: float | None
) -> ProbeResult:
    status = exchange.status
    head_at = exchange.head_at if exchange.head_at is not None else perf_counter()
    if not any(status in accepted for accepted in check.expect_status):
        expected = ", ".join(str(accepted) for accepted in check.expect_status)
        return ProbeResult.failed(
            ErrorKind.STATUS,
            f"status {status}, expected {expected}",
            head_at - start,
            status_code=status,
            cert_expiry=expiry,
        )
    if check.expect_body is None:
        return ProbeResult(Outcome.OK, head_at - start, status_code=status, cert_expiry=expiry)
    decode = Decoder(exchange.headers.get(b"content-encoding", b""))

    async def read() -> bytes:
        return decode(await exchange.read())

    try:
        found, read_bytes = await contains(read, check.expect_body.encode(), check.max_body)
    except ProtocolError as exc:
        return ProbeResult.failed(
            ErrorKind.PROTOCOL,
            str(exc),
            perf_counter() - start,
            status_code=status,
            cert_expiry=expiry,
        )
    latency = (exchange.last_at or perf_counter()) - start
    if not found:
        return ProbeResult.failed(
            ErrorKind.BODY,
            f'body does not contain "{_clip(check.expect_body)}" (read {_size(read_bytes)})',
            latency,
            status_code=status,
            cert_expiry=expiry,
        )
    return ProbeResult(Outcome.OK, latency, status_code=status, cert_expiry=expiry)


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


def _clip(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    if count < 1 << 20:
        return f"{count / 1024:.1f} KiB"
    return f"{count / (1 << 20):.1f} MiB"
