"""A reload as a plan: what a new config adds, removes, changes and keeps of the running one.

Pure: the daemon reads the new config, plans, then applies the plan (the prober, the checks'
runtimes, the engine, the publisher). Checks are matched by key (component id / check name), the
identity their history is stored under: a renamed check is one removed and one added.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from monitor.model import Check, Component, Config, check_key

RESTART_ONLY = ("database", "listen", "concurrency", "metrics_per_check")
"""[monitor] keys a reload cannot apply: they take effect on restart."""


def checks_by_key(components: Iterable[Component]) -> dict[str, tuple[Component, Check]]:
    """Every check of `components` by key, in config order, with its component."""
    return {
        check_key(component, check): (component, check)
        for component in components
        for check in component.checks
    }


@dataclass(frozen=True)
class ReloadPlan:
    checks: dict[str, tuple[Component, Check]]  # every check of the new config, by key
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]  # same key, other settings
    rescheduled: tuple[str, ...]  # those of `changed` whose interval changed
    kept: tuple[str, ...]  # same settings (their component may have changed name)
    restart: tuple[str, ...]  # [monitor] keys that changed: they take effect on restart

    def jobs(self, keys: Iterable[str]) -> list[tuple[str, float]]:
        """(key, interval) of `keys` in the new config, for the prober."""
        return [(key, self.checks[key][1].interval) for key in keys]


def plan_reload(old: Config, new: Config) -> ReloadPlan:
    before = {key: check for key, (_, check) in checks_by_key(old.components).items()}
    after = checks_by_key(new.components)
    added, changed, rescheduled, kept = [], [], [], []
    for key, (_, check) in after.items():
        previous = before.get(key)
        if previous is None:
            added.append(key)
        elif previous == check:
            kept.append(key)
        else:
            changed.append(key)
            if previous.interval != check.interval:
                rescheduled.append(key)
    return ReloadPlan(
        checks=after,
        added=tuple(added),
        removed=tuple(key for key in before if key not in after),
        changed=tuple(changed),
        rescheduled=tuple(rescheduled),
        kept=tuple(kept),
        restart=tuple(
            key for key in RESTART_ONLY if getattr(new.monitor, key) != getattr(old.monitor, key)
        ),
    )
