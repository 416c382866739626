"""Why a request cannot be built from a check's own settings: the `config` failures.

Validation refuses all of these when the config loads. A check that reaches a probe anyway (by a
rule validation does not know yet) fails as kind `config`, with one line that names the setting
to fix, instead of raising. The diagnosis asks the libraries about the check itself rather than
reading their exception's text, which changes between versions and may quote a secret.
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

from yarl import URL

from monitor.model import HttpCheck, TcpCheck

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HEADER_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # what aiohttp refuses to write
_HOST_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def http_problem(check: HttpCheck) -> str | None:
    """What in `check` keeps aiohttp from sending it, as one line; None if nothing does."""
    for name, value in check.headers:
        if found := _HEADER_CONTROL.search(name) or _HEADER_CONTROL.search(value):
            shown = name if _TOKEN.fullmatch(name) else quote(name)
            return (
                f"cannot build the request: header {shown} holds a control character "
                f"({codepoint(found[0])}); fix headers"
            )
    try:
        url = URL(check.url)
    except ValueError:
        return f"cannot build the request: {_unparsable(check.url)}; fix url"
    if url.host is None or url.scheme not in ("http", "https"):
        return "cannot build the request: url is not an http:// or https:// URL; fix url"
    if url.user or url.password:
        if any(name.lower() == "authorization" for name, _ in check.headers):
            return (
                "cannot build the request: url has credentials (user:password@) and headers "
                "set Authorization; keep one of them"
            )
        # aiohttp sends them as Basic auth, Latin-1 encoded, and refuses a ":" in the user name.
        user, password = url.user or "", url.password or ""
        if ":" in user or not _latin1(user + password):
            return (
                "cannot build the request: the credentials in url cannot be sent as HTTP Basic "
                'auth (Latin-1 text, no ":" in the user name); set an Authorization header instead'
            )
    if problem := host_problem(url.raw_host or ""):
        return f"cannot build the request: {problem}; fix url"
    return None


def tcp_problem(check: TcpCheck) -> str | None:
    """What in `check` keeps asyncio from connecting, as one line; None if nothing does."""
    if problem := host_problem(check.host):
        return f"cannot connect: {problem}; fix host"
    return None


def host_problem(host: str) -> str | None:
    """Why the resolver cannot be given `host`: what the socket module's IDNA codec refuses."""
    if _HOST_CONTROL.search(host):
        return f"host {quote(host)} is not a valid host name"
    try:
        host.encode("idna")
    except UnicodeError as exc:
        reason = exc.__cause__ or exc  # the codec's own words, like "label empty or too long"
        return f"host {quote(host)} cannot be encoded for DNS ({reason})"
    return None


def _latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def _unparsable(url: str) -> str:
    """Why yarl refuses `url`, in our words: the host, else the URL as a whole."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port out of range
    except ValueError:  # that, or unbalanced brackets
        return "url is not a valid URL"
    host = parts.hostname
    return f"host {quote(host)} is not a valid host name" if host else "url is not a valid URL"


def quote(text: str) -> str:
    """`text` in double quotes, with anything unprintable (a NUL, a zero-width space) escaped."""
    quoted = json.dumps(text, ensure_ascii=False)
    return "".join(char if char.isprintable() else f"\\u{ord(char):04x}" for char in quoted)


def codepoint(char: str) -> str:
    return f"U+{ord(char):04X}"
