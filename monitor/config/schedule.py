"""Parsers for maintenance windows: date-times, time zones and cron expressions.

APScheduler's CronTrigger is used only as a validator, so a cron that parses here is one the
scheduler will accept, and one that comes within HORIZON_YEARS is one that opens a window.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from monitor.config.values import Invalid, accepts, quote, show

HORIZON_YEARS = 5


# A date-time that ends in a UTC offset (a TOML offset date-time reaches a JSON Schema as text).
DATETIME_PATTERN = r"^[0-9]{4}.*[0-9]([Zz]|[+-][0-9]{2}(:?[0-9]{2}(:?[0-9]{2}(\.[0-9]+)?)?)?)$"


@accepts(
    {
        "type": "string",
        "pattern": DATETIME_PATTERN,
        "examples": ["2026-12-01T02:00:00Z"],
        "description": "An RFC 3339 date-time with a UTC offset, as a TOML date-time or a string.",
    }
)
def datetime(value: object) -> dt.datetime:
    form = 'an RFC 3339 date-time with a timezone, like "2026-12-01T02:00:00Z"'
    moment = value
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            moment = dt.datetime.fromisoformat(value)
    if not isinstance(moment, dt.datetime) or moment.utcoffset() is None:
        raise Invalid(f"must be {form}, got {show(value)}")
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:  # 9999-12-31T23:00:00-02:00 is in the year 10000 in UTC
        raise Invalid(f"must fall within the years 1-9999 in UTC, got {show(value)}") from None


@accepts({"type": "string", "minLength": 1, "examples": ["Europe/Berlin"]})
def timezone(value: object) -> str:
    try:
        ZoneInfo(value)  # type: ignore[arg-type]
    except (KeyError, ValueError, TypeError, OSError):  # ZoneInfoNotFoundError is a KeyError
        raise Invalid(
            f'must be an IANA time zone like "UTC" or "Europe/Berlin", got {show(value)}'
        ) from None
    return str(value)


_DIGITS = re.compile(r"[0-9]{1,2}")  # not str.isdigit, which takes "²"; short, for int()
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _cron_weekdays(field: str) -> str:
    """Rewrites weekday numbers as names.

    Cron counts from Sunday = 0 (7 is Sunday too), APScheduler 3 from Monday = 0; names mean the
    same to both, so "1-5" reaches the scheduler as "mon-fri".
    """
    days = []
    for item in field.split(","):
        if "/" in item:
            raise Invalid(
                "steps in the weekday field are not supported; list the days, like "
                f'"mon,wed,fri", got {quote(item)}'
            )
        low, dash, high = item.partition("-")
        if not _DIGITS.fullmatch(low):
            days.append(item)  # a name, a name range or "*": CronTrigger checks it
            continue
        if not (_DIGITS.fullmatch(high) or not dash) or int(low) > 7 or int(high or low) > 7:
            raise Invalid(f"weekdays must be 0-7 or sun-sat, got {quote(item)}")
        first, last = int(low), int(high or low)
        if first == 0 and last > 0:  # "0-5": Sunday is last in APScheduler's week
            days.append("sun")
            first = 1
        days.append(_WEEKDAYS[first] if first == last else f"{_WEEKDAYS[first]}-{_WEEKDAYS[last]}")
    return ",".join(days)


@accepts(
    {
        "type": "string",
        "pattern": r"^\s*\S+\s+\S+\s+\S+\s+\S+\s+[^\s/]+\s*$",  # no steps in the weekday
        "examples": ["0 2 * * sun"],
        "description": '5 fields "minute hour day month weekday"; weekdays 0-7 or sun-sat.',
    }
)
def cron(value: object) -> str:
    form = '5 fields "minute hour day month weekday", like "0 2 * * sun"'
    fields = value.split() if isinstance(value, str) else []
    if len(fields) != 5:
        raise Invalid(f"must be {form}, got {show(value)}")
    fields[4] = _cron_weekdays(fields[4])
    expression = " ".join(fields)
    try:
        CronTrigger.from_crontab(expression, timezone="UTC")
    except (ValueError, TypeError) as exc:
        raise Invalid(f"must be {form}, got {show(value)} ({exc})") from None
    return expression


def _comes(fields: list[str], zone: str, now: dt.datetime) -> bool:
    end = now + dt.timedelta(days=365.25 * HORIZON_YEARS)
    trigger = CronTrigger(
        minute=fields[0],
        hour=fields[1],
        day=fields[2],
        month=fields[3],
        day_of_week=fields[4],
        timezone=ZoneInfo(zone),
        end_date=end,  # the search stops here instead of walking to the year 9999
    )
    return trigger.get_next_fire_time(None, now) is not None


def cron_comes(raw: object, expression: str, zone: str, now: dt.datetime | None = None) -> None:
    """Refuses a parsed cron with no occurrence in the next HORIZON_YEARS in `zone`.

    Such a window never opens, and looking for its next start walks the calendar every time.
    `raw` is the value as written, for the message.
    """
    now = now or dt.datetime.now(dt.UTC)
    fields = expression.split()
    if _comes(fields, zone, now):
        return
    if not _comes([*fields[:4], "*"], zone, now):
        raise Invalid(
            "matches no date: none of its months has that day (February has 28 days, 29 in "
            "leap years; April, June, September and November have 30); choose a day that one "
            f"of them has, got {show(raw)}"
        )
    raise Invalid(
        f"matches no date in the next {HORIZON_YEARS} years: its day of the month and its "
        "weekday must both match, and they rarely fall together; keep only one of them, "
        f"got {show(raw)}"
    )
