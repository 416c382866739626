"""Reads checks.toml into the model, refusing anything it does not understand.

Pure: the standard library, our model, and APScheduler's cron parser used only as a validator.
Every fault in a file is collected, not just the first, so one `monitor validate` is enough to
fix it. Each message reads `<file>: <where>: <key>: <problem>` and says what would be accepted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import difflib
import ipaddress
import json
import os
import re
import tomllib
import unicodedata
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from monitor.model import (
    Check,
    Component,
    Config,
    HttpCheck,
    Maintenance,
    MonitorSettings,
    PublisherSettings,
    StatusRange,
    TcpCheck,
)

CONFIG_ENV = "MONITOR_CONFIG"
DEFAULT_CONFIG_PATH = Path("checks.toml")
PUBLISHER_TYPES = ("statuspage", "cachet", "instatus", "log", "none")
PUBLISHER_URLS = {
    "statuspage": "https://api.statuspage.io/v1",
    "instatus": "https://api.instatus.com",
}

DURATION_FORM = 'a number and a unit (ms, s, m, h, d) like "250ms", "30s", "5m", "2h" or "14d"'
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class ConfigError(Exception):
    """Everything wrong with one config file, one message a line."""

    def __init__(self, path: Path | None, errors: Sequence[str]) -> None:
        super().__init__("\n".join(errors))
        self.path = path
        self.errors = list(errors)

    def __str__(self) -> str:
        return "\n".join(self.errors)


def parse_duration(value: str) -> float:
    """Seconds in a duration such as "30s" or "1h30m".

    A bare number is refused: "30" could mean seconds or minutes, and guessing wrong is silent.
    """
    parts = list(_DURATION_PART.finditer(value)) if isinstance(value, str) else []
    if not parts or "".join(part[0] for part in parts) != value:
        raise ValueError(f"must be {DURATION_FORM}, got {_show(value)}")
    return sum(float(part[1]) * _DURATION_UNITS[part[2]] for part in parts)


def slugify(name: str) -> str:
    """The default component id: "Payment API" -> "payment-api"."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")


def resolve_config_path(option: str | None, environ: Mapping[str, str]) -> Path:
    """`-c PATH`, else $MONITOR_CONFIG, else ./checks.toml; kept as given so messages match."""
    return Path(option or environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH)


def load_config(path: Path) -> Config:
    """Reads and validates a file; an unreadable file or bad TOML is one message naming it."""
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except FileNotFoundError:
        problem = f"no such file; pass -c PATH or set ${CONFIG_ENV}"
    except IsADirectoryError:
        problem = "is a folder; expected a TOML file"
    except OSError as exc:
        problem = f"cannot read: {exc.strerror or exc}"
    except UnicodeDecodeError:
        problem = "is not UTF-8 text"
    except tomllib.TOMLDecodeError as exc:
        problem = f"invalid TOML: {exc}"
    else:
        return parse_config(data, path)
    raise ConfigError(path, [f"{path}: {problem}"])


def parse_config(data: Mapping[str, Any], path: Path) -> Config:
    """Validates a parsed file; raises one ConfigError with every fault found."""
    reader = _Reader(path)
    for key in data:
        if key not in _SECTIONS:
            reader.unknown("top level", key, _SECTIONS, noun="section")
    monitor = reader.monitor(reader.section(data, "monitor"))
    defaults, defaults_refused = reader.defaults(reader.section(data, "defaults"))
    publisher = reader.publisher(reader.section(data, "publisher"))
    if not data.get("component"):
        reader.error("top level", "component", "at least one [[component]] is required")
    ids: dict[str, tuple[str, int]] = {}  # component id -> (where, number)
    components = []
    for number, table in enumerate(reader.array("top level", data, "component"), 1):
        component = reader.component(number, table, ids, defaults, defaults_refused)
        if component is not None:
            components.append(component)
    maintenance = []
    for number, table in enumerate(reader.array("top level", data, "maintenance"), 1):
        window = reader.maintenance(number, table, list(ids))
        if window is not None:
            maintenance.append(window)
    if reader.errors:
        raise ConfigError(path, reader.errors)
    return Config(
        path=path,
        monitor=monitor,
        publisher=publisher,
        components=tuple(components),
        maintenance=tuple(maintenance),
    )


def read_api_key(
    publisher: PublisherSettings, environ: Mapping[str, str], *, path: Path | None = None
) -> str:
    """The publisher's secret, read at start-up: never stored in the config, never shown.

    `path` (the config file) only makes the messages match the ones from load_config.
    """

    def refuse(key: str, problem: str) -> ConfigError:
        where = f"{path}: [publisher]" if path else "[publisher]"
        return ConfigError(path, [f"{where}: {key}: {problem}"])

    if publisher.api_key_env:
        name = publisher.api_key_env
        if secret := environ.get(name, "").strip():
            return secret
        state = "is empty" if name in environ else "is not set"
        raise refuse(
            "api_key_env",
            f"environment variable {name} {state}; set it to the "
            f"{publisher.type} API key, or use api_key_file",
        )
    if publisher.api_key_file:
        file = publisher.api_key_file
        try:
            secret = file.read_text(encoding="utf-8").strip()
        except FileNotFoundError as exc:
            raise refuse("api_key_file", f"cannot read {file}: no such file") from exc
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise refuse("api_key_file", f"cannot read {file}: {reason}") from exc
        except UnicodeDecodeError:
            # `from None`: the decode error holds the file's bytes, which are the secret.
            raise refuse("api_key_file", f"{file} is not UTF-8 text") from None
        if secret:
            return secret
        raise refuse("api_key_file", f"{file} is empty; write the {publisher.type} API key into it")
    raise refuse(
        "api_key_env", f"{publisher.type} needs an API key; set api_key_env or api_key_file"
    )


# -- values --------------------------------------------------------------------------------------

Parser = Callable[[object], Any]


class _Invalid(Exception):
    """A refused value; the message is the problem, worded as what would be accepted."""


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _show(value: object) -> str:
    """A value as the user wrote it in TOML, for `got ...`. Only ever called on non-secrets."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _quote(value if len(value) <= 60 else value[:57] + "...")
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dict | list):
        return "a table" if isinstance(value, dict) else "a list"
    return type(value).__name__


def _fmt_duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds * 1000:g}ms" if seconds else "0s"


def _fmt_time(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _duration(minimum: float, *, inclusive: bool) -> Parser:
    bound = f"at least {_fmt_duration(minimum)}" if inclusive else "more than 0"

    def parse(value: object) -> float:
        try:
            seconds = parse_duration(value)  # type: ignore[arg-type]
        except ValueError as exc:
            raise _Invalid(str(exc)) from None
        if seconds < minimum or (seconds == minimum and not inclusive):
            raise _Invalid(f"must be {bound}, got {_show(value)}")
        return seconds

    return parse


def _integer(low: int, high: int | None = None) -> Parser:
    bound = f"{low}-{high}" if high is not None else f">= {low}"

    def parse(value: object) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _Invalid(f"must be an integer {bound}, got {_show(value)}")
        if value < low or (high is not None and value > high):
            raise _Invalid(f"must be {bound}, got {value}")
        return value

    return parse


def _boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(f"must be true or false, got {_show(value)}")
    return value


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise _Invalid(f"must be a string, got {_show(value)}")
    return value


def _nonempty(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Invalid(f"must be a non-empty string, got {_show(value)}")
    return value


def _choice(*choices: str) -> Parser:
    def parse(value: object) -> str:
        if value not in choices:
            raise _Invalid(f"must be one of {', '.join(map(_quote, choices))}, got {_show(value)}")
        return str(value)

    return parse


def _path(value: object) -> Path:
    return Path(_nonempty(value)).expanduser()


def _http_url(value: object) -> str:
    shown = re.sub(r"//[^/@]*@", "//***@", value) if isinstance(value, str) else value
    problem = f"must be an http:// or https:// URL with a host, got {_show(shown)}"
    if not isinstance(value, str) or any(char.isspace() for char in value):
        raise _Invalid(problem)
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a port out of range
    except ValueError:
        raise _Invalid(problem) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _Invalid(problem)
    return value


def _method(value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z]+", value):
        raise _Invalid(f'must be an HTTP method like "GET", "HEAD" or "POST", got {_show(value)}')
    return value.upper()


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def _headers(value: object) -> tuple[tuple[str, str], ...]:
    form = 'a table of header names to strings, like { Accept = "application/json" }'
    if not isinstance(value, dict):
        raise _Invalid(f"must be {form}, got {_show(value)}")
    for name, text in value.items():
        if not _HEADER_NAME.fullmatch(name):
            raise _Invalid(f"must be {form}; {_quote(name)} is not a valid header name")
        if not isinstance(text, str) or "\n" in text or "\r" in text:
            shown = "a multi-line string" if isinstance(text, str) else _show(text)
            raise _Invalid(f"must be {form}; {name} is {shown}")
    return tuple(value.items())


_STATUS = re.compile(r"([1-5])xx|(\d{3})(?:-(\d{3}))?", re.IGNORECASE)


def _expect_status(value: object) -> tuple[StatusRange, ...]:
    form = 'a list of status codes 100-599 or ranges like "2xx" or "200-299"'
    items = value if isinstance(value, list) else [value]
    if not items:
        raise _Invalid(f"must be {form}, got an empty list")
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
            raise _Invalid(f"must be {form}, got {_show(item)}")
        if not 100 <= low <= high <= 599:
            raise _Invalid(f"must be {form}, got {_show(item)}")
        ranges.append(StatusRange(low, high))
    return tuple(ranges)


_SIZE = re.compile(r"(\d+(?:\.\d+)?)([kmg]i?b|b)?", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "kib": 1 << 10,
    "mib": 1 << 20,
    "gib": 1 << 30,
}


def _size(value: object) -> int:
    size = 0
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    elif isinstance(value, str) and (match := _SIZE.fullmatch(value)):
        size = int(float(match[1]) * _SIZE_UNITS[(match[2] or "b").lower()])
    if size < 1:
        raise _Invalid(
            f'must be a number of bytes or a size like "64KiB" or "1MiB", '
            f"at least 1 byte, got {_show(value)}"
        )
    return size


def _host(value: object) -> str:
    problem = f'must be a host name or IP address like "db.internal", got {_show(value)}'
    if not isinstance(value, str) or not value or re.search(r"[\s/\[\]]", value):
        raise _Invalid(problem)
    if ":" in value:  # only an IPv6 address may hold colons; a port goes in `port`
        try:
            ipaddress.IPv6Address(value)
        except ValueError:
            raise _Invalid(f"{problem}; put the port in port") from None
    return value


_LISTEN = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[^\s:\[\]]*):(\d{1,5})")


def _listen(value: object) -> str:
    form = '"host:port" like "127.0.0.1:9464", or "" to turn the HTTP endpoints off'
    match = _LISTEN.fullmatch(value) if isinstance(value, str) else None
    if value == "":
        return ""
    if not match:
        raise _Invalid(f"must be {form}, got {_show(value)}")
    if int(match[2]) > 65535:
        raise _Invalid(f"port must be 0-65535 (0 picks a free one), got {int(match[2])}")
    return match[0]


def _slug(value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", value):
        raise _Invalid(
            'must be lowercase letters, digits and single dashes, like "payment-api", '
            f"got {_show(value)}"
        )
    return value


def _env_name(value: object) -> str:
    # Never shows the value: people paste the key itself here.
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
        raise _Invalid(
            "must be the name of an environment variable (letters, digits and _, "
            'like "STATUSPAGE_API_KEY"), not the key itself'
        )
    return value


def _ids(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise _Invalid(f'must be a list of component ids like ["payment-api"], got {_show(value)}')
    return tuple(value)


def _datetime(value: object) -> dt.datetime:
    form = 'an RFC 3339 date-time with a timezone, like "2026-12-01T02:00:00Z"'
    moment = value
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            moment = dt.datetime.fromisoformat(value)
    if not isinstance(moment, dt.datetime) or moment.utcoffset() is None:
        raise _Invalid(f"must be {form}, got {_show(value)}")
    return moment.astimezone(dt.UTC)


def _timezone(value: object) -> str:
    try:
        ZoneInfo(value)  # type: ignore[arg-type]
    except (KeyError, ValueError, TypeError, OSError):  # ZoneInfoNotFoundError is a KeyError
        raise _Invalid(
            f'must be an IANA time zone like "UTC" or "Europe/Berlin", got {_show(value)}'
        ) from None
    return str(value)


_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _cron_weekdays(field: str) -> str:
    """Rewrites weekday numbers as names.

    Cron counts from Sunday = 0 (7 is Sunday too), APScheduler 3 from Monday = 0; names mean the
    same to both, so "1-5" reaches the scheduler as "mon-fri".
    """
    days = []
    for item in field.split(","):
        if "/" in item:
            raise _Invalid(
                "steps in the weekday field are not supported; list the days, like "
                f'"mon,wed,fri", got {_quote(item)}'
            )
        low, dash, high = item.partition("-")
        if not low.isdigit():
            days.append(item)  # a name, a name range or "*": CronTrigger checks it
            continue
        if not (high.isdigit() or not dash) or int(low) > 7 or int(high or low) > 7:
            raise _Invalid(f"weekdays must be 0-7 or sun-sat, got {_quote(item)}")
        first, last = int(low), int(high or low)
        if first == 0 and last > 0:  # "0-5": Sunday is last in APScheduler's week
            days.append("sun")
            first = 1
        days.append(_WEEKDAYS[first] if first == last else f"{_WEEKDAYS[first]}-{_WEEKDAYS[last]}")
    return ",".join(days)


def _cron(value: object) -> str:
    form = '5 fields "minute hour day month weekday", like "0 2 * * sun"'
    fields = value.split() if isinstance(value, str) else []
    if len(fields) != 5:
        raise _Invalid(f"must be {form}, got {_show(value)}")
    fields[4] = _cron_weekdays(fields[4])
    expression = " ".join(fields)
    try:
        CronTrigger.from_crontab(expression, timezone="UTC")
    except (ValueError, TypeError) as exc:
        raise _Invalid(f"must be {form}, got {_show(value)} ({exc})") from None
    return expression


def _default_name(kind: str, values: Mapping[str, Any]) -> str:
    """http: host and path ("pay.example.com/healthz"; no credentials, no query); tcp: host:port."""
    if kind == "http":
        url: str = values["url"]
        parts = urlsplit(url)
        return parts.netloc.rpartition("@")[2] + parts.path.rstrip("/")
    host = values["host"]
    return f"[{host}]:{values['port']}" if ":" in host else f"{host}:{values['port']}"


# -- sections ------------------------------------------------------------------------------------

_SECTIONS = ("monitor", "defaults", "publisher", "component", "maintenance")
_MONITOR: dict[str, Parser] = {
    "database": _path,
    "listen": _listen,
    "retention": _duration(0, inclusive=False),
    "concurrency": _integer(1),
}
_PUBLISHER: dict[str, Parser] = {
    "type": _choice(*PUBLISHER_TYPES),
    "url": _http_url,
    "page_id": _nonempty,
    "api_key_env": _env_name,
    "api_key_file": _path,
    "monitoring_for": _duration(0, inclusive=True),
}
_COMMON: dict[str, Parser] = {
    "interval": _duration(1, inclusive=True),
    "timeout": _duration(0, inclusive=False),
    "fail_after": _integer(1),
    "recover_after": _integer(1),
    "degraded_over": _duration(0, inclusive=False),
}
_HTTP: dict[str, Parser] = {
    "url": _http_url,
    "method": _method,
    "headers": _headers,
    "body": _text,
    "expect_status": _expect_status,
    "expect_body": _nonempty,
    "follow_redirects": _boolean,
    "max_redirects": _integer(0),
    "tls_verify": _boolean,
    "max_body": _size,
}
_TCP: dict[str, Parser] = {
    "host": _host,
    "port": _integer(1, 65535),
    "send": _text,
    "expect": _nonempty,
    "tls": _boolean,
    "tls_verify": _boolean,
    "max_read": _size,
}
_CHECK_TYPES: dict[str, tuple[type[Check], dict[str, Parser], dict[str, str]]] = {
    # type: (class, its own keys, required keys with an example)
    "http": (HttpCheck, _HTTP, {"url": 'url = "https://example.com/healthz"'}),
    "tcp": (TcpCheck, _TCP, {"host": 'host = "db.internal"', "port": "port = 5432"}),
}
_DEFAULTS: dict[str, Parser] = {**_COMMON, **_HTTP, **_TCP}
_CHECK_DEFAULTS = {
    field.name: field.default
    for field in dataclasses.fields(Check)
    if field.default is not dataclasses.MISSING
}
_COMPONENT: dict[str, Parser] = {"name": _nonempty, "id": _slug, "remote_id": _nonempty}
_MAINTENANCE: dict[str, Parser] = {
    "components": _ids,
    "start": _datetime,
    "end": _datetime,
    "cron": _cron,
    "duration": _duration(0, inclusive=False),
    "timezone": _timezone,
}

ALLOWED_KEYS: Mapping[str, tuple[str, ...]] = {
    "monitor": tuple(_MONITOR),
    "defaults": tuple(_DEFAULTS),
    "publisher": tuple(_PUBLISHER),
    "component": (*_COMPONENT, "check"),
    "component.check (http)": ("type", "name", *_COMMON, *_HTTP),
    "component.check (tcp)": ("type", "name", *_COMMON, *_TCP),
    "maintenance": tuple(_MAINTENANCE),
}


class _Reader:
    """Walks one parsed file, collecting every fault instead of stopping at the first."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.folder = Path(os.path.abspath(path.parent))
        self.errors: list[str] = []

    def error(self, where: str, key: str, problem: str) -> None:
        message = f"{self.path}: {where}: {key}: {problem}"
        if message not in self.errors:
            self.errors.append(message)

    def unknown(self, where: str, key: str, allowed: Sequence[str], noun: str = "key") -> None:
        close = difflib.get_close_matches(key, allowed, n=1)
        guess = f', did you mean "{close[0]}"?' if close else ";"
        self.error(where, key, f"unknown {noun}{guess} allowed: {', '.join(allowed)}")

    def read(
        self,
        where: str,
        table: Mapping[str, Any],
        parsers: Mapping[str, Parser],
        handled: Sequence[str] = (),
    ) -> tuple[dict[str, Any], set[str]]:
        """Parses each key of `table`; returns the values and the keys refused.

        Keys in `handled` are the caller's to read: skipped here, but listed as allowed.
        """
        values: dict[str, Any] = {}
        refused: set[str] = set()
        for key, raw in table.items():
            if key in handled:
                continue
            if key not in parsers:
                self.unknown(where, key, [*parsers, *handled])
                refused.add(key)
                continue
            try:
                values[key] = parsers[key](raw)
            except _Invalid as exc:
                self.error(where, key, str(exc))
                refused.add(key)
        return values, refused

    def section(self, data: Mapping[str, Any], key: str) -> dict[str, Any]:
        value = data.get(key, {})
        if isinstance(value, dict):
            return value
        self.error("top level", key, f"must be a table, written [{key}], got {_show(value)}")
        return {}

    def array(self, where: str, data: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
        value = data.get(key, [])
        if isinstance(value, list) and all(isinstance(item, dict) for item in value):
            return value
        header = "[[component.check]]" if key == "check" else f"[[{key}]]"
        self.error(where, key, f"must be an array of tables, written {header}, got {_show(value)}")
        return []

    def resolve(self, path: Path) -> Path:
        return Path(os.path.abspath(self.folder / path))

    def monitor(self, table: Mapping[str, Any]) -> MonitorSettings:
        values, _ = self.read("[monitor]", table, _MONITOR)
        values["database"] = self.resolve(values.get("database", MonitorSettings.database))
        return MonitorSettings(**values)

    def publisher(self, table: Mapping[str, Any]) -> PublisherSettings:
        where = "[publisher]"
        if "api_key" in table:
            self.error(
                where,
                "api_key",
                "a secret never goes in the config file; name an "
                "environment variable with api_key_env or a file with api_key_file",
            )
            table = {key: value for key, value in table.items() if key != "api_key"}
        values, refused = self.read(where, table, _PUBLISHER)
        kind = values.get("type", "none")
        if "api_key_file" in values:
            values["api_key_file"] = self.resolve(values["api_key_file"])
        if "type" in refused:
            return PublisherSettings(**values)
        if kind in PUBLISHER_URLS:
            values.setdefault("url", PUBLISHER_URLS[kind])
        elif kind == "cachet" and "url" not in table:
            self.error(
                where,
                "url",
                'required for cachet: the API base, like "https://status.'
                'example.com/api/v1" (Cachet 2.x) or "https://status.example.com/api" (3.x)',
            )
        if kind in ("statuspage", "instatus") and "page_id" not in table:
            self.error(where, "page_id", f"required for {kind}: the id of the page to publish to")
        if kind in ("statuspage", "cachet", "instatus"):
            sources = {"api_key_env", "api_key_file"} & table.keys()
            if not sources:
                self.error(
                    where,
                    "api_key_env",
                    f"{kind} needs an API key: set api_key_env to "
                    "an environment variable's name, or api_key_file to a file's path",
                )
            elif len(sources) == 2:
                self.error(where, "api_key_file", "set api_key_env or api_key_file, not both")
        return PublisherSettings(**values)

    def defaults(self, table: Mapping[str, Any]) -> tuple[dict[str, Any], set[str]]:
        where = "[defaults]"
        for key in ("type", "name"):
            if key in table:
                self.error(where, key, "cannot be a default; set it on each [[component.check]]")
        table = {key: value for key, value in table.items() if key not in ("type", "name")}
        values, refused = self.read(where, table, _DEFAULTS)
        self.timing(where, _CHECK_DEFAULTS | values, set(values), refused)
        return values, refused

    def timing(
        self, where: str, values: Mapping[str, Any], own: set[str], refused: set[str]
    ) -> None:
        """timeout within interval, degraded_over within timeout: said where one was set."""
        interval, timeout, slow = values["interval"], values["timeout"], values["degraded_over"]
        pair = {"interval", "timeout"}
        if timeout > interval and own & pair and not refused & pair:
            self.error(
                where,
                "timeout",
                f"must be more than 0 and at most interval "
                f"({_fmt_duration(interval)}), got {_fmt_duration(timeout)}",
            )
        pair = {"timeout", "degraded_over"}
        if slow is not None and slow >= timeout and own & pair and not refused & pair:
            self.error(
                where,
                "degraded_over",
                f"must be more than 0 and less than timeout "
                f"({_fmt_duration(timeout)}), got {_fmt_duration(slow)}",
            )

    def check(
        self, where: str, table: Mapping[str, Any], defaults: Mapping[str, Any], refused: set[str]
    ) -> Check | None:
        kind = table.get("type")
        if not isinstance(kind, str) or kind not in _CHECK_TYPES:
            if kind is None:
                self.error(where, "type", 'required: "http" or "tcp"')
            else:
                self.error(where, "type", f'must be "http" or "tcp", got {_show(kind)}')
            return None
        cls, keys, required = _CHECK_TYPES[kind]
        where = f"{where} ({kind})"
        before = len(self.errors)
        parsers = {"name": _nonempty, **_COMMON, **keys}
        mine = {}
        for key, raw in table.items():
            other = [name for name, spec in _CHECK_TYPES.items() if key in spec[1]]
            if key not in parsers and other:
                self.error(
                    where,
                    key,
                    f"is a key of {other[0]} checks, not {kind}; allowed: "
                    f"{', '.join([*parsers, 'type'])}",
                )
            elif key != "type":
                mine[key] = raw
        own, own_refused = self.read(where, mine, parsers, handled=("type",))
        inherited = {key: value for key, value in defaults.items() if key in parsers}
        values = _CHECK_DEFAULTS | inherited | own
        for key, example in required.items():
            if key not in values and key not in own_refused:
                self.error(where, key, f"required for {kind} checks, like {example}")
        self.timing(where, values, set(own), own_refused | refused)
        if len(self.errors) > before:
            return None
        values.setdefault("name", _default_name(kind, values))
        return cls(**values)

    def component(
        self,
        number: int,
        table: Mapping[str, Any],
        ids: dict[str, tuple[str, int]],
        defaults: Mapping[str, Any],
        defaults_refused: set[str],
    ) -> Component | None:
        """Reads one [[component]]; records its id in `ids` even when invalid, for maintenance."""
        name = table.get("name")
        where = (
            f"component {_quote(name)}"
            if isinstance(name, str) and name.strip()
            else (f"component {number}")
        )
        before = len(self.errors)
        values, refused = self.read(where, table, _COMPONENT, handled=("check",))
        if "name" not in table:
            self.error(where, "name", 'required, like name = "Payment API"')
        component_id = values.get("id")
        if "id" not in table and "name" in values:
            component_id = slugify(values["name"])
            if not component_id:
                self.error(
                    where,
                    "id",
                    f"cannot be made from name {_quote(values['name'])}; set "
                    'id to lowercase letters, digits and dashes, like "payment-api"',
                )
        if component_id and component_id in ids:
            other, other_number = ids[component_id]
            if other == where:
                other = f"component {other_number}, which has the same name"
            self.error(
                where,
                "id",
                f"{_quote(component_id)} is already the id of {other}; set id to tell them apart",
            )
        elif component_id:
            ids[component_id] = (where, number)
        if table.get("check") in (None, []):
            self.error(where, "check", "at least one [[component.check]] is required")
        checks: list[Check] = []
        names: dict[str, int] = {}
        for index, raw in enumerate(self.array(where, table, "check"), 1):
            check = self.check(f"{where} check {index}", raw, defaults, defaults_refused)
            if check is None:
                continue
            if check.name in names:
                self.error(
                    f"{where} check {index} ({check.type})",
                    "name",
                    f"{_quote(check.name)} is already the name of check "
                    f"{names[check.name]}; set name to tell them apart",
                )
            names.setdefault(check.name, index)
            checks.append(check)
        if len(self.errors) > before or not component_id:
            return None
        return Component(
            id=component_id,
            name=values["name"],
            checks=tuple(checks),
            remote_id=values.get("remote_id"),
        )

    def maintenance(
        self, number: int, table: Mapping[str, Any], known: Collection[str]
    ) -> Maintenance | None:
        where = f"maintenance {number}"
        before = len(self.errors)
        values, _ = self.read(where, table, _MAINTENANCE)
        if "components" not in table:
            self.error(where, "components", 'required, a list of component ids like ["api"]')
        for component_id in values.get("components", ()):
            if component_id not in known:
                self.error(
                    where,
                    "components",
                    f"unknown component {_quote(component_id)}; "
                    f"known: {', '.join(map(_quote, known)) or 'none'}",
                )
        once, recurring = {"start", "end"} & table.keys(), {"cron", "duration"} & table.keys()
        if once and recurring:
            self.error(
                where,
                "cron",
                "cannot be combined with start and end: a window is "
                "either start + end, or cron + duration",
            )
        elif not once and not recurring:
            self.error(
                where,
                "start",
                "required: a window is either start + end (RFC 3339 "
                "date-times), or cron + duration",
            )
        elif once:
            for key, other in (("start", "end"), ("end", "start")):
                if key not in table:
                    self.error(
                        where, key, f'required with {other}, like {key} = "2026-12-01T02:00:00Z"'
                    )
            if "timezone" in table:
                self.error(
                    where,
                    "timezone",
                    "only applies to cron; start and end carry their own UTC offset",
                )
            start, end = values.get("start"), values.get("end")
            if start and end and end <= start:
                self.error(
                    where, "end", f"must be after start ({_fmt_time(start)}), got {_fmt_time(end)}"
                )
        else:
            if "cron" not in table:
                self.error(where, "cron", 'required with duration, like cron = "0 2 * * sun"')
            if "duration" not in table:
                self.error(where, "duration", 'required with cron, like duration = "2h"')
        if len(self.errors) > before:
            return None
        return Maintenance(**values)
