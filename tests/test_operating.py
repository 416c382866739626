"""Operating the daemon: metrics, systemd notify, health, reload, logs and secrets."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from monitor.cli import main
from monitor.systemd import Notifier

from .conftest import DaemonProcess, Target, count_rows, free_port, wait_for, write_config
from .fake_statuspage import FakeStatuspage, fake_statuspage_fixture  # noqa: F401

pytestmark = pytest.mark.slow

SECRET = "sk-TEST-SECRET-9f8e7d6c5b4a"


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except urllib.error.URLError:  # not listening (yet)
        return 0, ""


def checks_toml(target: Target, port: int, names: list[str], extra: str = "") -> str:
    lines = [
        "[monitor]",
        'database = "data/monitor.db"',
        f'listen = "127.0.0.1:{port}"',
        "[defaults]",
        'interval = "1s"',
        'timeout = "1s"',
        "fail_after = 2",
        extra,
        "[[component]]",
        'name = "Web"',
    ]
    for name in names:
        lines += [
            "[[component.check]]",
            'type = "http"',
            f'name = "{name}"',
            f'url = "{target.url}/{name}"',
        ]
    return "\n".join(lines) + "\n"


def start(
    tmp_path: Path, daemons: Callable[..., DaemonProcess], text: str, **env: str
) -> DaemonProcess:
    (tmp_path / "data").mkdir(exist_ok=True)
    return daemons(write_config(tmp_path, text), "--log-format", "json", env=env)


def scrape(port: int) -> dict[str, object]:
    status, text = get(port, "/metrics")
    assert status == 200
    return {family.name: family for family in text_string_to_metric_families(text)}


def test_metrics_parse_with_the_right_names_types_and_values(
    tmp_path: Path, target: Target, daemons: Callable[..., DaemonProcess]
) -> None:
    port = free_port()
    target.set("/bad", status=500)
    daemon = start(tmp_path, daemons, checks_toml(target, port, ["good", "bad"]))
    wait_for(lambda: target.count("/bad") >= 3 and target.count("/good") >= 3, 15, "probes")
    wait_for(
        lambda: 'component="web",status="partial_outage"} 1.0' in get(port, "/metrics")[1],
        10,
        "status",
    )
    families = scrape(port)
    types = {name: family.type for name, family in families.items()}  # type: ignore[attr-defined]
    assert types["monitor_probe_duration_seconds"] == "histogram"
    assert types["monitor_probes"] == "counter"
    assert types["monitor_schedule_delay_seconds"] == "histogram"
    for gauge in (
        "monitor_probe_success",
        "monitor_check_up",
        "monitor_component_status",
        "monitor_build_info",
        "monitor_config_last_reload_successful",
        "monitor_publish_queue_depth",
    ):
        assert types.get(gauge) == "gauge", gauge
    assert "process_resident_memory_bytes" in families
    assert types["monitor_publish_requests"] == "counter"

    def samples(name: str) -> dict[tuple[tuple[str, str], ...], float]:
        family = families[name]
        return {
            tuple(sorted(s.labels.items())): s.value  # type: ignore[attr-defined]
            for s in family.samples  # type: ignore[attr-defined]
        }

    up = samples("monitor_check_up")
    assert up[(("check", "good"), ("component", "web"))] == 1.0
    assert up[(("check", "bad"), ("component", "web"))] == 0.0
    status = samples("monitor_component_status")
    assert status[(("component", "web"), ("status", "partial_outage"))] == 1.0
    assert sum(v for k, v in status.items() if ("component", "web") in k) == 1.0
    probes = samples("monitor_probes")
    fails = probes[(("check", "bad"), ("component", "web"), ("outcome", "fail"))]
    assert fails >= 3 and fails <= target.count("/bad")
    labels = {k for key in probes for k, _ in key}
    assert labels == {"component", "check", "outcome"}, "bounded labels, no URLs"
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(10) == 0


def test_notify_socket_sees_ready_then_watchdog_then_stopping(
    tmp_path: Path, target: Target, daemons: Callable[..., DaemonProcess]
) -> None:
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(15)
        daemon = start(
            tmp_path,
            daemons,
            checks_toml(target, free_port(), ["a"]),
            NOTIFY_SOCKET=str(path),
            WATCHDOG_USEC="200000",
        )
        messages = [sock.recv(4096).decode()]
        assert messages[0].startswith("READY=1\nSTATUS=probing 1 checks")
        while len(messages) < 4:
            messages.append(sock.recv(4096).decode())
        assert messages[1:4] == ["WATCHDOG=1"] * 3
        daemon.signal(signal.SIGTERM)
        while not messages[-1].startswith("STOPPING=1"):
            messages.append(sock.recv(4096).decode())
    assert daemon.wait(10) == 0


async def test_a_blocked_event_loop_stops_the_watchdog_pings(tmp_path: Path) -> None:
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.setblocking(False)
    notifier = Notifier({"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "100000"})
    pinger = asyncio.create_task(notifier.watchdog())
    loop = asyncio.get_running_loop()
    arrivals: list[float] = []

    async def collect(until: float) -> None:
        while time.monotonic() < until:
            try:
                sock.recv(64)
                arrivals.append(time.monotonic())
            except BlockingIOError:
                await asyncio.sleep(0.005)

    await collect(time.monotonic() + 0.3)
    before = len(arrivals)
    assert before >= 4, "pings every 50 ms while the loop runs"
    loop.call_soon(time.sleep, 0.5)  # something hogs the loop
    await collect(time.monotonic() + 0.8)
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
    assert max(gaps) >= 0.45, "no ping while the loop was blocked"
    pinger.cancel()
    sock.close()
    notifier.close()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


def test_healthz_is_503_while_the_database_cannot_be_written_and_nothing_is_lost(
    tmp_path: Path, target: Target, daemons: Callable[..., DaemonProcess], small_disk: Path
) -> None:
    port = free_port()
    text = checks_toml(target, port, ["a", "b"]).replace(
        'database = "data/monitor.db"', f'database = "{small_disk}/monitor.db"'
    )
    daemon = start(tmp_path, daemons, text)
    db = small_disk / "monitor.db"
    wait_for(lambda: get(port, "/healthz")[0] == 200, 15, "healthy")
    filler = small_disk / "filler"
    with filler.open("wb") as f:  # fill the disk to the last byte
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    wait_for(lambda: get(port, "/healthz")[0] == 503, 15, "unhealthy while the disk is full")
    status, body = get(port, "/healthz")
    assert "database not writable" in body and "full" in body
    writable = scrape(port)["monitor_database_writable"]
    assert writable.samples[0].value == 0  # type: ignore[attr-defined]
    hits_while_full = target.count()
    wait_for(lambda: target.count() >= hits_while_full + 4, 10, "probing to go on")
    filler.unlink()
    wait_for(lambda: get(port, "/healthz")[0] == 200, 15, "healthy again")
    metrics = scrape(port)
    assert metrics["monitor_database_writable"].samples[0].value == 1  # type: ignore[attr-defined]
    assert metrics["monitor_results_dropped"].samples[0].value == 0  # type: ignore[attr-defined]
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(10) == 0
    assert count_rows(db) == target.count(), "every result taken was written in the end"


def test_sighup_keeps_the_old_config_when_broken_and_applies_a_good_one(
    tmp_path: Path, target: Target, daemons: Callable[..., DaemonProcess]
) -> None:
    port = free_port()
    target.set("/keep", status=500)
    daemon = start(tmp_path, daemons, checks_toml(target, port, ["keep", "drop"]))
    config = tmp_path / "checks.toml"
    db = tmp_path / "data" / "monitor.db"

    def state(name: str) -> tuple[str, int] | None:
        conn = sqlite3.connect(db, timeout=5)
        try:
            return conn.execute(
                "SELECT s.state, s.since FROM check_state s JOIN checks c ON c.id = s.check_id "
                "WHERE c.name = ?",
                [name],
            ).fetchone()
        except sqlite3.OperationalError:
            return None
        finally:
            conn.close()

    wait_for(lambda: (state("keep") or ("",))[0] == "down", 15, "keep to be down")
    down_since = state("keep")

    config.write_text(config.read_text() + "\n[[component]]\nname = 42\n")
    daemon.signal(signal.SIGHUP)
    wait_for(lambda: "reload refused" in daemon.log, 10, "the refusal")
    families = scrape(port)
    reloaded = families["monitor_config_last_reload_successful"].samples[0].value  # type: ignore[attr-defined]
    assert reloaded == 0.0
    assert daemon.proc.poll() is None, "still running on the old config"
    drop_hits = target.count("/drop")
    wait_for(lambda: target.count("/drop") > drop_hits, 5, "the old config still probing")

    write_config(tmp_path, checks_toml(target, port, ["keep", "new"]))
    daemon.signal(signal.SIGHUP)
    wait_for(lambda: "reloaded" in daemon.log, 10, "the reload")
    assert "1 checks added, 1 removed, 0 changed, 1 unchanged" in daemon.log
    wait_for(lambda: target.count("/new") >= 2, 10, "the new check probed")
    dropped_at = target.count("/drop")
    wait_for(
        lambda: target.count("/keep") >= 3 + target.count("/keep"), 0.0 + 10, "more probes"
    ) if False else None
    keep_hits = target.count("/keep")
    wait_for(lambda: target.count("/keep") >= keep_hits + 2, 10, "keep probed on")
    assert target.count("/drop") <= dropped_at + 1, "the removed check stopped"
    assert state("keep") == down_since, "the unchanged check kept its state and since"
    assert scrape(port)["monitor_config_last_reload_successful"].samples[0].value == 1.0  # type: ignore[attr-defined]
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(10) == 0


def test_no_secret_reaches_logs_metrics_errors_or_the_database(
    tmp_path: Path,
    target: Target,
    fake_statuspage: FakeStatuspage,
    daemons: Callable[..., DaemonProcess],
) -> None:
    port = free_port()
    remote_id = fake_statuspage.add_component("Web")
    fake_statuspage.api_key = "the-right-key"  # ours is refused: 401s get logged
    publisher = f"""
[publisher]
type = "statuspage"
url = "{fake_statuspage.url}"
page_id = "page1"
api_key_env = "MONITOR_TEST_SECRET"
rate_limit = 20
"""
    text = checks_toml(target, port, ["a"], publisher).replace(
        'name = "Web"', f'name = "Web"\nremote_id = "{remote_id}"'
    )
    text += (
        '[[component.check]]\ntype = "http"\nname = "creds"\n'
        f'url = "http://admin:{SECRET}@127.0.0.1:{free_port()}/"\n'
    )
    target.set("/a", status=500)
    daemon = start(tmp_path, daemons, text, MONITOR_TEST_SECRET=SECRET)
    wait_for(lambda: "refused our API key" in daemon.log, 15, "the 401 in the log")
    wait_for(lambda: "creds" in get(port, "/metrics")[1], 10, "the creds check probed")
    outputs = [
        daemon.log,
        get(port, "/metrics")[1],
        get(port, "/status.json")[1],
        get(port, "/healthz")[1],
        CliRunner().invoke(main, ["status", "-c", str(tmp_path / "checks.toml")]).output,
        CliRunner().invoke(main, ["check", "-c", str(tmp_path / "checks.toml"), "--json"]).output,
    ]
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(10) == 0
    conn = sqlite3.connect(tmp_path / "data" / "monitor.db")
    outputs.append("\n".join(conn.iterdump()))
    conn.close()
    for output in outputs:
        assert SECRET not in output
    assert any("401" in output for output in outputs)
    for line in daemon.log.splitlines():
        json.loads(line)  # --log-format json: every line is one object


def test_reload_with_a_fixed_key_resumes_delivery(
    tmp_path: Path,
    target: Target,
    fake_statuspage: FakeStatuspage,
    daemons: Callable[..., DaemonProcess],
) -> None:
    remote_id = fake_statuspage.add_component("Web")
    key_file = tmp_path / "key"
    key_file.write_text("wrong-key\n")
    publisher = f"""
[publisher]
type = "statuspage"
url = "{fake_statuspage.url}"
page_id = "page1"
api_key_file = "key"
rate_limit = 20
"""
    text = checks_toml(target, free_port(), ["a"], publisher).replace(
        'name = "Web"', f'name = "Web"\nremote_id = "{remote_id}"'
    )
    target.set("/a", status=500)
    daemon = start(tmp_path, daemons, text)
    wait_for(lambda: "refused our API key" in daemon.log, 15, "the 401")
    key_file.write_text("test-key\n")
    daemon.signal(signal.SIGHUP)
    wait_for(
        lambda: any(i.get("metadata") for i in fake_statuspage.incidents()), 15, "the incident"
    )
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(10) == 0
    assert os.environ.get("MONITOR_TEST_SECRET") is None
