"""URLs as they may be shown: in messages, check names, logs and the database.

`redact_url` is the one way a URL leaves the monitor: the password replaced (`user:***@host`), a
user without a password (often a token) hidden whole, and the values of the query and the
fragment hidden (`?token=***`) unless the check opts in with `show_query`. The probe itself
always sends the URL as written.

The userinfo ends at the rightmost "@" of the authority, as urllib, yarl and browsers read it, so
a password holding "@" is hidden whole. A password holding an unencoded "/", "?" or "#" ends the
authority early, leaving a host and port that no parser accepts (`user:se` of
`https://user:se/cretPW@host/`); then everything up to the URL's last "@" counts as userinfo.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from monitor.model import Check, HttpCheck

HIDDEN = "***"

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_AUTHORITY_END = re.compile(r"[/?#]")  # where urllib and yarl end it
_HOST_PORT = re.compile(r"(?:\[[^\]]*\]|[^:\[\]@]*)(?::[0-9]*)?")
# A URL in free text, such as a log line: up to a space or a quote.
URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>`]+")


@dataclass(frozen=True, slots=True)
class UrlParts:
    """A URL cut where it is shown differently; each part as written."""

    scheme: str  # with "://"
    userinfo: str | None  # None without an "@"
    host: str  # host and port
    path: str
    query: str | None  # None without a "?"
    fragment: str | None  # None without a "#"


def split_url(url: str) -> UrlParts | None:
    """`url` in its parts; None if it does not start with a scheme and "://"."""
    match = _SCHEME.match(url)
    if match is None:
        return None
    rest = url[match.end() :]
    authority, tail = _cut_authority(rest)
    userinfo: str | None
    userinfo, at, host = authority.rpartition("@")
    if not at and "@" in tail and not _HOST_PORT.fullmatch(authority):
        last = tail.rindex("@")
        userinfo, (host, tail) = authority + tail[:last], _cut_authority(tail[last + 1 :])
    elif not at:
        userinfo = None
    rest, hash_, fragment = tail.partition("#")
    path, mark, query = rest.partition("?")
    return UrlParts(
        scheme=match[0],
        userinfo=userinfo,
        host=host,
        path=path,
        query=query if mark else None,
        fragment=fragment if hash_ else None,
    )


def _cut_authority(rest: str) -> tuple[str, str]:
    end = _AUTHORITY_END.search(rest)
    return (rest[: end.start()], rest[end.start() :]) if end else (rest, "")


def redact_url(url: str, *, show_query: bool = False) -> str:
    """`url` as it may be shown: no password, no query values unless `show_query`."""
    parts = split_url(url)
    if parts is None:
        return url
    shown = parts.scheme
    if parts.userinfo is not None:
        user, colon, _ = parts.userinfo.partition(":")
        shown += f"{user}:{HIDDEN}@" if colon and user else f"{HIDDEN}@"
    shown += parts.host + parts.path
    if parts.query is not None:
        shown += "?" + (parts.query if show_query else _hide_values(parts.query))
    if parts.fragment is not None:
        shown += "#" + (parts.fragment if show_query or not parts.fragment else HIDDEN)
    return shown


def _hide_values(query: str) -> str:
    """`a=1&b=&c` -> `a=***&b=&c=***`: the names stay, every value goes (a bare item may be a
    token itself)."""
    items = []
    for item in query.split("&"):
        name, equals, value = item.partition("=")
        if equals:
            items.append(f"{name}={HIDDEN}" if value else item)
        else:
            items.append(HIDDEN if item else item)
    return "&".join(items)


def redact_urls(text: str) -> str:
    """`text` with every URL in it redacted, query values always: for log lines."""
    return URL_IN_TEXT.sub(lambda match: redact_url(match[0]), text)


def host_and_path(url: str) -> str:
    """Host and path, like "pay.example.com/healthz": a check's default name, which has no
    credentials and no query whatever the check shows."""
    parts = split_url(url)
    if parts is None:
        return url
    return parts.host + parts.path.rstrip("/")


def shown_target(check: Check) -> str:
    """What a check is aimed at, as stored and shown: an HTTP check's URL redacted."""
    if isinstance(check, HttpCheck):
        return redact_url(check.url, show_query=check.show_query)
    return check.target
