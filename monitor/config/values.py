"""The plain value parsers: TOML's value in, the model's value out, or Invalid.

An Invalid's message is only the problem, worded as what would be accepted; the reader adds the
file, the place and the key. Parsers with a bound are made by a factory (`duration(1, ...)`), so a
key table can say the bound beside the key.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import string
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

Parser = Callable[[object], Any]

DURATION_FORM = 'a number and a unit (ms, s, m, h, d) like "250ms", "30s", "5m", "2h" or "14d"'
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class Invalid(Exception):
    """A refused value; the message is the problem, worded as what would be accepted."""


def quote(text: str) -> str:
    """`text` in double quotes, with anything unprintable (a NUL, a zero-width space) escaped."""
    quoted = json.dumps(text, ensure_ascii=False)
    return "".join(char if char.isprintable() else f"\\u{ord(char):04x}" for char in quoted)


def show(value: object) -> str:
    """A value as the user wrote it in TOML, for `got ...`. Only ever called on non-secrets."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return quote(value if len(value) <= 60 else value[:57] + "...")
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dict | list):
        return "a table" if isinstance(value, dict) else "a list"
    return type(value).__name__


def fmt_duration(seconds: float) -> str:
    for unit, length in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= length and seconds % length == 0:
            return f"{int(seconds // length)}{unit}"
    return f"{seconds * 1000:g}ms" if seconds else "0s"


def fmt_time(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def parse_duration(value: str) -> float:
    """Seconds in a duration such as "30s" or "1h30m".

    A bare number is refused: "30" could mean seconds or minutes, and guessing wrong is silent.
    """
    parts = list(_DURATION_PART.finditer(value)) if isinstance(value, str) else []
    if not parts or "".join(part[0] for part in parts) != value:
        raise ValueError(f"must be {DURATION_FORM}, got {show(value)}")
    return sum(float(part[1]) * _DURATION_UNITS[part[2]] for part in parts)


def slugify(name: str) -> str:
    """The default component id: "Payment API" -> "payment-api"."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")


def duration(minimum: float, *, inclusive: bool) -> Parser:
    bound = f"at least {fmt_duration(minimum)}" if inclusive else "more than 0"

    def parse(value: object) -> float:
        try:
            seconds = parse_duration(value)  # type: ignore[arg-type]
        except ValueError as exc:
            raise Invalid(str(exc)) from None
        if seconds < minimum or (seconds == minimum and not inclusive):
            raise Invalid(f"must be {bound}, got {show(value)}")
        return seconds

    return parse


def integer(low: int, high: int | None = None) -> Parser:
    bound = f"{low}-{high}" if high is not None else f">= {low}"

    def parse(value: object) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise Invalid(f"must be an integer {bound}, got {show(value)}")
        if value < low or (high is not None and value > high):
            raise Invalid(f"must be {bound}, got {value}")
        return value

    return parse


TEMPLATE_FIELDS = ("component", "status", "reason", "since", "until")


def template(value: object) -> str:
    """Text with {fields} from TEMPLATE_FIELDS, like "{component}: {status}"."""
    if not isinstance(value, str) or not value.strip():
        raise Invalid(f"must be a non-empty string, got {show(value)}")
    try:
        fields = [field for _, field, _, _ in string.Formatter().parse(value) if field is not None]
    except ValueError as exc:
        raise Invalid(
            f"is not a valid template ({exc}); write {{ and }} as {{{{ and }}}}"
        ) from None
    unknown = [f for f in fields if f not in TEMPLATE_FIELDS]
    if unknown:
        raise Invalid(
            f"unknown field {{{unknown[0]}}}; allowed: "
            + ", ".join(f"{{{f}}}" for f in TEMPLATE_FIELDS)
        )
    return value


def positive_number(value: object) -> float:
    """A number above 0, like 1 or 0.5."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid(f"must be a number above 0, like 1 or 0.5, got {show(value)}")
    if value <= 0:
        raise Invalid(f"must be above 0, like 1 or 0.5, got {value}")
    return float(value)


def fraction(value: object) -> float:
    """A share from 0 to 1, like 0.3 (30%)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid(f"must be a number from 0 to 1, like 0.3, got {show(value)}")
    if not 0 <= value <= 1:
        raise Invalid(f"must be from 0 to 1, like 0.3, got {value}")
    return float(value)


def choice(*choices: str) -> Parser:
    def parse(value: object) -> str:
        if value not in choices:
            raise Invalid(f"must be one of {', '.join(map(quote, choices))}, got {show(value)}")
        return str(value)

    return parse


def boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise Invalid(f"must be true or false, got {show(value)}")
    return value


def text(value: object) -> str:
    if not isinstance(value, str):
        raise Invalid(f"must be a string, got {show(value)}")
    return value


def nonempty(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid(f"must be a non-empty string, got {show(value)}")
    return value


def path(value: object) -> Path:
    return Path(nonempty(value)).expanduser()


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


def size(value: object) -> int:
    count = 0
    if isinstance(value, int) and not isinstance(value, bool):
        count = value
    elif isinstance(value, str) and (match := _SIZE.fullmatch(value)):
        count = int(float(match[1]) * _SIZE_UNITS[(match[2] or "b").lower()])
    if count < 1:
        raise Invalid(
            f'must be a number of bytes or a size like "64KiB" or "1MiB", '
            f"at least 1 byte, got {show(value)}"
        )
    return count


def slug(value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", value):
        raise Invalid(
            'must be lowercase letters, digits and single dashes, like "payment-api", '
            f"got {show(value)}"
        )
    return value


def env_name(value: object) -> str:
    # Never shows the value: people paste the key itself here.
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
        raise Invalid(
            "must be the name of an environment variable (letters, digits and _, "
            'like "STATUSPAGE_API_KEY"), not the key itself'
        )
    return value


def ids(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise Invalid(f'must be a list of component ids like ["payment-api"], got {show(value)}')
    return tuple(value)
