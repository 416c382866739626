"""Announcing end to end: `monitor run` as a subprocess announces a [[maintenance]] window on a
fake Statuspage, survives a kill -9 in the middle of the POST without doubling it, updates it
after a reload with a changed window, and deletes it when the window is removed."""

from __future__ import annotations

import datetime as dt
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .conftest import DaemonProcess, Target, wait_for, write_config
from .fake_statuspage import FakeStatuspage, fake_statuspage_fixture  # noqa: F401

pytestmark = pytest.mark.slow

ENV = {"STATUSPAGE_TEST_KEY": "test-key"}


def config(folder: Path, target: Target, fake: FakeStatuspage, remote_id: str, window: str) -> Path:
    return write_config(
        folder,
        f"""
[monitor]
database = "monitor.db"
listen = ""
[publisher]
type = "statuspage"
url = "{fake.url}"
page_id = "page1"
api_key_env = "STATUSPAGE_TEST_KEY"
rate_limit = 20
[[component]]
name = "Payment API"
id = "payments"
remote_id = "{remote_id}"
  [[component.check]]
  type = "http"
  name = "healthz"
  interval = "1s"
  timeout = "1s"
  url = "{target.url}/pay"
{window}
""",
    )


def scheduled(fake: FakeStatuspage) -> list[dict[str, Any]]:
    return [i for i in fake.incidents() if i["status"] == "scheduled"]


def test_a_window_is_announced_once_across_a_kill_updated_on_reload_and_deleted(
    tmp_path: Path,
    target: Target,
    fake_statuspage: FakeStatuspage,
    daemons: Callable[..., DaemonProcess],
) -> None:
    remote_id = fake_statuspage.add_component("Payment API")
    start = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).replace(microsecond=0)
    end = start + dt.timedelta(hours=2)
    times = f'start = "{start.isoformat()}"\nend = "{end.isoformat()}"'
    window = f'[[maintenance]]\ncomponents = ["payments"]\n{times}\n'
    path = config(tmp_path, target, fake_statuspage, remote_id, window)
    fake_statuspage.hang_next(1, accept=True, method="POST", path="*/incidents")
    daemon = daemons(path, env=ENV)
    wait_for(lambda: fake_statuspage.holds >= 1, 30, "the announcement POSTed")
    daemon.signal(signal.SIGKILL)  # the page has it; the daemon never learned its id
    daemon.wait(10)
    fake_statuspage.release()
    assert len(scheduled(fake_statuspage)) == 1

    daemon = daemons(path, env=ENV)
    wait_for(lambda: "adopting scheduled maintenance" in daemon.log, 30, "the adoption")
    [incident] = scheduled(fake_statuspage)
    assert incident["scheduled_for"] == start.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert incident["component_ids"] == [remote_id]
    assert len(fake_statuspage.requests("POST")) == 1, "not doubled"

    path = config(tmp_path, target, fake_statuspage, remote_id, f'{window}title = "Upgrade"\n')
    daemon.signal(signal.SIGHUP)
    wait_for(lambda: scheduled(fake_statuspage)[0]["name"] == "Upgrade", 30, "the update")
    assert len(fake_statuspage.requests("POST")) == 1

    path = config(tmp_path, target, fake_statuspage, remote_id, "")
    daemon.signal(signal.SIGHUP)
    wait_for(lambda: not scheduled(fake_statuspage), 30, "the deletion")
    assert [s.path for s in fake_statuspage.requests("DELETE")] == [
        f"/pages/page1/incidents/{incident['id']}"
    ]
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(30) == 0
