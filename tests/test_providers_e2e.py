"""Every provider end to end: `monitor run` against a switchable target and each fake page. One
probe turns a check either way (fail_after = recover_after = 1): the hysteresis is tested
elsewhere, the pages here."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .conftest import DaemonProcess, Target, wait_for, write_config
from .fake_cachet import FakeCachet
from .fake_instatus import FakeInstatus
from .fake_statuspage import FakeStatuspage

pytestmark = pytest.mark.slow

PAGES: dict[str, tuple[Callable[[], Any], Callable[[dict[str, Any]], bool]]] = {
    "statuspage": (FakeStatuspage, lambda i: i["status"] == "resolved"),
    "instatus": (FakeInstatus, lambda i: i["status"] == "RESOLVED"),
    "cachet": (FakeCachet, lambda i: i["status"] == 4),
}


@pytest.mark.parametrize("kind", sorted(PAGES))
def test_an_outage_is_opened_and_resolved_on_every_kind_of_page(
    kind: str, tmp_path: Path, target: Target, daemons: Callable[..., DaemonProcess]
) -> None:
    make, resolved = PAGES[kind]
    page = make().start()
    try:
        remote_id = page.add_component("Payment API")
        page_id = 'page_id = "page1"' if kind != "cachet" else ""
        config = write_config(
            tmp_path,
            f"""
[monitor]
database = "monitor.db"
listen = ""
[defaults]
interval = "1s"
timeout = "1s"
fail_after = 1
recover_after = 1
[publisher]
type = "{kind}"
url = "{page.url}"
{page_id}
api_key_env = "PAGE_TEST_KEY"
rate_limit = 20
monitoring_for = "0s"
[[component]]
name = "Payment API"
remote_id = "{remote_id}"
  [[component.check]]
  type = "http"
  url = "{target.url}/pay"
""",
        )
        target.set("/pay", status=500)
        daemon = daemons(config, env={"PAGE_TEST_KEY": "test-key"})
        wait_for(lambda: len(page.incidents()) == 1, 20, f"an incident on {kind}")
        target.set("/pay", status=200)
        wait_for(lambda: resolved(page.incidents()[0]), 20, f"the incident resolved on {kind}")
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(10) == 0, daemon.log
        assert len(page.incidents()) == 1, "one incident, never two"
        assert "test-key" not in daemon.log
    finally:
        page.stop()
