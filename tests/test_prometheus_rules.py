"""deploy/prometheus/monitor-rules.yml, checked by the real tools: promtool checks the rules and
runs their unit tests; a real Prometheus loads them (and gives them back as JSON); every metric
they name is one a real daemon exports; every alert has its annotations and a runbook section
in docs/operating.md."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .cluster_helpers import KEY_ENV, leader_of, start_nodes
from .conftest import DaemonProcess, Target, free_port, require_tool, wait_for, write_config
from .fake_statuspage import FakeStatuspage, fake_statuspage_fixture  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "deploy" / "prometheus" / "monitor-rules.yml"
RULE_TESTS = sorted((ROOT / "deploy" / "prometheus" / "tests").glob("*.yml"))
OPERATING = ROOT / "docs" / "operating.md"
RUNBOOK = "https://github.com/monitor/monitor/blob/main/docs/operating.md#"
PROMETHEUS_OWN = {"up"}  # series Prometheus makes itself, not the daemon
CLUSTER_ONLY = {"monitor_cluster_leader", "monitor_cluster_nodes", "monitor_quorum_lost"}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_promtool_checks_the_rules() -> None:
    promtool = require_tool("promtool", "prometheus")
    checked = run(promtool, "check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert re.search(r"SUCCESS: \d+ rules found", checked.stdout), checked.stdout


def test_promtool_unit_tests_pass() -> None:
    promtool = require_tool("promtool", "prometheus")
    assert len(RULE_TESTS) >= 2, RULE_TESTS
    tested = run(promtool, "test", "rules", *map(str, RULE_TESTS))
    output = tested.stdout + tested.stderr
    assert tested.returncode == 0, output
    assert "FAILED" not in output, output
    assert output.count("SUCCESS") == len(RULE_TESTS), output


# -- the rules as a real Prometheus loads them --------------------------------------------------


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:  # not listening (yet)
        return 0, ""


@pytest.fixture(scope="module")
def loaded_rules(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[dict[str, Any]]]:
    """Every rule of the file as a real Prometheus on loopback loaded it (GET /api/v1/rules):
    name, query (its expression as Prometheus prints it), labels, annotations, type."""
    prometheus = require_tool("prometheus", "prometheus")
    folder = tmp_path_factory.mktemp("prometheus")
    config = folder / "prometheus.yml"
    config.write_text(f"rule_files:\n  - {json.dumps(str(RULES))}\n")  # and nothing to scrape
    port = free_port()
    log = (folder / "prometheus.log").open("w")
    server = subprocess.Popen(
        [
            prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: get(f"{base}/-/ready")[0] == 200 or server.poll() is not None, 30, "ready")
        assert server.poll() is None, (folder / "prometheus.log").read_text()
        status, body = get(f"{base}/api/v1/rules")
        assert status == 200, body
        yield [rule for group in json.loads(body)["data"]["groups"] for rule in group["rules"]]
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
        log.close()


def alerts(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [rule for rule in rules if rule["type"] == "alerting"]


def anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown file."""
    found = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *$", markdown, re.M):
        found.add(re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-"))
    return found


def test_every_alert_has_a_summary_a_description_and_its_runbook(
    loaded_rules: list[dict[str, Any]],
) -> None:
    sections = anchors(OPERATING.read_text())
    assert "alerts" in sections
    assert len(alerts(loaded_rules)) >= 15
    for alert in alerts(loaded_rules):
        name, annotations = alert["name"], alert["annotations"]
        assert set(annotations) == {"summary", "description", "runbook_url"}, name
        assert "{{ $labels." in annotations["summary"] + annotations["description"], name
        assert alert["labels"]["severity"] in {"page", "ticket"}, name
        assert annotations["runbook_url"] == RUNBOOK + name.lower(), name
        assert name.lower() in sections, f"docs/operating.md has no section {name}"


def test_every_rule_has_a_promtool_test_that_it_fires_and_one_that_it_does_not(
    loaded_rules: list[dict[str, Any]],
) -> None:
    text = "\n".join(path.read_text() for path in RULE_TESTS)
    cases = re.split(r"\n\s*- alertname: ", text)[1:]
    fired, quiet = set(), set()
    for case in cases:
        name, _, rest = case.partition("\n")
        expected = re.search(r"exp_alerts:(.*)", rest)
        assert expected, name
        (quiet if expected[1].strip() == "[]" else fired).add(name.strip())
    names = {alert["name"] for alert in alerts(loaded_rules)}
    assert names - fired == set(), "alerts never tested firing"
    assert names - quiet == set(), "alerts never tested staying quiet"
    recorded = {rule["name"] for rule in loaded_rules if rule["type"] == "recording"}
    assert len(recorded) == 3
    tested = set(re.findall(r"- expr: (\S+)", text))
    assert recorded - tested == set(), "recording rules without a tested value"


# -- the names: every metric the rules read is one the daemon exports ---------------------------

KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}


def metric_names(query: str) -> set[str]:
    """The metric names a PromQL expression (as Prometheus prints it) selects."""
    query = re.sub(r'"(?:[^"\\]|\\.)*"', '""', query)  # strings first: they may hold anything
    query = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", query)  # label matchers, ranges
    query = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right) *\([^)]*\)", " ", query)
    words = re.findall(r"(?<![\w.:])([a-zA-Z_:][\w:]*+)(?! *\()", query)  # not functions
    return {word for word in words if word.lower() not in KEYWORDS}


def test_metric_names_reads_selectors_not_functions_labels_or_keywords() -> None:
    query = (
        'histogram_quantile(0.99, sum by (job, le) (rate(a_bucket{le="1.0", x=~"y|z"}[5m]))) '
        '> 1 unless on (job) b_total offset 5m and absent(c{job="d"}) - time() < 14 * 86400 '
        "or e:f:g"
    )
    assert metric_names(query) == {"a_bucket", "b_total", "c", "e:f:g"}


def exported(metrics: str) -> set[str]:
    """The series names a /metrics text holds, and the families it declares (a family with no
    series yet, as a histogram with no observation, is declared by its TYPE line)."""
    names = set(re.findall(r"^([a-zA-Z_:][\w:]*)[{ ]", metrics, re.M))
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", metrics, re.M):
        names.add(name)
        if kind == "histogram":
            names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return names


def read_by_rules(rules: list[dict[str, Any]]) -> set[str]:
    recorded = {rule["name"] for rule in rules if rule["type"] == "recording"}
    names = set().union(*(metric_names(rule["query"]) for rule in rules))
    return names - recorded - PROMETHEUS_OWN


def scrape(port: int) -> str:
    status, text = get(f"http://127.0.0.1:{port}/metrics")
    return text if status == 200 else ""


@pytest.mark.slow
def test_the_rules_read_only_what_the_daemon_exports(
    loaded_rules: list[dict[str, Any]],
    tmp_path: Path,
    target: Target,
    daemons: Callable[..., DaemonProcess],
    fake_statuspage: FakeStatuspage,
) -> None:
    """A daemon with a status page to publish to: every name but the cluster's is there."""
    read = read_by_rules(loaded_rules)
    assert {"monitor_schedule_delay_seconds_bucket", "monitor_publish_queue_depth"} <= read
    assert read >= CLUSTER_ONLY
    port = free_port()
    remote_id = fake_statuspage.add_component("Payment API")
    config = write_config(
        tmp_path,
        f"""
        [monitor]
        database = "monitor.db"
        listen = "127.0.0.1:{port}"
        [publisher]
        type = "statuspage"
        url = "{fake_statuspage.url}"
        page_id = "page1"
        api_key_env = "{KEY_ENV}"
        [[component]]
        name = "Payment API"
        id = "payments"
        remote_id = "{remote_id}"
          [[component.check]]
          type = "http"
          name = "healthz"
          url = "{target.url}/pay"
          interval = "1s"
          timeout = "0.8s"
        """,
    )
    daemon = daemons(config, env={KEY_ENV: "test-key"})
    wanted = ("monitor_probes_total{", "monitor_publish_queue_depth{", "monitor_component_status{")
    wait_for(
        lambda: daemon.proc.poll() is not None or all(w in scrape(port) for w in wanted),
        30,
        "a probe, the publisher",
    )
    assert daemon.proc.poll() is None, daemon.log
    have = exported(scrape(port))
    assert read - CLUSTER_ONLY - have == set(), "the rules read series the daemon never exports"
    assert CLUSTER_ONLY & have == set(), "not cluster-only after all: move them out of the set"


@pytest.mark.slow
def test_the_cluster_rules_read_what_a_cluster_node_exports(
    loaded_rules: list[dict[str, Any]],
    tmp_path: Path,
    target: Target,
    daemons: Callable[..., DaemonProcess],
    fake_statuspage: FakeStatuspage,
    pg_url: str,
) -> None:
    read = read_by_rules(loaded_rules)
    remote_id = fake_statuspage.add_component("Payment API")
    (node,) = start_nodes(tmp_path, 1, daemons, pg_url, target, fake_statuspage, remote_id)
    leader_of([node])
    wait_for(lambda: "monitor_quorum_lost" in scrape(node.port), 30, "the cluster's series")
    have = exported(scrape(node.port))
    assert read - have == set(), "the rules read series a cluster node never exports"
