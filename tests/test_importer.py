"""render_components: the page's components as a checks.toml fragment that parses, names every
component once, and is refused by the config loader until each component has a check."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.config import ConfigError, parse_config
from monitor.importer import render_components
from monitor.publishers.base import RemoteComponent

PAGE = [
    RemoteComponent("g1", "Backend", "operational", None, is_group=True),
    RemoteComponent("c1", "Payment API", "operational", "Backend"),
    RemoteComponent("c2", "Website", "major_outage", None),
    RemoteComponent("c3", "Database", "operational", "Backend"),
    RemoteComponent("g2", "Edge", "operational", None, is_group=True),
    RemoteComponent("c4", "CDN", "operational", "Edge"),
]


def uncommented(text: str) -> str:
    """The fragment with its example checks switched on, as a user would."""
    return re.sub(r"(?m)^  # ", "  ", text)


def test_one_entry_per_component_under_its_group_in_page_order() -> None:
    text = render_components(PAGE)

    assert tomllib.loads(text) == {
        "component": [
            {"name": "Payment API", "remote_id": "c1"},
            {"name": "Database", "remote_id": "c3"},
            {"name": "Website", "remote_id": "c2"},
            {"name": "CDN", "remote_id": "c4"},
        ]
    }
    lines = text.splitlines()
    order = [line for line in lines if line.startswith(("# group:", "# not in", "name ="))]
    assert order == [
        "# group: Backend",
        'name = "Payment API"',
        'name = "Database"',
        "# not in a group",
        'name = "Website"',
        "# group: Edge",
        'name = "CDN"',
    ]
    assert text.count("  # [[component.check]]") == 4


def test_the_loader_refuses_it_until_every_component_has_a_check() -> None:
    text = render_components(PAGE)
    assert "NOT FINISHED" in text and "monitor validate" in text

    with pytest.raises(ConfigError) as caught:
        parse_config(tomllib.loads(text), Path("checks.toml"))
    assert len(caught.value.errors) == 4
    assert all("at least one [[component.check]] is required" in e for e in caught.value.errors)

    config = parse_config(tomllib.loads(uncommented(text)), Path("checks.toml"))
    assert [(c.id, c.remote_id, len(c.checks)) for c in config.components] == [
        ("payment-api", "c1", 1),
        ("database", "c3", 1),
        ("website", "c2", 1),
        ("cdn", "c4", 1),
    ]


def test_same_names_in_different_groups_get_ids_of_their_own() -> None:
    page = [
        RemoteComponent("a", "API", "operational", "EU"),
        RemoteComponent("b", "API", "operational", "US"),
        RemoteComponent("c", "API", "operational", "US"),
        RemoteComponent("d", "東京", "operational", None),
    ]

    entries = tomllib.loads(render_components(page))["component"]

    assert [e.get("id") for e in entries] == [None, "us-api", "api-c", "d"]
    config = parse_config(tomllib.loads(uncommented(render_components(page))), Path("x.toml"))
    assert len({c.id for c in config.components}) == 4


def test_a_page_without_components_says_so_and_still_parses() -> None:
    text = render_components([RemoteComponent("g", "Group", "operational", None, is_group=True)])

    assert tomllib.loads(text) == {}
    assert "no components" in text


def test_names_that_could_break_out_of_a_comment_stay_inside_it() -> None:
    group = 'Ops\n[[component]]\nname = "injected"\x00'
    page = [RemoteComponent("c1", 'He said "hi"\n\\', "operational", group)]

    text = render_components(page)

    assert tomllib.loads(text)["component"] == [{"name": 'He said "hi"\n\\', "remote_id": "c1"}]
    assert '# group: Ops [[component]] name = "injected"' in text


names = st.text(st.characters(codec="utf-8"), max_size=12)


@given(
    st.lists(
        st.tuples(names, st.one_of(st.none(), names), st.booleans()),
        max_size=12,
    )
)
def test_any_page_renders_to_toml_with_unique_valid_ids(
    page: list[tuple[str, str | None, bool]],
) -> None:
    components = [
        RemoteComponent(f"id{n}", name, "operational", group, is_group=is_group)
        for n, (name, group, is_group) in enumerate(page)
    ]

    data = tomllib.loads(uncommented(render_components(components)))

    expected = [c.id for c in components if not c.is_group]
    if not expected:
        assert data == {}
        return
    config = parse_config(data, Path("checks.toml"))  # raises on a bad or duplicate id
    assert sorted(str(c.remote_id) for c in config.components) == sorted(expected)
