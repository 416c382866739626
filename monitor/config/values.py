"""The plain value parsers: TOML's value in, the model's value out, or Invalid.

An Invalid's message is only the problem, worded as what would be accepted; the reader adds the
file, the place and the key. Parsers with a bound are made by a factory (`duration(1, ...)`), so a
key table can say the bounds beside the key. Every number has both bounds: a value past them
(an interval of 3,000,000 days, a threshold of 10**30, nan) is refused here, where the message
can name the key, instead of failing later in the scheduler or the database.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import string
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

Parser = Callable[[object], Any]
JsonSchema = dict[str, Any]
_P = TypeVar("_P", bound=Callable[..., Any])

DURATION_FORM = 'a number and a unit (ms, s, m, h, d) like "250ms", "30s", "5m", "2h" or "14d"'
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)", re.ASCII)
# parse_duration's rule as one pattern: the parts, joined, with nothing between or around them.
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h|d))+$"
DAY = 86400.0
YEAR = 365 * DAY
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class Invalid(Exception):
    """A refused value; the message is the problem, worded as what would be accepted."""


def accepts(schema: JsonSchema) -> Callable[[_P], _P]:
    """Marks a parser with the JSON Schema of what it takes, for `monitor schema`.

    The fragment says as much of the parser's rule as a schema can, never more: an editor must
    accept every value the loader does. What it cannot say (a duration's bounds, a host's
    length) stays the parser's alone. `examples` holds one value the parser takes.
    """

    def mark(parse: _P) -> _P:
        parse.__dict__["schema"] = schema
        return parse

    return mark


def schema_of(parser: Parser) -> JsonSchema:
    """The JSON Schema fragment of `parser`; LookupError names a parser that has none."""
    schema = getattr(parser, "schema", None)
    if not isinstance(schema, dict):
        name = getattr(parser, "__qualname__", repr(parser))
        raise LookupError(f"parser {name} has no JSON Schema: mark it with @accepts(...)")
    return schema


def anycase(word: str) -> str:
    """A regular expression for `word` in any case, as JSON Schema patterns take no flags."""
    assert re.fullmatch(r"[A-Za-z0-9-]+", word), word  # nothing to escape, in any dialect
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in word)


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
        text = repr(value)
        return text if len(text) <= 24 else text[:21] + "..."
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


def duration(minimum: float, maximum: float, *, inclusive: bool) -> Parser:
    """A duration from `minimum` (itself too if `inclusive`) to `maximum`."""
    bound = f"at least {fmt_duration(minimum)}" if inclusive else "more than 0"
    example = "30s" if minimum < 30 <= maximum else fmt_duration(maximum)

    @accepts(
        {
            "type": "string",
            "pattern": DURATION_PATTERN,
            "examples": [example],
            "description": f'A duration like "30s" (ms, s, m, h, d), {bound}, '
            f"at most {fmt_duration(maximum)}.",
        }
    )
    def parse(value: object) -> float:
        try:
            seconds = parse_duration(value)  # type: ignore[arg-type]
        except ValueError as exc:
            raise Invalid(str(exc)) from None
        if seconds < minimum or (seconds == minimum and not inclusive):
            raise Invalid(f"must be {bound}, got {show(value)}")
        if seconds > maximum:  # inf too, from a number of hundreds of digits
            raise Invalid(f"must be at most {fmt_duration(maximum)}, got {show(value)}")
        return seconds

    return parse


def integer(low: int, high: int) -> Parser:
    bound = f"{low}-{high}"

    @accepts({"type": "integer", "minimum": low, "maximum": high, "examples": [low]})
    def parse(value: object) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise Invalid(f"must be an integer {bound}, got {show(value)}")
        if not low <= value <= high:
            raise Invalid(f"must be {bound}, got {show(value)}")
        return value

    return parse


def auto_or_integer(low: int, high: int) -> Parser:
    """An integer from `low` to `high`, or "auto" (None: the daemon decides)."""
    forms = f'"auto" or an integer {low}-{high}'

    @accepts(
        {
            "anyOf": [{"const": "auto"}, {"type": "integer", "minimum": low, "maximum": high}],
            "examples": ["auto"],
        }
    )
    def parse(value: object) -> int | None:
        if value == "auto":
            return None
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise Invalid(f"must be {forms}, got {show(value)}")
        return value

    return parse


TEMPLATE_FIELDS = ("component", "status", "reason", "since", "until")
# Text, {{ and }}, and plain {field}s; at least one part that is not blank.
_TEMPLATE_PART = r"\{\{|\}\}|\{(" + "|".join(TEMPLATE_FIELDS) + r")\}"
TEMPLATE_PATTERN = (
    rf"^([^{{}}]|{_TEMPLATE_PART})*([^{{}}\s]|{_TEMPLATE_PART})([^{{}}]|{_TEMPLATE_PART})*$"
)


@accepts(
    {
        "type": "string",
        "pattern": TEMPLATE_PATTERN,
        "examples": ["{component}: {status}"],
        "description": "Text with the fields "
        + ", ".join(f"{{{f}}}" for f in TEMPLATE_FIELDS)
        + ", written plain; {{ and }} for braces.",
    }
)
def template(value: object) -> str:
    """Text with {fields} from TEMPLATE_FIELDS, like "{component}: {status}"."""
    if not isinstance(value, str) or not value.strip():
        raise Invalid(f"must be a non-empty string, got {show(value)}")
    try:
        parts = [part for part in string.Formatter().parse(value) if part[1] is not None]
    except ValueError as exc:
        raise Invalid(
            f"is not a valid template ({exc}); write {{ and }} as {{{{ and }}}}"
        ) from None
    unknown = [field for _, field, _, _ in parts if field not in TEMPLATE_FIELDS]
    if unknown:
        raise Invalid(
            f"unknown field {{{unknown[0]}}}; allowed: "
            + ", ".join(f"{{{f}}}" for f in TEMPLATE_FIELDS)
        )
    # A format like {reason:>999999999} or {reason:{9}} fails or fills memory when publishing.
    for _, field, spec, conversion in parts:
        if spec or conversion:
            written = f"{field}!{conversion}" if conversion else f"{field}"
            written += f":{spec}" if spec else ""
            raise Invalid(
                f"field {quote('{' + written + '}')} has a format; write it plain, like {{{field}}}"
            )
    return value


def number(low: float, high: float, example: str) -> Parser:
    """An integer or a float from `low` to `high`; nan and the infinities are refused by name,
    since nan passes no comparison and would pass any bound written the other way round."""
    bound = f"from {low:g} to {high:g}, like {example}"

    @accepts(
        {
            "type": "number",
            "minimum": low,
            "maximum": high,
            "examples": [float(example.split()[0])],
        }
    )
    def parse(value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Invalid(f"must be a number {bound}, got {show(value)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise Invalid(f"must be a finite number {bound}, got {show(value)}")
        if not low <= value <= high:
            raise Invalid(f"must be {bound}, got {show(value)}")
        return float(value)

    return parse


fraction = number(0, 1, "0.3")  # a share, like 0.3 for 30%


def choice(*choices: str) -> Parser:
    @accepts({"type": "string", "enum": list(choices), "examples": [choices[0]]})
    def parse(value: object) -> str:
        if value not in choices:
            raise Invalid(f"must be one of {', '.join(map(quote, choices))}, got {show(value)}")
        return str(value)

    return parse


@accepts({"type": "boolean", "examples": [True]})
def boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise Invalid(f"must be true or false, got {show(value)}")
    return value


@accepts({"type": "string", "examples": ["PING"]})
def text(value: object) -> str:
    if not isinstance(value, str):
        raise Invalid(f"must be a string, got {show(value)}")
    return value


NONBLANK = r"\S"  # a string that is not only whitespace


@accepts({"type": "string", "pattern": NONBLANK, "examples": ["ok"]})
def nonempty(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid(f"must be a non-empty string, got {show(value)}")
    return value


@accepts(
    {
        "type": "string",
        "pattern": r"^[^\u0000]*[^\s\u0000][^\u0000]*$",
        "examples": ["state/monitor.db"],
        "description": "A path; relative to the config file's folder, ~ expanded.",
    }
)
def path(value: object) -> Path:
    text = nonempty(value)
    if "\0" in text:  # no file system takes one; os.open would raise ValueError
        raise Invalid("must be a path, which cannot hold a NUL character (U+0000)")
    try:
        return Path(text).expanduser()
    except RuntimeError:  # "~name/..." where no user is called name
        user = text.split("/", 1)[0]
        raise Invalid(f"starts with {quote(user)}, but there is no such user here") from None


_SIZE = re.compile(r"(\d+(?:\.\d+)?)([kmg]i?b|b)?", re.IGNORECASE | re.ASCII)
MAX_SIZE = 1 << 30
_SIZE_UNITS = {
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "kib": 1 << 10,
    "mib": 1 << 20,
    "gib": 1 << 30,
}


@accepts(
    {
        "anyOf": [
            {"type": "integer", "minimum": 1, "maximum": MAX_SIZE},
            {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?([KkMmGg][Ii]?[Bb]|[Bb])?$"},
        ],
        "examples": ["64KiB"],
        "description": 'Bytes, or a size like "64KiB" or "1MB", from 1 byte to 1GiB.',
    }
)
def size(value: object) -> int:
    """Bytes, from 1 to MAX_SIZE: a number, or a string with a unit like "64KiB"."""
    count: float = 0
    if isinstance(value, int) and not isinstance(value, bool):
        count = value
    elif isinstance(value, str) and (match := _SIZE.fullmatch(value)):
        count = float(match[1]) * _SIZE_UNITS[(match[2] or "b").lower()]  # inf if hundreds long
    if not 1 <= count <= MAX_SIZE:
        raise Invalid(
            f'must be a number of bytes or a size like "64KiB" or "1MiB", '
            f"from 1 byte to 1GiB, got {show(value)}"
        )
    return int(count)


OUTAGE_STATUSES = ("major_outage", "partial_outage", "degraded_performance")


@accepts(
    {
        "type": "array",
        "items": {"type": "string", "enum": list(OUTAGE_STATUSES)},
        "uniqueItems": True,
        "examples": [["major_outage", "partial_outage"]],
    }
)
def outage_statuses(value: object) -> tuple[str, ...]:
    """A list of distinct outage statuses, like ["major_outage", "partial_outage"]; [] is none."""
    choices = ", ".join(map(quote, OUTAGE_STATUSES))
    if not isinstance(value, list):
        raise Invalid(
            f'must be a list of statuses like ["major_outage", "partial_outage"] (any of '
            f"{choices}; [] for none), got {show(value)}"
        )
    for each in value:
        if each not in OUTAGE_STATUSES:
            raise Invalid(f"must list only {choices}, got {show(each)}")
    for each in value:
        if value.count(each) > 1:
            raise Invalid(f"lists {quote(each)} twice")
    return tuple(value)


MAX_PUBLIC_NAME = 255  # an incident's name on Statuspage and Cachet holds at most 255


_CONTROL = r"\u0000-\u001f\u007f-\u009f\u2028\u2029"  # a line of printable text holds none


@accepts(
    {
        "type": "string",
        "pattern": rf"^[^{_CONTROL}]*[^{_CONTROL}\s][^{_CONTROL}]*$",
        "maxLength": MAX_PUBLIC_NAME,
        "examples": ["Payments"],
    }
)
def public_name(value: object) -> str:
    """A name for the public page: one line of printable text, at most MAX_PUBLIC_NAME long."""
    if (
        not isinstance(value, str)
        or not value.strip()
        or not value.isprintable()
        or len(value) > MAX_PUBLIC_NAME
    ):
        raise Invalid(
            f"must be one line of printable text of 1 to {MAX_PUBLIC_NAME} characters, "
            f'like "Payments", got {show(value)}'
        )
    return value.strip()


SLUG_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"


@accepts({"type": "string", "pattern": SLUG_PATTERN, "examples": ["payment-api"]})
def slug(value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", value):
        raise Invalid(
            'must be lowercase letters, digits and single dashes, like "payment-api", '
            f"got {show(value)}"
        )
    return value


def env_var(example: str, secret: str) -> Parser:
    """The name of an environment variable holding `secret` (like "the key").

    Never shows the value: people paste the secret itself here.
    """

    @accepts({"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$", "examples": [example]})
    def parse(value: object) -> str:
        if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise Invalid(
                "must be the name of an environment variable (letters, digits and _, "
                f"like {quote(example)}), not {secret} itself"
            )
        return value

    return parse


env_name = env_var("STATUSPAGE_API_KEY", "the key")

_CLUSTER_NAME = re.compile(r"[A-Za-z0-9._-]{1,63}", re.ASCII)
CLUSTER_NAME_FORM = 'must be 1-63 characters of letters, digits, ".", "_" and "-"'
_CLUSTER_NAME_SCHEMA: JsonSchema = {"type": "string", "pattern": r"^[A-Za-z0-9._-]{1,63}$"}


@accepts({**_CLUSTER_NAME_SCHEMA, "examples": ["eu-west"]})
def cluster_name(value: object) -> str:
    """A cluster node's or location's name, like "web-1" or "eu-west": short, and safe in a
    log line, a metric label and a database row without quoting."""
    if not isinstance(value, str) or not _CLUSTER_NAME.fullmatch(value):
        raise Invalid(f'{CLUSTER_NAME_FORM}, like "web-1" or "eu-west", got {show(value)}')
    return value


MAX_LOCATIONS = 32  # a component probed from more places than this is a mistake, not a plan


@accepts(
    {
        "type": "array",
        "items": _CLUSTER_NAME_SCHEMA,
        "minItems": 1,
        "maxItems": MAX_LOCATIONS,
        "uniqueItems": True,
        "examples": [["eu-west", "us-east"]],
    }
)
def locations(value: object) -> tuple[str, ...]:
    """A component's probe locations: 1 to MAX_LOCATIONS distinct names, each as [cluster]
    location takes it, like ["eu-west", "us-east"]."""
    if not isinstance(value, list) or not value:
        raise Invalid(
            f'must be a list of 1 to {MAX_LOCATIONS} location names like ["eu-west", '
            f'"us-east"], got {"an empty list" if value == [] else show(value)}'
        )
    if len(value) > MAX_LOCATIONS:
        raise Invalid(f"must list at most {MAX_LOCATIONS} locations, got {len(value)}")
    for each in value:
        if not isinstance(each, str) or not _CLUSTER_NAME.fullmatch(each):
            raise Invalid(f'each location {CLUSTER_NAME_FORM}, like "eu-west", got {show(each)}')
    for each in value:
        if value.count(each) > 1:
            raise Invalid(f"lists {quote(each)} twice")
    return tuple(value)


def node_from_host(hostname: str) -> str:
    """The default node name: the host name with any other character made a "-", cut to 63."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", hostname, flags=re.ASCII)[:63].strip("-")
    return name or "node"


@accepts(
    {
        "type": "array",
        "items": {"type": "string"},
        "minItems": 1,
        "examples": [["payment-api"]],
    }
)
def ids(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise Invalid(f'must be a list of component ids like ["payment-api"], got {show(value)}')
    return tuple(value)
