"""Parsers for values that name something on the network or in HTTP: URLs, hosts, addresses.

Each refuses early what a probe or the server would only fail on later, and a URL's credentials
never reach a message.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from monitor.config.values import Invalid, quote, show
from monitor.model import StatusRange


def http_url(value: object) -> str:
    shown = re.sub(r"//[^/@]*@", "//***@", value) if isinstance(value, str) else value
    problem = f"must be an http:// or https:// URL with a host, got {show(shown)}"
    if not isinstance(value, str) or any(char.isspace() for char in value):
        raise Invalid(problem)
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a port out of range
    except ValueError:
        raise Invalid(problem) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid(problem)
    return value


def method(value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z]+", value):
        raise Invalid(f'must be an HTTP method like "GET", "HEAD" or "POST", got {show(value)}')
    return value.upper()


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def headers(value: object) -> tuple[tuple[str, str], ...]:
    form = 'a table of header names to strings, like { Accept = "application/json" }'
    if not isinstance(value, dict):
        raise Invalid(f"must be {form}, got {show(value)}")
    for name, text in value.items():
        if not _HEADER_NAME.fullmatch(name):
            raise Invalid(f"must be {form}; {quote(name)} is not a valid header name")
        if not isinstance(text, str) or "\n" in text or "\r" in text:
            shown = "a multi-line string" if isinstance(text, str) else show(text)
            raise Invalid(f"must be {form}; {name} is {shown}")
    return tuple(value.items())


_STATUS = re.compile(r"([1-5])xx|(\d{3})(?:-(\d{3}))?", re.IGNORECASE)


def expect_status(value: object) -> tuple[StatusRange, ...]:
    form = 'a list of status codes 100-599 or ranges like "2xx" or "200-299"'
    items = value if isinstance(value, list) else [value]
    if not items:
        raise Invalid(f"must be {form}, got an empty list")
    ranges = []
    for item in items:
        match = _STATUS.fullmatch(item) if isinstance(item, str) else None
        if isinstance(item, int) and not isinstance(item, bool):
            low = high = item
        elif match and match[1]:
            low, high = int(match[1]) * 100, int(match[1]) * 100 + 99
        elif match:
            low, high = int(match[2]), int(match[3] or match[2])
        else:
            raise Invalid(f"must be {form}, got {show(item)}")
        if not 100 <= low <= high <= 599:
            raise Invalid(f"must be {form}, got {show(item)}")
        ranges.append(StatusRange(low, high))
    return tuple(ranges)


def host(value: object) -> str:
    problem = f'must be a host name or IP address like "db.internal", got {show(value)}'
    if not isinstance(value, str) or not value or re.search(r"[\s/\[\]]", value):
        raise Invalid(problem)
    if ":" in value:  # only an IPv6 address may hold colons; a port goes in `port`
        try:
            ipaddress.IPv6Address(value)
        except ValueError:
            raise Invalid(f"{problem}; put the port in port") from None
    return value


_LISTEN = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[^\s:\[\]]*):(\d{1,5})")


def listen(value: object) -> str:
    form = '"host:port" like "127.0.0.1:9464", or "" to turn the HTTP endpoints off'
    match = _LISTEN.fullmatch(value) if isinstance(value, str) else None
    if value == "":
        return ""
    if not match:
        raise Invalid(f"must be {form}, got {show(value)}")
    if int(match[2]) > 65535:
        raise Invalid(f"port must be 0-65535 (0 picks a free one), got {int(match[2])}")
    return match[0]
