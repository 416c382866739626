"""render_components: the page's components as a checks.toml fragment that parses, names every
component once, and is refused by the config loader until each component has a check; and
`monitor import PROVIDER` against each fake page (grouped, remote_id, --force, refusals)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st

from monitor.cli import main
from monitor.config import ConfigError, parse_config
from monitor.importer import render_components
from monitor.publishers.base import RemoteComponent
from tests.fake_cachet import FakeCachet
from tests.fake_instatus import FakeInstatus
from tests.fake_page import FakePage
from tests.fake_statuspage import FakeStatuspage

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


# -- `monitor import PROVIDER` against each fake page -------------------------------------------

TOKEN = "page-test-key-0123456789"
API_PATH = {"statuspage": "/v1", "instatus": "", "cachet": "/api/v1"}
PAGES = {"statuspage": FakeStatuspage, "instatus": FakeInstatus, "cachet": FakeCachet}


def grouped_page(kind: str) -> tuple[FakePage, dict[str, str]]:
    """A started fake page of `kind` with a group "Backend" holding "Payment API", and
    "Website" in no group; returns it and the page's ids of the two components."""
    page = PAGES[kind](api_key=TOKEN).start()
    if isinstance(page, FakeInstatus):  # a parent component is Instatus's group
        group = page.add_component("Backend")
    else:
        group = page.add_group("Backend")
    ids = {
        "Payment API": page.add_component("Payment API", group_id=group),
        "Website": page.add_component("Website"),
    }
    return page, ids


@pytest.fixture(params=["statuspage", "instatus", "cachet"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def publisher_config(folder: Path, kind: str, url: str) -> Path:
    page_id = 'page_id = "page1"' if kind != "cachet" else ""
    path = folder / "checks.toml"
    path.write_text(
        f'[publisher]\ntype = "{kind}"\nurl = "{url}"\n{page_id}\napi_key_env = "PAGE_KEY"\n'
        'rate_limit = 50\n\n[[component]]\nname = "Web"\n'
        'check = [{ type = "tcp", host = "127.0.0.1", port = 1 }]\n'
    )
    return path


def run_import(kind: str, config: Path, *args: str, key: str = TOKEN) -> Result:
    return CliRunner().invoke(
        main, ["import", kind, "-c", str(config), *args], env={"PAGE_KEY": key}
    )


def test_import_writes_the_pages_components_grouped_with_their_remote_ids(
    tmp_path: Path, kind: str
) -> None:
    page, ids = grouped_page(kind)
    try:
        config = publisher_config(tmp_path, kind, page.url)
        out = tmp_path / "components.toml"

        result = run_import(kind, config, "-o", str(out))

        assert result.exit_code == 0, result.output
        assert f"{out}: 2 components; add a [[component.check]] to each" in result.output
        text = out.read_text()
        assert tomllib.loads(text) == {
            "component": [
                {"name": "Payment API", "remote_id": ids["Payment API"]},
                {"name": "Website", "remote_id": ids["Website"]},
            ]
        }
        headings = [line for line in text.splitlines() if line.startswith(("# group", "# not"))]
        assert headings == ["# group: Backend", "# not in a group"]
        assert f"by `monitor import {kind}`" in text
        printed = run_import(kind, config)
        assert printed.exit_code == 0 and printed.output == text
    finally:
        page.stop()


def test_import_overwrites_a_file_only_with_force(tmp_path: Path, kind: str) -> None:
    page, _ = grouped_page(kind)
    try:
        config = publisher_config(tmp_path, kind, page.url)
        out = tmp_path / "components.toml"
        out.write_text("# mine\n")

        refused = run_import(kind, config, "-o", str(out))

        assert refused.exit_code == 2
        assert f"{out}: exists; pass --force to overwrite it" in refused.output
        assert out.read_text() == "# mine\n"
        assert page.requests() == []  # refused before asking the page
        forced = run_import(kind, config, "-o", str(out), "--force")
        assert forced.exit_code == 0, forced.output
        assert "Payment API" in out.read_text()
    finally:
        page.stop()


def test_import_from_another_provider_than_the_configs_is_refused(tmp_path: Path) -> None:
    config = publisher_config(tmp_path, "statuspage", "http://127.0.0.1:1/v1")

    cachet = run_import("cachet", config)
    instatus = run_import("instatus", config)

    assert cachet.exit_code == 2 and instatus.exit_code == 2
    assert cachet.output == (
        f'{config}: [publisher]: type: must be "cachet" (with url and an API key) to import '
        "from Cachet\n"
    )
    assert instatus.output == (
        f'{config}: [publisher]: type: must be "instatus" (with page_id and an API key) to '
        "import from Instatus\n"
    )


def test_import_with_a_key_the_page_refuses_says_so_without_the_key(
    tmp_path: Path, kind: str
) -> None:
    page, _ = grouped_page(kind)
    wrong = "wrong-key-0123456789abcdef"
    try:
        config = publisher_config(tmp_path, kind, page.url)
        out = tmp_path / "components.toml"

        result = run_import(kind, config, "-o", str(out), key=wrong)

        assert result.exit_code == 1
        assert result.output.startswith("Error: cannot read the page's components: ")
        assert f"{kind}: GET " in result.output and ": 401: " in result.output
        assert wrong not in result.output and not out.exists()
    finally:
        page.stop()


def test_import_with_a_key_holding_a_control_character_is_a_config_error(
    tmp_path: Path, kind: str
) -> None:
    config = publisher_config(tmp_path, kind, f"http://127.0.0.1:1{API_PATH[kind]}")

    result = run_import(kind, config, key="abc\x01def")

    assert result.exit_code == 2
    what = {"statuspage": "Statuspage API key", "instatus": "Instatus API key"}
    assert f"the {what.get(kind, 'Cachet API token')} contains control characters" in result.output
    assert "Traceback" not in result.output and "abc\x01def" not in result.output
