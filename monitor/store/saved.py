"""State kept as JSON in the database: a check's status (`check_state.data`) and what the page
shows per component (`publish_state.data`).

Each document carries its version (`"v"`, see `codes`) and is read tolerantly, so that a restart
never fails on state an older or newer release saved: an unknown key is ignored, a missing key
or a value this release cannot read takes the field's default, and a document written before
versions were (this release's layout) reads as version 1. Enums are written as their codes.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from monitor.incidents import Remote
from monitor.state import CheckStatus
from monitor.store.codes import (
    CHECK_STATE_CODE,
    CHECK_STATE_OF,
    CHECK_STATUS_VERSION,
    INCIDENT_STATUS_CODE,
    INCIDENT_STATUS_OF,
    OUTCOME_WORD,
    OUTCOME_WORD_OF,
    REMOTE_VERSION,
    STATUS_CODE,
    STATUS_OF,
)

T = TypeVar("T")
Reader = Callable[[Any], Any]


def _typed(*kinds: type) -> Reader:
    """A reader that takes a value of one of `kinds` as it is (a bool is no number here)."""

    def read(value: Any) -> Any:
        if isinstance(value, bool) is not (bool in kinds) or not isinstance(value, kinds):
            raise TypeError(value)
        return value

    return read


def _optional(read: Reader) -> Reader:
    return lambda value: None if value is None else read(value)


def _ints(value: Any) -> tuple[int, ...]:
    return tuple(_INT(each) for each in value)


_INT = _typed(int)
_FLOAT = _typed(int, float)
_BOOL = _typed(bool)
_TEXT = _typed(str)


def _fields(cls: type[T], data: str, readers: Mapping[str, Reader]) -> dict[str, Any]:
    """The fields of the dataclass `cls` that `data` holds and this release can read."""
    try:
        stored = json.loads(data)
    except ValueError:
        stored = None
    if not isinstance(stored, dict):
        return {}
    fields: dict[str, Any] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        read = readers.get(field.name)
        if read is None or field.name not in stored:
            continue
        try:
            fields[field.name] = read(stored[field.name])
        except (KeyError, TypeError, ValueError):
            continue  # a value of another release: the default
    return fields


_CHECK_STATUS = {
    "probes": _INT,
    "fails_in_row": _INT,
    "good_in_row": _INT,
    "slow_in_row": _INT,
    "ok_in_row": _INT,
    "window": _INT,
    "is_down": _BOOL,
    "is_slow": _BOOL,
    "is_flaky": _BOOL,
    "raw": CHECK_STATE_OF.__getitem__,
    "raw_changes": _ints,
    "held": _optional(CHECK_STATE_OF.__getitem__),
    "last_outcome": _optional(OUTCOME_WORD_OF.__getitem__),
    "last_latency": _optional(_FLOAT),
    "last_at": _optional(_FLOAT),
    "last_error": _optional(_TEXT),
}


def encode_check_status(status: CheckStatus) -> str:
    """`check_state.data`: everything but the state and its start, which have columns."""
    data = dataclasses.asdict(status)
    del data["state"], data["since"]
    data["raw"] = CHECK_STATE_CODE[status.raw]
    data["held"] = CHECK_STATE_CODE[status.held] if status.held is not None else None
    last = status.last_outcome
    data["last_outcome"] = OUTCOME_WORD[last] if last is not None else None
    return json.dumps({"v": CHECK_STATUS_VERSION, **data}, separators=(",", ":"))


def decode_check_status(state: str, since_ms: int, data: str) -> CheckStatus:
    """A check's saved status from its row of `check_state`."""
    fields = _fields(CheckStatus, data, _CHECK_STATUS)
    return CheckStatus(state=CHECK_STATE_OF[state], since=since_ms / 1000, **fields)


_REMOTE = {
    "incident_id": _optional(_TEXT),
    "key": _optional(_TEXT),
    "incident_status": _optional(INCIDENT_STATUS_OF.__getitem__),
    "started_at": _optional(_FLOAT),
    "recovered_at": _optional(_FLOAT),
    "worst": _optional(STATUS_OF.__getitem__),
    "last_reason": _TEXT,
    "page_status": _optional(STATUS_OF.__getitem__),
    "target": STATUS_OF.__getitem__,
    "suppressed": _BOOL,
    "notified": _BOOL,
}


def encode_remote(remote: Remote) -> str:
    """`publish_state.data`: what the page shows for one component."""
    data = dataclasses.asdict(remote)
    for name in ("worst", "page_status", "target"):
        data[name] = STATUS_CODE[data[name]] if data[name] is not None else None
    status = remote.incident_status
    data["incident_status"] = INCIDENT_STATUS_CODE[status] if status is not None else None
    return json.dumps({"v": REMOTE_VERSION, **data}, separators=(",", ":"))


def decode_remote(data: str) -> Remote:
    """What the page shows for one component, from its row of `publish_state`."""
    return Remote(**_fields(Remote, data, _REMOTE))
