"""What the CLI prints for people: text from targets and pages printed as it is (never read as
markup), nothing a user needs dropped at 80 columns, statuses told apart without colour, and
`/status.json` the same document as `monitor status --json`."""

from __future__ import annotations

import datetime as dt
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from monitor.cli import main
from monitor.incidents import IncidentStatus, Remote
from monitor.model import Component, HttpCheck, Outcome, check_key
from monitor.state import CheckState, CheckStatus, ComponentStatus, ComponentTransition, Status
from monitor.store import (
    heartbeat,
    record_delivery,
    record_published,
    record_publisher_health,
    register_checks,
    save_check_status,
    save_component_status,
    save_transition,
)
from monitor.writer import Writer

from .conftest import DaemonProcess, Target, free_port, wait_for, write_config

BANNER = "220 [/] hello [bold]mail\r\n"
WIDE = {"COLUMNS": "250", "NO_COLOR": "1"}


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env or WIDE)


def flat(text: str) -> str:
    """Whitespace folded: text wrapped over several lines still reads as one string."""
    return " ".join(text.split())


def assert_clean(result: Result, code: int) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output and "MarkupError" not in result.output


@pytest.fixture
def banner() -> Iterator[int]:
    """A TCP server on loopback that greets every connection like a mail server would, with
    square brackets in its greeting, and hangs up."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.sendall(BANNER.encode())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join(5)
    server.close()


def hostile_config(folder: Path, target: Target, banner_port: int, extra: str = "") -> Path:
    return write_config(
        folder,
        f"""
        [monitor]
        database = "m.db"
        listen = ""
        {extra}
        [defaults]
        interval = "1s"
        timeout = "1s"
        fail_after = 1
        [[component]]
        name = "Web [/i]"
          [[component.check]]
          type = "http"
          name = "home [/b]"
          url = "{target.url}/home"
          expect_body = "[/ready]"
        [[component]]
        name = "Ready"
          [[component.check]]
          type = "http"
          name = "ready"
          url = "{target.url}/ready"
          expect_body = "[ready]"
        [[component]]
        name = "Mail"
          [[component.check]]
          type = "tcp"
          name = "smtp [red]"
          host = "127.0.0.1"
          port = {banner_port}
          expect = "SSH-"
        """,
    )


HOSTILE = (
    "home [/b]",
    'body does not contain "[/ready]"',
    'body does not contain "[ready]"',
    "smtp [red]",
    "220 [/] hello [bold]mail",
)


def test_check_prints_what_targets_say_literally(
    tmp_path: Path, target: Target, banner: int
) -> None:
    config = hostile_config(tmp_path, target, banner)
    result = invoke("check", "-c", str(config))
    assert_clean(result, 1)
    for text in HOSTILE:
        assert text in result.output, text


@pytest.fixture
def outage(
    tmp_path: Path, target: Target, banner: int, daemons: Callable[..., DaemonProcess]
) -> Path:
    """A database the real daemon wrote while every check failed with text full of brackets:
    three components down, with an incident each, published by the log publisher."""
    config = hostile_config(tmp_path, target, banner, extra="")
    config.write_text(config.read_text() + '\n[publisher]\ntype = "log"\n')
    daemon = daemons(config)

    def all_down() -> bool:
        result = CliRunner().invoke(main, ["status", "-c", str(config), "--json"])
        if result.exit_code != 0:
            return False
        document = json.loads(result.output)
        return all(
            c["status"] == "major_outage" and c["incident"] is not None
            for c in document["components"]
        )

    wait_for(all_down, 20, "three components down with an incident each")
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(10) == 0, daemon.log
    return config


@pytest.mark.slow
def test_status_incidents_and_history_print_reasons_literally(outage: Path) -> None:
    status = invoke("status", "-c", str(outage))
    assert_clean(status, 0)
    incidents = invoke("incidents", "-c", str(outage), "--since", "1h")
    assert_clean(incidents, 0)
    for text in HOSTILE:
        assert text in flat(status.output), f"status: {text}"
        assert text in flat(incidents.output), f"incidents: {text}"
    assert "log-1" in incidents.output and "log-1" in status.output
    history = invoke("history", "-c", str(outage), "--since", "1h")
    assert_clean(history, 0)
    assert {"web-i", "ready", "mail"} <= set(history.output.split())
    document = json.loads(invoke("status", "-c", str(outage), "--json").output)
    reasons = " ".join(c["reason"] for c in document["components"])
    assert 'body does not contain "[/ready]"' in reasons


# -- a database written the way the daemon writes it, for what the page said ------------------

D0 = dt.datetime(2026, 3, 2, tzinfo=dt.UTC).timestamp()
H = 3600.0
OP, DEG, PART, MAJ, MAINT = (
    Status.OPERATIONAL,
    Status.DEGRADED_PERFORMANCE,
    Status.PARTIAL_OUTAGE,
    Status.MAJOR_OUTAGE,
    Status.UNDER_MAINTENANCE,
)
LONG_REASON = (
    "all 3 checks down: certificate-expiry-eu-west timeout after 10.0 s; checkout-flow-primary "
    "[/] refused: connection refused; payments-webhook-receiver 503 [bold]Service Unavailable"
)
PAGE_ERROR = "cannot reach the page: statuspage: POST /incidents: 422: [/] name [bold]is taken"
ESCAPE = "\x1b[2J\x1b]0;pwned\x07"  # clear the screen, retitle the terminal
PAGE_INCIDENT = "[/inc]9xk"
COMPONENTS = [
    Component(
        id="payment-api",
        name="Payment API",
        checks=tuple(
            HttpCheck(name=name, url="http://127.0.0.1:1/")
            for name in (
                "certificate-expiry-eu-west",
                "checkout-flow-primary",
                "payments-webhook-receiver",
            )
        ),
    ),
    Component(
        id="db", name="Database", checks=(HttpCheck(name="replica", url="http://127.0.0.1:1/"),)
    ),
]


def written(tmp_path: Path, components: list[Component]) -> Path:
    """A config and a database as the daemon writes them: runs over five days from D0, the
    first component a day in each status (major, partial, degraded, maintenance, operational)
    and down now with a long reason, an incident the page named oddly, and the page's last
    error."""
    entries = "".join(
        f"""
        [[component]]
        name = "{c.name}"
        id = "{c.id}"
        """
        + "".join(
            f"""
          [[component.check]]
          type = "http"
          name = "{check.name}"
          url = "http://127.0.0.1:1/"
        """
            for check in c.checks
        )
        for c in components
    )
    config = write_config(
        tmp_path,
        f"""
        [monitor]
        database = "m.db"
        listen = ""
        retention = "3650d"
        [publisher]
        type = "log"
        {entries}
        """,
    )
    writer = Writer(tmp_path / "m.db", flush_interval=0.01)
    writer.start()
    ids = writer.call(lambda db: register_checks(db, components)).result(5)
    first = components[0].id
    steps = [OP, MAJ, PART, DEG, MAINT, OP]
    for day, (before, after) in enumerate(zip(steps, steps[1:], strict=False)):
        reason = LONG_REASON if after is MAJ else f"[/]{after}"
        transition = ComponentTransition(D0 + day * 24 * H, before, after, reason)
        writer.submit(save_transition(first, None, transition))
    now = time.time()
    down = CheckStatus(
        CheckState.DOWN,
        now - 60,
        last_outcome=Outcome.FAIL,
        last_latency=0.012,
        last_at=now - 2,
        last_error="[/] refused",
    )
    for component in components:
        writer.submit(save_component_status(component.id, ComponentStatus(MAJ, now, LONG_REASON)))
        for check in component.checks:
            writer.submit(save_check_status(ids[check_key(component, check)], down))
    remote = Remote(incident_id=PAGE_INCIDENT, incident_status=IncidentStatus.INVESTIGATING)

    def seed(db: Any) -> None:
        with db.conn:
            heartbeat(db, D0, D0 + 5 * 24 * H)
        record_published(db, "log", PAGE_INCIDENT, first, D0)
        record_delivery(db, "log", first, remote, None, now)
        record_publisher_health(db, "log", PAGE_ERROR + ESCAPE, now)

    writer.call(seed).result(5)
    writer.stop()
    return config


WINDOW = ("--since", "2026-03-01", "--until", "2026-03-08")


def test_what_the_page_said_is_printed_literally(tmp_path: Path) -> None:
    config = written(tmp_path, COMPONENTS)
    incidents = invoke("incidents", "-c", str(config), *WINDOW)
    assert_clean(incidents, 0)
    assert PAGE_INCIDENT in incidents.output
    assert flat(LONG_REASON) in flat(incidents.output)
    status = invoke("status", "-c", str(config))
    assert_clean(status, 0)
    for text in (PAGE_ERROR, PAGE_INCIDENT, LONG_REASON, r"\x1b[2J\x1b]0;pwned\x07"):
        assert flat(text) in flat(status.output), text
    assert "\x1b" not in status.output and "\x07" not in status.output, "no escapes reach the tty"


def test_incidents_at_80_columns_keeps_every_reason(tmp_path: Path) -> None:
    config = written(tmp_path, COMPONENTS)
    result = invoke("incidents", "-c", str(config), *WINDOW, env={"COLUMNS": "80"})
    assert_clean(result, 0)
    (row,) = [line for line in result.output.splitlines() if "2026-03-02T00:00:00Z" in line]
    assert len(row) <= 80 and {"payment-api", "major_outage", PAGE_INCIDENT} <= set(row.split())
    assert LONG_REASON in result.output, "the reason whole, under its row, for a pipe or grep"


def test_status_at_80_columns_keeps_check_names_whole(tmp_path: Path) -> None:
    config = written(tmp_path, COMPONENTS)
    result = invoke("status", "-c", str(config), env={"COLUMNS": "80"})
    assert_clean(result, 0)
    lines = result.output.splitlines()
    for check in COMPONENTS[0].checks:
        (row,) = [line for line in lines if line.split()[:1] == [check.name]]
        assert len(row) <= 80 and "down" in row.split() and "fail" in row.split(), row
    assert any(line.split()[:2] == ["payment-api", "major_outage"] for line in lines)
    assert LONG_REASON in result.output, "the reason whole on one line, for a pipe or grep"


# The bar's cell for each day of WINDOW: a day nobody watched, major, partial, degraded,
# maintenance, operational, and another day nobody watched.
DAY_STATUSES = [
    None,
    "major_outage",
    "partial_outage",
    "degraded_performance",
    "under_maintenance",
    "operational",
    None,
]


def bar_and_legend(output: str, component: str) -> tuple[str, dict[str, str]]:
    """The day bar of `component` and the legend's character for each status word."""
    lines = output.splitlines()
    legend_at = next(i for i, line in enumerate(lines) if "one cell a day" in line)
    legend = " ".join(lines[legend_at + 1 :]).split()
    cells: dict[str, str] = {}
    char = ""
    for token in legend:
        if len(token) == 1 and not token.isalpha():
            char = token
        else:
            cells[char] = f"{cells[char]} {token}" if char in cells else token
    words = {word: char for char, word in cells.items()}
    (bar,) = [
        line.split()[1]
        for line in lines
        if line.split()[:1] == [component]
        and len(line.split()) == 2
        and set(line.split()[1]) <= set(cells)
    ]
    return bar, words


WORDS = {
    "major_outage": "major",
    "partial_outage": "partial",
    "degraded_performance": "degraded",
    "under_maintenance": "maintenance",
    "operational": "operational",
    None: "not monitored",
}


def test_history_day_bar_tells_statuses_apart_without_colour(tmp_path: Path) -> None:
    config = written(tmp_path, COMPONENTS[:1])
    for env in ({"NO_COLOR": "1", "COLUMNS": "80"}, {"COLUMNS": "80"}):
        result = invoke("history", "-c", str(config), *WINDOW, env=env)
        assert_clean(result, 0)
        assert "\x1b[" not in result.output, "no colour codes into a pipe"
        bar, cells = bar_and_legend(result.output, "payment-api")
        assert len(set(cells.values())) == len(cells) == 6, cells
        assert bar == "".join(cells[WORDS[status]] for status in DAY_STATUSES), (bar, cells)


def test_history_through_a_pipe_with_no_color(tmp_path: Path) -> None:
    config = written(tmp_path, COMPONENTS[:1])
    out = subprocess.run(
        [sys.executable, "-m", "monitor", "history", "-c", str(config), *WINDOW],
        capture_output=True,
        text=True,
        env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin", "COLUMNS": "80"},
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "\x1b[" not in out.stdout
    bar, cells = bar_and_legend(out.stdout, "payment-api")
    assert bar == "".join(cells[WORDS[status]] for status in DAY_STATUSES)


# -- /status.json and `monitor status --json` -------------------------------------------------


def shape(value: object) -> object:
    """The keys of a document at every level; lists by their items."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value]
    return "value"


@pytest.mark.slow
def test_status_json_served_and_printed_are_one_document(
    tmp_path: Path, target: Target, daemons: Callable[..., DaemonProcess]
) -> None:
    from .test_operating import get

    port = free_port()
    target.set("/down", status=500)
    config = write_config(
        tmp_path,
        f"""
        [monitor]
        database = "m.db"
        listen = "127.0.0.1:{port}"
        [defaults]
        interval = "1s"
        timeout = "1s"
        fail_after = 1
        [publisher]
        type = "log"
        monitoring_for = "1h"
        [[component]]
        name = "Web"
          [[component.check]]
          type = "http"
          name = "home"
          url = "{target.url}/home"
          [[component.check]]
          type = "http"
          name = "down"
          url = "{target.url}/down"
        [[component]]
        name = "Down"
          [[component.check]]
          type = "http"
          url = "{target.url}/down"
        """,
    )
    daemons(config)
    documents: list[dict[str, Any]] = []

    def both() -> bool:
        code, body = get(port, "/status.json")
        printed = CliRunner().invoke(main, ["status", "-c", str(config), "--json"])
        if code != 200 or printed.exit_code != 0:
            return False
        documents[:] = [json.loads(body), json.loads(printed.output)]
        return all(
            c["incident"] is not None and all(k["state"] for k in c["checks"])
            for document in documents
            for c in document["components"]
        )

    wait_for(both, 20, "both documents with every check probed and an incident each")
    served, printed = documents
    assert shape(served) == shape(printed)
    assert set(served) >= {"components", "publisher", "daemon", "cluster"}
    assert served["cluster"] is printed["cluster"] is None, "null without [cluster]"
    assert served["publisher"]["type"] == printed["publisher"]["type"] == "log"
    assert served["daemon"]["running"] is printed["daemon"]["running"] is True
    assert [c["status"] for c in served["components"]] == ["partial_outage", "major_outage"]
    assert [c["status"] for c in printed["components"]] == ["partial_outage", "major_outage"]
