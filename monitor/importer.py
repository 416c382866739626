"""`monitor import PROVIDER`: a page's components as `[[component]]` entries for checks.toml.

Pure: components in, TOML text out; the CLI fetches them (the provider's `components()`) and
writes the file. Values go through tomli-w, so any name is quoted right. tomli-w cannot write
comments, so those are assembled around its output, each made one printable line so that no
name can end a comment early and turn the rest of it into TOML.

The result is deliberately unfinished: a component without a check is refused by the config
loader, so `monitor validate` fails until someone says how each component is to be probed,
instead of the monitor publishing "operational" for things it never looks at.
"""

from __future__ import annotations

from collections.abc import Iterable

import tomli_w

from monitor.config import slugify
from monitor.incidents import RemoteComponent

HEADER = """\
# Components imported from the status page by `monitor import {source}`.
#
# NOT FINISHED: each [[component]] needs at least one [[component.check]], and `monitor validate`
# refuses this file until every one has one. Uncomment the example under each component and
# point it at the real endpoint (or use type = "tcp" with host and port), or delete the
# components you do not want to monitor. remote_id ties a component to the page; keep it.
"""

EXAMPLE_CHECK = """\
  # [[component.check]]
  # type = "http"
  # url = "https://example.com/healthz"
"""

NO_GROUP = "# not in a group"


def render_components(components: list[RemoteComponent], source: str = "statuspage") -> str:
    """A checks.toml fragment: every component that is not a group, in page order, gathered
    under its group's name. `id` is written only when the default (the slug of the name) would
    be empty or taken, e.g. two "API" components in different groups. `source` is the provider
    the header names."""
    header = HEADER.format(source=source)
    sections: dict[str | None, list[RemoteComponent]] = {}
    for component in components:
        if not component.is_group:
            sections.setdefault(component.group, []).append(component)
    if not sections:
        return header + "\n# The page has no components to import.\n"
    taken: set[str] = set()
    parts = [header]
    for group, members in sections.items():
        parts.append(f"\n{_comment(f'group: {group}') if group is not None else NO_GROUP}\n")
        for component in members:
            parts.append("\n" + _entry(component, taken) + "\n" + EXAMPLE_CHECK)
    return "".join(parts)


def _entry(component: RemoteComponent, taken: set[str]) -> str:
    name = component.name if component.name.strip() else component.id
    entry = {"name": name}
    chosen = _unique_id(name, component, taken)
    if chosen != slugify(name):
        entry["id"] = chosen
    entry["remote_id"] = component.id
    return "[[component]]\n" + tomli_w.dumps(entry)  # tomli-w would inline a short table


def _unique_id(name: str, component: RemoteComponent, taken: set[str]) -> str:
    candidates: Iterable[str] = (
        slugify(name),
        slugify(f"{component.group} {name}") if component.group else "",
        slugify(f"{name} {component.id}") or slugify(f"component {component.id}"),
    )
    chosen = next((c for c in candidates if c and c not in taken), "")
    if not chosen:  # every candidate taken: number the last one
        base = slugify(f"{name} {component.id}") or "component"
        chosen = next(f"{base}-{n}" for n in range(2, len(taken) + 3) if f"{base}-{n}" not in taken)
    taken.add(chosen)
    return chosen


def _comment(text: str) -> str:
    """One TOML comment line: control characters (newlines, ...) become spaces."""
    clean = "".join(ch if ch.isprintable() else " " for ch in text)
    return "# " + " ".join(clean.split())
