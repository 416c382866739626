"""Parsers for values that name something on the network or in HTTP: URLs, hosts, addresses.

Each refuses early what a probe or the server would only fail on later, and a URL's credentials
never reach a message: a URL is only ever shown through urls.redact_url.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from urllib.parse import unquote, urlsplit

from monitor.config.hosts import codepoint, name_problem
from monitor.config.urls import redact_url, split_url
from monitor.config.values import Invalid, JsonSchema, accepts, anycase, quote, show
from monitor.model import StatusRange

# The patterns of the JSON Schema (`monitor schema`): as much of each rule below as a regular
# expression can say, in the dialect JSON Schema and editors share (ECMA-262, no flags, no
# look-around), and never more: a value these refuse, the parser refuses too.
_NAME_CHAR = r"[A-Za-z0-9_-]"
# Not ASCII, and none of the spaces and invisible characters hosts.unseen_character refuses.
_OTHER_CHAR = r"[^\u0000-\u00a0\u00ad\u1680\u2000-\u200f\u2028-\u202f\u205f-\u2064\u3000\ufeff]"
# A label: up to 63 ASCII characters (DNS's limit), or any length with others (their punycode
# length is the parser's to judge); a name is labels joined by single dots, with one at the end.
_LABEL = rf"({_NAME_CHAR}{{1,63}}|{_NAME_CHAR}*{_OTHER_CHAR}({_NAME_CHAR}|{_OTHER_CHAR})*)"
HOST_NAME_PATTERN = rf"{_LABEL}(\.{_LABEL})*\.?"
PORT_PATTERN = (
    r"(0{0,4}[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
)
_URL_CONTROL = r"\s\u0000-\u001f\u007f-\u009f"
URL_PATTERN = (
    rf"^[Hh][Tt][Tt][Pp][Ss]?://([^{_URL_CONTROL}/?#]*@)?"
    rf"(\[[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*(%25[^{_URL_CONTROL}/?#\]]+)?\]|{HOST_NAME_PATTERN})"
    rf"(:{PORT_PATTERN}?)?([/?#][^{_URL_CONTROL}]*)?$"
)


@accepts(
    {
        "type": "string",
        "pattern": URL_PATTERN,
        "examples": ["https://example.com/healthz"],
        "description": "An http:// or https:// URL with a host.",
    }
)
def http_url(value: object) -> str:
    shown = redact_url(value) if isinstance(value, str) else value
    problem = f"must be an http:// or https:// URL with a host, got {show(shown)}"
    if not isinstance(value, str) or any(char.isspace() for char in value):
        raise Invalid(problem)
    if control := next((char for char in value if unicodedata.category(char) == "Cc"), None):
        raise Invalid(
            f"contains a control character ({codepoint(control)}); remove it, or "
            f"percent-encode it (like %{ord(control):02X}) in a path or query"
        )
    authority = _AUTHORITY.match(value)
    shown_parts = split_url(value)
    if authority and "@" not in authority["netloc"] and shown_parts and shown_parts.userinfo:
        raise Invalid(
            'has an "@" after the host: if user:password@ comes before it, the password must '
            'have "/", "?" and "#" percent-encoded (%2F, %3F, %23)'
        )
    if authority and authority["scheme"].lower() in ("http", "https"):
        userinfo, at, host_port = authority["netloc"].rpartition("@")
        _check_host_port(host_port, "url")
        if at and not _basic_auth_ok(userinfo):
            raise Invalid(
                'credentials (user:password@) must be Latin-1 text with no ":" in the user '
                "name, as HTTP Basic auth needs; or remove them and set an Authorization header"
            )
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a port out of range
    except ValueError:
        raise Invalid(problem) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid(problem)
    return value


def has_credentials(url: str) -> bool:
    """Whether `url` carries a user or a password, which aiohttp sends as Basic auth."""
    parts = urlsplit(url)
    return bool(parts.username or parts.password)


_AUTHORITY = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<netloc>[^/?#]*)")
_HOST_PORT = re.compile(r"(?P<host>\[[^\]]*\]|[^:\[\]]*)(?::(?P<port>[^:]*))?")


def _check_host_port(text: str, key: str) -> None:
    """A URL's "host:port" (IPv6 in brackets), or a Host header's; empty parts are the caller's.

    `key` starts the messages: "url" says "host ..."; "Host" (the header) says "Host ...".
    """
    example = "http://[::1]:8080/" if key == "url" else "[::1]:8080"
    subject = "host" if key == "url" else "Host"
    match = _HOST_PORT.fullmatch(text)
    if not match:
        raise Invalid(
            f"{quote(text)} is not a host and port; an IPv6 address goes in brackets, "
            f"like {quote(example)}"
        )
    host, port = match["host"], match["port"]
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1].replace("%25", "%", 1))
        except ValueError:
            raise Invalid(
                f"{subject} {quote(host)} is not an IPv6 address; only an IPv6 address goes in "
                f"brackets, like {quote(example)}"
            ) from None
    elif host and (problem := name_problem(host, f"{subject} ")):
        raise Invalid(problem)
    digits = bool(port) and re.fullmatch(r"[0-9]+", port) is not None  # not isdigit: "²" is one
    if port and (not digits or len(port) > 5 or not 1 <= int(port) <= 65535):
        got = show(int(port[:24])) if digits else quote(port)  # int(): no leading zeros
        prefix = "port" if key == "url" else "Host port"
        raise Invalid(f"{prefix} must be 1-65535, got {got}")


def _basic_auth_ok(userinfo: str) -> bool:
    user, _, password = userinfo.partition(":")
    user, password = unquote(user), unquote(password)
    try:
        f"{user}:{password}".encode("latin-1")
    except UnicodeEncodeError:
        return False
    return ":" not in user


@accepts({"type": "string", "pattern": "^[A-Za-z]+$", "examples": ["GET"]})
def method(value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z]+", value):
        raise Invalid(f'must be an HTTP method like "GET", "HEAD" or "POST", got {show(value)}')
    return value.upper()


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an RFC 9110 token
_HEADER_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # all but tab, as aiohttp refuses
# Headers aiohttp writes itself from the request; a second, different one breaks its framing.
_SET_BY_CLIENT = {
    "content-length": "is set by the client from body; remove it",
    "transfer-encoding": (
        "is set by the client, which sends body with a Content-Length; remove it"
    ),
}


_HEADERS_SCHEMA: JsonSchema = {
    "type": "object",
    "propertyNames": {
        "pattern": "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$",
        "not": {"pattern": f"^({'|'.join(map(anycase, _SET_BY_CLIENT))})$"},
    },
    "additionalProperties": {
        "type": "string",
        "pattern": r"^[^\u0000-\u0008\u000a-\u001f\u007f]*$",
    },
    "examples": [{"Accept": "application/json"}],
}


@accepts(_HEADERS_SCHEMA)
def headers(value: object) -> tuple[tuple[str, str], ...]:
    """Header names to values. A value is never shown: it is often a token."""
    form = 'a table of header names to strings, like { Accept = "application/json" }'
    if not isinstance(value, dict):
        raise Invalid(f"must be {form}, got {show(value)}")
    for name, text in value.items():
        if not _HEADER_NAME.fullmatch(name):
            raise Invalid(f"must be {form}; {quote(name)} is not a valid header name")
        if not isinstance(text, str) or "\n" in text or "\r" in text:
            shown = "a multi-line string" if isinstance(text, str) else show(text)
            raise Invalid(f"must be {form}; {name} is {shown}")
        if control := _HEADER_CONTROL.search(text):
            raise Invalid(f"{name} holds a control character ({codepoint(control[0])}); remove it")
        if name.lower() in _SET_BY_CLIENT:
            raise Invalid(f"{name} {_SET_BY_CLIENT[name.lower()]}")
        if name.lower() == "host":
            if not text or text.startswith(":"):
                raise Invalid(
                    'Host must be a host and an optional port, like "api.example.com:8443", '
                    f"got {show(text)}"
                )
            _check_host_port(text, "Host")
    return tuple(value.items())


_STATUS = re.compile(r"([1-5])xx|([0-9]{3})(?:-([0-9]{3}))?", re.IGNORECASE)


_STATUS_SCHEMA: JsonSchema = {
    "anyOf": [
        {"type": "integer", "minimum": 100, "maximum": 599},
        {"type": "string", "pattern": "^([1-5][Xx][Xx]|[1-5][0-9]{2}(-[1-5][0-9]{2})?)$"},
    ]
}


@accepts(
    {
        "anyOf": [_STATUS_SCHEMA, {"type": "array", "items": _STATUS_SCHEMA, "minItems": 1}],
        "examples": [["2xx"]],
    }
)
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


@accepts(
    {
        "type": "string",
        "anyOf": [
            {"pattern": f"^{HOST_NAME_PATTERN}$"},
            {"pattern": r"^[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*(%[^\s/\[\]]+)?$"},  # IPv6, no brackets
        ],
        "examples": ["db.internal"],
    }
)
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
    if name_problem_ := name_problem(value):
        raise Invalid(name_problem_)
    return value


_LISTEN = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[^\s:\[\]]*):([0-9]{1,5})")


@accepts(
    {
        "type": "string",
        "pattern": r"^((\[[0-9A-Fa-f:.]+\]|[^\s:\[\]]*):(0{1,5}|" + PORT_PATTERN + "))?$",
        "examples": ["127.0.0.1:9464"],
    }
)
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
