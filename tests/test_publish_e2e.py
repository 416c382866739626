"""Publishing end to end: `monitor run` as a subprocess, a switchable target, a fake Statuspage."""

from __future__ import annotations

import json
import signal
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import main

from .conftest import DaemonProcess, Target, count_rows, free_port, wait_for, write_config
from .fake_statuspage import FakeStatuspage, fake_statuspage_fixture  # noqa: F401

pytestmark = pytest.mark.slow


def config(
    folder: Path,
    target: Target,
    fake: FakeStatuspage,
    remote_id: str,
    listen: str = "",
    **publisher: str,
) -> Path:
    extra = "\n".join(f'{k} = "{v}"' for k, v in publisher.items())
    return write_config(
        folder,
        f"""
[monitor]
database = "monitor.db"
listen = "{listen}"
[defaults]
interval = "1s"
timeout = "1s"
fail_after = 2
recover_after = 2
[publisher]
type = "statuspage"
url = "{fake.url}"
page_id = "page1"
api_key_env = "STATUSPAGE_TEST_KEY"
rate_limit = 20
{extra}
[[component]]
name = "Payment API"
id = "payments"
remote_id = "{remote_id}"
  [[component.check]]
  type = "http"
  name = "healthz"
  url = "{target.url}/pay"
""",
    )


def ours(fake: FakeStatuspage) -> list[dict[str, object]]:
    return [i for i in fake.incidents() if i.get("metadata")]


def test_outage_published_and_resolved(
    tmp_path: Path,
    target: Target,
    fake_statuspage: FakeStatuspage,
    daemons: Callable[..., DaemonProcess],
) -> None:
    remote_id = fake_statuspage.add_component("Payment API")
    port = free_port()
    path = config(
        tmp_path, target, fake_statuspage, remote_id, f"127.0.0.1:{port}", monitoring_for="1s"
    )
    daemon = daemons(path, env={"STATUSPAGE_TEST_KEY": "test-key"})
    wait_for(lambda: target.count("/pay") >= 2, 15, "probes")
    target.set("/pay", status=500)
    wait_for(lambda: len(ours(fake_statuspage)) == 1, 15, "an incident")
    (incident,) = ours(fake_statuspage)
    assert incident["name"] == "Payment API: major outage"
    assert incident["impact_override"] == "critical"
    assert fake_statuspage.component(remote_id)["status"] == "major_outage"

    result = CliRunner().invoke(main, ["status", "-c", str(path), "--json"])
    document = json.loads(result.output)
    assert document["components"][0]["incident"] == {
        "id": incident["id"],
        "status": "investigating",
    }
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/status.json", timeout=5) as response:
        served = json.loads(response.read())
    assert served["components"][0]["incident"] == {"id": incident["id"], "status": "investigating"}

    target.set("/pay", status=200)
    wait_for(lambda: ours(fake_statuspage)[0]["status"] == "resolved", 15, "resolution")
    assert fake_statuspage.component(remote_id)["status"] == "operational"
    assert len(ours(fake_statuspage)) == 1
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(10) == 0, daemon.log
    assert "test-key" not in daemon.log


def test_kill_9_after_the_page_accepted_the_post_makes_one_incident(
    tmp_path: Path,
    target: Target,
    fake_statuspage: FakeStatuspage,
    daemons: Callable[..., DaemonProcess],
) -> None:
    remote_id = fake_statuspage.add_component("Payment API")
    path = config(tmp_path, target, fake_statuspage, remote_id, monitoring_for="0s")
    env = {"STATUSPAGE_TEST_KEY": "test-key"}
    fake_statuspage.hang_next(1, accept=True, method="POST", path="*/incidents")
    target.set("/pay", status=500)
    first = daemons(path, env=env)
    fake_statuspage.wait_held(1, timeout=20)
    first.signal(signal.SIGKILL)
    first.wait(10)
    fake_statuspage.release()
    assert len(ours(fake_statuspage)) == 1

    second = daemons(path, env=env)
    wait_for(lambda: "adopting incident" in second.log, 15, "the adoption")
    target.set("/pay", status=200)
    wait_for(lambda: ours(fake_statuspage)[0]["status"] == "resolved", 15, "resolution")
    assert len(ours(fake_statuspage)) == 1, "one incident, adopted, then resolved"
    second.signal(signal.SIGTERM)
    assert second.wait(10) == 0, second.log


def test_a_bad_key_is_reported_and_probing_goes_on(
    tmp_path: Path,
    target: Target,
    fake_statuspage: FakeStatuspage,
    daemons: Callable[..., DaemonProcess],
) -> None:
    remote_id = fake_statuspage.add_component("Payment API")
    path = config(tmp_path, target, fake_statuspage, remote_id)
    target.set("/pay", status=500)
    daemon = daemons(path, env={"STATUSPAGE_TEST_KEY": "wrong-secret-key"})
    wait_for(lambda: "refused our API key" in daemon.log, 15, "the error in the log")
    rows = count_rows(tmp_path / "monitor.db")
    wait_for(lambda: count_rows(tmp_path / "monitor.db") > rows + 2, 10, "probing to go on")
    result = CliRunner().invoke(main, ["status", "-c", str(path)])
    assert "refused our API key (401)" in result.output
    assert "wrong-secret-key" not in daemon.log + result.output
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(10) == 0

    fixed = daemons(path, env={"STATUSPAGE_TEST_KEY": "test-key"})
    wait_for(lambda: len(ours(fake_statuspage)) == 1, 15, "delivery once the key is fixed")
    fixed.signal(signal.SIGTERM)
    assert fixed.wait(10) == 0


def test_missing_key_is_a_config_error(
    tmp_path: Path, target: Target, fake_statuspage: FakeStatuspage
) -> None:
    path = config(tmp_path, target, fake_statuspage, "x")
    result = CliRunner().invoke(main, ["run", "-c", str(path)], env={"STATUSPAGE_TEST_KEY": ""})
    assert result.exit_code == 2
    assert "STATUSPAGE_TEST_KEY" in result.output


def test_import_statuspage(tmp_path: Path, target: Target, fake_statuspage: FakeStatuspage) -> None:
    group = fake_statuspage.add_group("Backend")
    fake_statuspage.add_component("Payment API", group_id=group)
    fake_statuspage.add_component("Website")
    path = config(tmp_path, target, fake_statuspage, "x")
    env = {"STATUSPAGE_TEST_KEY": "test-key"}
    out = tmp_path / "components.toml"
    result = CliRunner().invoke(
        main, ["import", "statuspage", "-c", str(path), "-o", str(out)], env=env
    )
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert 'name = "Payment API"' in text and 'name = "Website"' in text
    assert "# group: Backend" in text
    again = CliRunner().invoke(
        main, ["import", "statuspage", "-c", str(path), "-o", str(out)], env=env
    )
    assert again.exit_code == 2 and "--force" in again.output
    assert out.read_text() == text
    forced = CliRunner().invoke(
        main, ["import", "statuspage", "-c", str(path), "-o", str(out), "--force"], env=env
    )
    assert forced.exit_code == 0
    printed = CliRunner().invoke(main, ["import", "statuspage", "-c", str(path)], env=env)
    assert printed.exit_code == 0 and printed.output == text


def test_maintenance_on_the_page_puts_the_component_under_maintenance(
    tmp_path: Path,
    target: Target,
    fake_statuspage: FakeStatuspage,
    daemons: Callable[..., DaemonProcess],
) -> None:
    remote_id = fake_statuspage.add_component("Payment API")
    fake_statuspage.add_maintenance([remote_id])
    path = config(tmp_path, target, fake_statuspage, remote_id, maintenance_poll="1s")
    target.set("/pay", status=500)
    daemon = daemons(path, env={"STATUSPAGE_TEST_KEY": "test-key"})

    def status() -> str | None:
        result = CliRunner().invoke(main, ["status", "-c", str(path), "--json"])
        if result.exit_code != 0:
            return None
        return json.loads(result.output)["components"][0]["status"]  # type: ignore[no-any-return]

    wait_for(lambda: status() == "under_maintenance", 15, "under_maintenance")
    wait_for(lambda: target.count("/pay") >= 4, 15, "failing probes during maintenance")
    assert status() == "under_maintenance"
    assert ours(fake_statuspage) == [], "no incident during maintenance"
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(10) == 0
