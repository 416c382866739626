"""plan_reload: what a new config adds, removes, changes and keeps, as tables."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from monitor.model import Check, Component, Config, HttpCheck, MonitorSettings, TcpCheck
from monitor.reload import ReloadPlan, plan_reload

A = HttpCheck(name="a", url="http://127.0.0.1:1/a", interval=30.0)
B = HttpCheck(name="b", url="http://127.0.0.1:1/b", interval=30.0)
C = TcpCheck(name="c", host="127.0.0.1", port=1, interval=60.0)


def config(*components: tuple[str, tuple[Check, ...]], **monitor: object) -> Config:
    return Config(
        path=Path("checks.toml"),
        monitor=MonitorSettings(**monitor),  # type: ignore[arg-type]
        components=tuple(Component(id=cid, name=cid.title(), checks=c) for cid, c in components),
    )


BEFORE = config(("api", (A, B)), ("db", (C,)))

# (what the new config is, added, removed, changed, rescheduled, kept)
SCENARIOS: dict[str, tuple[Config, list[str], list[str], list[str], list[str], list[str]]] = {
    "the same config": (BEFORE, [], [], [], [], ["api/a", "api/b", "db/c"]),
    "a check added": (
        config(("api", (A, B, replace(B, name="b2"))), ("db", (C,))),
        ["api/b2"],
        [],
        [],
        [],
        ["api/a", "api/b", "db/c"],
    ),
    "a check removed": (
        config(("api", (A,)), ("db", (C,))),
        [],
        ["api/b"],
        [],
        [],
        ["api/a", "db/c"],
    ),
    "a component removed": (config(("api", (A, B))), [], ["db/c"], [], [], ["api/a", "api/b"]),
    "a check renamed: one removed, one added": (
        config(("api", (A, replace(B, name="bee"))), ("db", (C,))),
        ["api/bee"],
        ["api/b"],
        [],
        [],
        ["api/a", "db/c"],
    ),
    "a component renamed (its id): its checks are new": (
        config(("api", (A, B)), ("database", (C,))),
        ["database/c"],
        ["db/c"],
        [],
        [],
        ["api/a", "api/b"],
    ),
    "settings changed, same interval": (
        config(("api", (replace(A, timeout=2.0), B)), ("db", (replace(C, port=2),))),
        [],
        [],
        ["api/a", "db/c"],
        [],
        ["api/b"],
    ),
    "an interval changed": (
        config(("api", (A, replace(B, interval=10.0))), ("db", (C,))),
        [],
        [],
        ["api/b"],
        ["api/b"],
        ["api/a", "db/c"],
    ),
    "a check's type changed under the same name": (
        config(
            ("api", (A, TcpCheck(name="b", host="127.0.0.1", port=1, interval=30.0))),
        ),
        [],
        ["db/c"],
        ["api/b"],
        [],
        ["api/a"],
    ),
    "everything at once": (
        config(("api", (replace(A, interval=5.0), replace(B, name="b2"))), ("web", (A,))),
        ["api/b2", "web/a"],
        ["api/b", "db/c"],
        ["api/a"],
        ["api/a"],
        [],
    ),
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_plan(name: str) -> None:
    new, added, removed, changed, rescheduled, kept = SCENARIOS[name]
    plan = plan_reload(BEFORE, new)
    assert list(plan.added) == added
    assert list(plan.removed) == removed
    assert list(plan.changed) == changed
    assert list(plan.rescheduled) == rescheduled
    assert list(plan.kept) == kept
    assert list(plan.checks) == [f"{c.id}/{k.name}" for c in new.components for k in c.checks]
    assert plan.restart == ()


def test_a_component_renamed_in_words_keeps_its_checks_and_carries_the_new_name() -> None:
    new = config(("api", (A, B)), ("db", (C,)))
    new = replace(
        new, components=(replace(new.components[0], name="Public API"), new.components[1])
    )
    plan = plan_reload(BEFORE, new)
    assert (plan.added, plan.removed, plan.changed) == ((), (), ())
    assert plan.checks["api/a"][0].name == "Public API"


@pytest.mark.parametrize(
    "change",
    [
        {"locations": ("eu-west", "us-east", "ap-south")},
        {"quorum": 2},
        {"locations": ("eu-west", "us-east"), "quorum": 1},
    ],
)
def test_a_component_given_locations_keeps_its_checks_and_carries_them(
    change: dict[str, object],
) -> None:
    """Where a component is probed from is the component's, not its checks': they probe on with
    their history; the new component, locations and quorum, goes to the running checks, and the
    leader takes it from the new config."""
    api = replace(BEFORE.components[0], **change)  # type: ignore[arg-type]
    new = replace(BEFORE, components=(api, BEFORE.components[1]))
    plan = plan_reload(BEFORE, new)
    assert (plan.added, plan.removed, plan.changed) == ((), (), ())
    assert plan.kept == ("api/a", "api/b", "db/c")
    for key in ("api/a", "api/b"):
        component = plan.checks[key][0]
        assert component == new.components[0] != BEFORE.components[0]
        assert {name: getattr(component, name) for name in change} == change


@pytest.mark.parametrize(
    ("monitor", "restart"),
    [
        ({}, ()),
        ({"retention": 86400.0}, ()),  # applies on reload: nothing to say
        ({"concurrency": 64}, ("concurrency",)),
        ({"workers": 2, "listen": ""}, ("listen",)),  # the daemon moves probing on reload
        ({"database": Path("other.db")}, ("database",)),
        ({"metrics_per_check": False}, ("metrics_per_check",)),  # the series already exported
    ],
)
def test_monitor_settings_that_take_effect_on_restart(
    monitor: dict[str, object], restart: tuple[str, ...]
) -> None:
    new = replace(BEFORE, monitor=replace(BEFORE.monitor, **monitor))  # type: ignore[arg-type]
    assert plan_reload(BEFORE, new).restart == restart


def test_jobs_are_the_new_intervals() -> None:
    plan: ReloadPlan = plan_reload(
        BEFORE,
        config(
            (
                "api",
                (A, replace(B, interval=10.0)),
            )
        ),
    )
    assert plan.jobs(plan.changed) == [("api/b", 10.0)]
    assert plan.jobs(["api/a"]) == [("api/a", 30.0)]
