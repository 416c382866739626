"""The HTTP plumbing every status page provider shares: one request at a time through the shared
limiter, a deadline, no redirects, the API key scrubbed from every message, and every failure
mapped to one of base.py's typed errors. What differs between pages (the base url, the auth
header, the shape of an error body) comes in from the provider.

aiohttp (and the URL redactor, which lives in the config) is imported when the first client is
made, not with this module: the config reads the providers' specs from the modules that use
this one, and `monitor validate` must not pay for an HTTP stack.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from monitor.publishers.base import (
    MAX_PAUSE,
    NotFound,
    PublishError,
    RateLimited,
    RateLimiter,
    Rejected,
    Transient,
    Unauthorized,
)

if TYPE_CHECKING:
    import aiohttp

log = logging.getLogger("monitor.publish")

MAX_MESSAGE = 300  # of a page's error text, in our exception
_SECONDS = re.compile(r"\d+(?:\.\d+)?")


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds a Retry-After header asks for, as asked (capping is the caller's): a number of
    seconds, or an HTTP date (0 once it has gone by). None when absent, negative, or neither
    (the caller then backs off on its own)."""
    text = (value or "").strip()
    if _SECONDS.fullmatch(text):
        return float(text)
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (ValueError, TypeError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:  # an HTTP date is always GMT
        moment = moment.replace(tzinfo=dt.UTC)
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


class ApiClient:
    """Requests to one page's API. `name` starts every message ("statuspage: GET /x: ..."),
    `secret` is scrubbed from them, and `page_message` turns an error body into the page's own
    words. Opens its HTTP session in the loop of its first call: use it from one event loop and
    `close()` it there."""

    def __init__(
        self,
        name: str,
        base_url: str,
        headers: Mapping[str, str],
        secret: str,
        limiter: RateLimiter,
        timeout: float,
        page_message: Callable[[str], str],
    ) -> None:
        import aiohttp

        self._name = name
        self._base = base_url
        self._headers = dict(headers)
        self._secret = secret
        self._limiter = limiter
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._page_message = page_message
        self._session: aiohttp.ClientSession | None = None

    def redact(self, text: str) -> str:
        """No API key and no URL password or query value in what the page or the network said:
        these messages reach the log, `monitor status` and the database."""
        from monitor.config.urls import redact_urls

        text = text.replace(self._secret, "[redacted]") if self._secret else text
        return redact_urls(text)

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, str | int] | None = None,
    ) -> Any:
        """One request: limiter, deadline, and every failure mapped to a PublishError. Returns
        the decoded JSON answer (None for an empty one)."""
        import aiohttp

        where = f"{self._name}: {method} {path}"
        await self._limiter.wait()
        if self._session is None:
            self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)
        try:
            async with self._session.request(
                method,
                self._base + path,
                json=json,
                params=params,
                headers=self._limiter.headers or None,
                allow_redirects=False,
            ) as response:
                text = await response.text(errors="replace")
                status, headers = response.status, response.headers
        except TimeoutError as exc:
            total = self._timeout.total
            raise Transient(f"{where}: no answer within {total:g} s") from exc
        except aiohttp.ClientError as exc:
            message = self.redact(str(exc) or type(exc).__name__)
            raise Transient(f"{where}: {message}") from exc
        if 200 <= status < 300:
            return _decode(where, status, text)
        raise self._error(where, status, text, headers)

    async def pages(
        self, path: str, params: Mapping[str, str | int] | None = None, *, per_page: int
    ) -> list[dict[str, Any]]:
        """Every item of a list paginated with `page` and `per_page` whose answer is a plain
        JSON list. Stops at a short page, or at a page with nothing new (a server that ignores
        `page` would otherwise loop forever)."""
        items: list[dict[str, Any]] = []
        seen: set[str] = set()
        page = 1
        while True:
            query = {**(params or {}), "page": page, "per_page": per_page}
            data = await self.call("GET", path, params=query)
            if not isinstance(data, list):
                raise Transient(f"{self._name}: GET {path}: the answer is not a list")
            fresh = new_items(data, seen)
            items.extend(fresh)
            if len(data) < per_page or not fresh:
                return items
            page += 1

    def _error(
        self, where: str, status: int, text: str, headers: Mapping[str, str]
    ) -> PublishError:
        message = self.redact(f"{where}: {status}: {self._page_message(text)}")
        if status in (420, 429):
            seconds = self._retry_after(where, headers.get("Retry-After"))
            if seconds is not None:  # everyone on this key waits, not just this caller
                self._limiter.pause(seconds)
            return RateLimited(message, status=status, retry_after=seconds)
        if status in (401, 403):
            return Unauthorized(message, status=status)
        if status == 404:
            return NotFound(message, status=status)
        if 300 <= status < 400:  # the API never redirects: the url is wrong (http for https?)
            where_to = self.redact(headers.get("Location", "?"))
            return Rejected(f"{message} (redirected to {where_to}; check url)", status=status)
        if 400 <= status < 500 and status != 408:  # 408: the server gave up waiting; try again
            return Rejected(message, status=status)
        return Transient(message, status=status)

    def _retry_after(self, where: str, header: str | None) -> float | None:
        """What a Retry-After asks, an hour at most: a page that asks for years (or a date far
        ahead) must not stop publishing. Said once, at WARNING, for each answer capped."""
        seconds = retry_after(header)
        if seconds is not None and seconds > MAX_PAUSE:
            log.warning(
                "%s: the page asked to wait %.0f s (Retry-After: %s); waiting %.0f s instead",
                where,
                seconds,
                clip(self.redact(header or ""), 60),
                MAX_PAUSE,
            )
            return MAX_PAUSE
        return seconds


def new_items(data: list[Any], seen: set[str]) -> list[dict[str, Any]]:
    """The objects of a list page whose id is not in `seen` yet; adds their ids to it."""
    fresh = [i for i in data if isinstance(i, dict) and str(i.get("id")) not in seen]
    seen.update(str(i.get("id")) for i in fresh)
    return fresh


def _decode(where: str, status: int, text: str) -> Any:
    try:
        return json.loads(text) if text.strip() else None
    except ValueError as exc:
        raise Transient(f"{where}: {status} with a body that is not JSON") from exc


__all__ = ["MAX_MESSAGE", "ApiClient", "clip", "new_items", "retry_after"]
