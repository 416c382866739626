"""Probes: one module per protocol, one shared signature, a plain dict registry.

A probe returns a result for every failure of its target but one: running out of time. The
deadline covers the whole probe (DNS, connect, TLS, redirects, body), so it is `run_probe`'s,
which also applies `degraded_over`. A check whose request cannot be built fails as kind `config`
(see build.py). Nothing but cancellation raises out of `run_probe`: an exception from our own
code is a failed probe too, of kind `config`, and its traceback is logged once.

Two ways in: `probe_keyed` is what a prober runs for a check on its schedule (in the daemon's
process or a worker's), `probe_all` probes a list once (`monitor check`).

Adding a probe type (say `dns`) starts here: `probes/dns.py` with `async def probe(check, ctx)`
returning a ProbeResult for every failure of the target (tcp.py is the short example), its
line in `PROBES` below, its Check subclass in model.py (`type = "dns"`, its settings with their
defaults), and its keys in `CHECK_TYPES` of config/keys.py. The scheduler, the engine, the
store, the metrics and `monitor check` take it as it is.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import logging
import math
import socket
import ssl
import traceback
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from time import perf_counter
from types import TracebackType
from typing import Any

import aiohappyeyeballs

from monitor import __version__
from monitor.model import Check, Component, ErrorKind, Outcome, ProbeResult
from monitor.probes import http, tcp
from monitor.probes.tls import insecure_context, verifying_context

AddrInfo = tuple[socket.AddressFamily, socket.SocketKind, int, str, tuple[Any, ...]]
"""An address as getaddrinfo gives it: (family, type, proto, canonname, sockaddr)."""
ProbeFn = Callable[[Check, "ProbeContext"], Awaitable[ProbeResult]]
ResultFn = Callable[[str, float, float, ProbeResult], None]
"""on_result(key, planned start as Unix seconds, lateness in seconds, result)."""

PROBES: dict[str, ProbeFn] = {
    "http": http.probe,  # type: ignore[dict-item]  # each probe takes its own Check subclass
    "tcp": tcp.probe,  # type: ignore[dict-item]
}

USER_AGENT = f"monitor/{__version__}"
DNS_TTL = 10.0  # seconds an answer is kept
HAPPY_EYEBALLS = 0.25  # seconds before the next address is tried too (RFC 8305, as aiohttp)
DNS_CACHE_SIZE = 10_000  # names kept at most; past it the cache starts again

log = logging.getLogger(__name__)


class ProbeContext:
    """What probes share, made once, not per probe: two SSL contexts, the User-Agent and a
    cache of DNS answers (10 s, as a browser would keep them; failures are not kept).

    There is no connection pool: every HTTP probe opens a fresh connection, so it pays for, and
    measures, its own connect and handshake. Nothing else is shared: no cookies.

    `ca_file` (PEM) adds CAs to the system's trust store; `ssl_context` replaces the
    verifying context altogether.
    """

    def __init__(
        self,
        *,
        ca_file: str | Path | None = None,
        ssl_context: ssl.SSLContext | None = None,
        user_agent: str = USER_AGENT,
    ) -> None:
        self._verifying = ssl_context if ssl_context is not None else verifying_context(ca_file)
        self._insecure = insecure_context()
        self.user_agent = user_agent
        self._answers: dict[tuple[str, int], tuple[float, list[AddrInfo]]] | None = None
        self._lookups: dict[tuple[str, int], asyncio.Future[list[AddrInfo]]] = {}
        self._bugs_reported: set[tuple[object, ...]] = set()

    async def __aenter__(self) -> ProbeContext:
        self._answers = {}
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._answers = None

    async def resolve(self, host: str, port: int) -> list[AddrInfo]:
        """Where `host:port` is, as getaddrinfo gives it, in the resolver's order: an IP literal
        as it is, a name from the cache or the system's resolver (one lookup however many
        probes ask at once). Raises OSError (socket.gaierror) when the name does not resolve."""
        if self._answers is None:
            raise RuntimeError("ProbeContext is used outside 'async with'")
        key = (host, port)
        loop = asyncio.get_running_loop()
        cached = self._answers.get(key)
        if cached is not None and cached[0] > loop.time():
            return cached[1]
        if (literal := _ip_literal(host, port)) is not None:  # kept for good: no lookup
            self._answers[key] = (math.inf, [literal])
            return [literal]
        lookup = self._lookups.get(key)
        if lookup is not None:
            return await asyncio.shield(lookup)
        lookup = self._lookups[key] = loop.create_future()
        try:
            infos = await loop.getaddrinfo(
                host, port, type=socket.SOCK_STREAM, flags=socket.AI_ADDRCONFIG
            )
            answer: list[AddrInfo] = list(dict.fromkeys(infos))
            if len(self._answers) > DNS_CACHE_SIZE:
                self._answers.clear()
            self._answers[key] = (loop.time() + DNS_TTL, answer)
            lookup.set_result(answer)
        except BaseException as exc:
            lookup.set_exception(exc)
            lookup.exception()  # retrieved: nobody else may be waiting
            raise
        finally:
            del self._lookups[key]
        return answer

    async def connect(self, host: str, port: int) -> socket.socket:
        """A socket connected to `host:port`: its addresses tried as browsers do (Happy
        Eyeballs, RFC 8305: the next one started when one has not connected within 0.25 s,
        the families interleaved), so a dead IPv6 route costs a quarter second, not the
        probe. Raises OSError: socket.gaierror from the lookup, else the connect's."""
        infos = await self.resolve(host, port)
        return await aiohappyeyeballs.start_connection(
            infos, happy_eyeballs_delay=HAPPY_EYEBALLS, interleave=1
        )

    def ssl_context(self, verify: bool) -> ssl.SSLContext:
        return self._verifying if verify else self._insecure

    def report_bug(self, check: Check, exc: Exception) -> None:
        """Logs an exception from our own code with its traceback, once per place it is raised:
        a check probed every few seconds must not fill the log with the same traceback."""
        frames = traceback.extract_tb(exc.__traceback__)
        place = (type(exc), frames[-1].filename, frames[-1].lineno) if frames else (type(exc),)
        if place in self._bugs_reported:
            return
        self._bugs_reported.add(place)
        log.error(
            "probing %s check %r raised %s, a bug in the monitor; the probe fails (kind config) "
            "and this is logged once",
            check.type,
            check.name,
            type(exc).__name__,
            exc_info=exc,
        )


async def run_probe(check: Check, ctx: ProbeContext) -> ProbeResult:
    """Probe `check` once, within `check.timeout`, and grade the result."""
    probe = PROBES[check.type]
    start = perf_counter()
    try:
        async with asyncio.timeout(check.timeout):
            result = await probe(check, ctx)
    except TimeoutError:
        return ProbeResult.failed(
            ErrorKind.TIMEOUT, f"timeout after {round(check.timeout, 3)} s", perf_counter() - start
        )
    except Exception as exc:  # not CancelledError, a BaseException: cancelling still cancels
        ctx.report_bug(check, exc)
        return ProbeResult.failed(
            ErrorKind.CONFIG,
            f"cannot probe: {type(exc).__name__} inside the monitor, a bug; its traceback is in "
            "the log",
            perf_counter() - start,
        )
    if (
        check.degraded_over is not None
        and result.outcome is Outcome.OK
        and result.latency > check.degraded_over
    ):
        return dataclasses.replace(result, outcome=Outcome.SLOW)
    return result


def _ip_literal(host: str, port: int) -> AddrInfo | None:
    """The address info of an IP literal ("127.0.0.1", "::1", "[::1]"), None for a name."""
    try:
        address = ipaddress.ip_address(host.strip("[]").partition("%")[0])
    except ValueError:
        return None
    if address.version == 4:
        return (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (str(address), port))
    scope = host.strip("[]").partition("%")[2]
    literal = f"{address}%{scope}" if scope else str(address)
    return (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (literal, port, 0, 0))


def probe_keyed(
    check_of: Callable[[str], Check | None], ctx: ProbeContext, on_result: ResultFn
) -> Callable[[str, float, float], Awaitable[None]]:
    """The run a scheduler calls for a key: probe the key's check as it is now (a reload may
    have changed it) and hand the result on. A key whose check is gone is not probed."""

    async def run(key: str, planned: float, lateness: float) -> None:
        check = check_of(key)
        if check is not None:
            on_result(key, planned, lateness, await run_probe(check, ctx))

    return run


async def probe_all(
    components: Sequence[Component], *, concurrency: int
) -> list[tuple[Component, Check, ProbeResult]]:
    """Probe every check of `components` once, at most `concurrency` at a time, in config order."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one(ctx: ProbeContext, check: Check) -> ProbeResult:
        async with semaphore:
            return await run_probe(check, ctx)

    pairs = [(component, check) for component in components for check in component.checks]
    async with ProbeContext() as ctx:
        results = await asyncio.gather(*(one(ctx, check) for _, check in pairs))
    return [
        (component, check, result)
        for (component, check), result in zip(pairs, results, strict=True)
    ]


__all__ = [
    "PROBES",
    "ProbeContext",
    "ProbeFn",
    "ResultFn",
    "probe_all",
    "probe_keyed",
    "run_probe",
]
