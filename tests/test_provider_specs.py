"""The provider specs: the config, the daemon's setup and the targets read them, and reading them
costs no HTTP library."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from monitor.config import PUBLISHER_TYPES, ConfigError, parse_config
from monitor.model import Component, PublisherSettings
from monitor.publishers import NONE, PROVIDERS, make_provider, needs_key, publish_targets
from monitor.publishers.base import RateLimiter
from monitor.publishers.spec import ProviderSpec

CHECK = [{"type": "tcp", "host": "h", "port": 1}]
ROOT = Path(__file__).parent.parent


def publisher_faults(publisher: dict[str, Any]) -> list[str]:
    data = {"publisher": publisher, "component": [{"name": "Web", "check": CHECK}]}
    try:
        parse_config(data, Path("checks.toml"))
    except ConfigError as exc:
        return list(exc.errors)
    return []


def test_the_registry_is_the_list_of_publisher_types() -> None:
    assert PUBLISHER_TYPES == ("statuspage", "cachet", "instatus", "log", "none")
    assert list(PROVIDERS) == ["statuspage", "cachet", "instatus", "log"]
    assert all(name == spec.name for name, spec in PROVIDERS.items())


@pytest.mark.parametrize("spec", list(PROVIDERS.values()), ids=list(PROVIDERS))
def test_the_config_asks_for_what_the_spec_requires(spec: ProviderSpec) -> None:
    faults = publisher_faults({"type": spec.name})

    keys = [fault.split(": ")[2] for fault in faults]
    expected = ["url"] * (spec.url_required is not None) + ["page_id"] * spec.page_id
    assert keys == expected + ["api_key_env"] * spec.needs_key
    if spec.url_required is not None:
        assert f"url: required for {spec.name}: {spec.url_required}" in faults[0]


@pytest.mark.parametrize("spec", list(PROVIDERS.values()), ids=list(PROVIDERS))
def test_settings_the_spec_accepts_make_its_provider(spec: ProviderSpec) -> None:
    publisher = {"type": spec.name}
    if spec.url_required is not None:
        publisher["url"] = "https://status.example.com/api/v1"
    if spec.page_id:
        publisher["page_id"] = "page1"
    if spec.needs_key:
        publisher["api_key_env"] = "PAGE_KEY"
    data = {"publisher": publisher, "component": [{"name": "Web", "check": CHECK}]}
    settings = parse_config(data, Path("checks.toml")).publisher
    assert settings.url == spec.default_url or spec.default_url is None

    key = "key" if spec.needs_key else None
    provider = make_provider(settings, key, Path("c"), RateLimiter(1))

    assert provider is not None
    assert (provider.spec, provider.name) == (spec, spec.name)
    assert needs_key(settings) is spec.needs_key


def test_cachet_urls_are_checked_by_its_spec() -> None:
    cachet = {"type": "cachet", "api_key_env": "K"}

    assert publisher_faults(cachet | {"url": "https://status.example.com/api/v1/"}) == []
    assert publisher_faults(cachet | {"url": "https://status.example.com/api"}) == [
        "checks.toml: [publisher]: url: must be the API base of Cachet 2.x, ending in /api/v1 "
        '(Cachet 3.x, /api, is not supported yet), got "https://status.example.com/api"'
    ]
    assert PROVIDERS["cachet"].check_url("https://status.example.com/") is not None
    assert PROVIDERS["statuspage"].check_url("https://anything.example.com/") is None


def test_none_needs_nothing_and_makes_no_provider() -> None:
    settings = PublisherSettings(type=NONE)

    assert publisher_faults({"type": NONE}) == []
    assert make_provider(settings, None, Path("c"), RateLimiter(1)) is None
    assert not needs_key(settings)


def test_a_provider_that_publishes_nowhere_publishes_every_component() -> None:
    components = [
        Component(name="A", id="a", checks=(), remote_id="r1"),
        Component(name="B", id="b", checks=()),
    ]
    nowhere = [name for name, spec in PROVIDERS.items() if not spec.remote]
    remote = [name for name, spec in PROVIDERS.items() if spec.remote]

    assert nowhere == ["log"]
    for name in nowhere:
        assert sorted(publish_targets(components, name)) == ["a", "b"]
        assert publish_targets(components, name)["b"].remote_id == "b"
    for name in remote:
        assert list(publish_targets(components, name)) == ["a"]
    assert publish_targets(components, None) == {}


@pytest.mark.parametrize(
    "first", ["monitor.config", "monitor.publishers", "monitor.publishers.cachet"]
)
def test_the_specs_import_in_any_order_without_aiohttp(first: str) -> None:
    code = (
        f"import sys, {first}, monitor.config, monitor.publishers; "
        "print(sorted(monitor.publishers.PROVIDERS), 'aiohttp' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['cachet', 'instatus', 'log', 'statuspage'] False"


def test_validate_imports_no_http_library(tmp_path: Path) -> None:
    code = (
        "import runpy, sys\n"
        f"sys.argv = ['monitor', 'validate', '-c', {str(ROOT / 'checks.toml')!r}]\n"
        "try:\n    runpy.run_module('monitor', run_name='__main__')\n"
        "except SystemExit as exc:\n    print('exit', exc.code)\n"
        "print('aiohttp' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )

    assert done.stdout.splitlines()[-2:] == ["exit 0", "False"], done.stdout + done.stderr
