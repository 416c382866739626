"""The walk over one parsed file: every fault is collected with its place, none stops the rest.

The section readers (sections.py, components.py) share one Reader per file; it holds the faults
found so far and the file's folder, against which relative paths in the file are resolved.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from monitor.config.values import Invalid, Parser, show

_SEE_DOCS = "see docs/configuration.md for the values it takes"


class Reader:
    """Collects every fault in one file instead of stopping at the first."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.folder = Path(os.path.abspath(path.parent))
        self.errors: list[str] = []
        self.faults = 0  # every fault, said or not: two places of one name share their messages

    def error(self, where: str, key: str, problem: str) -> None:
        self.faults += 1
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
            except Invalid as exc:
                self.error(where, key, str(exc))
                refused.add(key)
            except (ArithmeticError, ValueError, TypeError, LookupError, RecursionError) as exc:
                # A parser's own bug on a value nobody foresaw: still a fault of this key, never
                # a traceback. The value is not shown, since it may be a secret.
                self.error(where, key, f"cannot be read ({type(exc).__name__}); {_SEE_DOCS}")
                refused.add(key)
        return values, refused

    def section(self, data: Mapping[str, Any], key: str) -> dict[str, Any]:
        value = data.get(key, {})
        if isinstance(value, dict):
            return value
        self.error("top level", key, f"must be a table, written [{key}], got {show(value)}")
        return {}

    def array(self, where: str, data: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
        value = data.get(key, [])
        if isinstance(value, list) and all(isinstance(item, dict) for item in value):
            return value
        header = "[[component.check]]" if key == "check" else f"[[{key}]]"
        self.error(where, key, f"must be an array of tables, written {header}, got {show(value)}")
        return []

    def resolve(self, path: Path) -> Path:
        return Path(os.path.abspath(self.folder / path))
