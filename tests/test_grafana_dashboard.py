"""deploy/grafana/monitor.json against a real Prometheus scraping real daemons.

Two `monitor run` daemons (one per check, one with metrics_per_check = false) probe loopback
targets; a real `prometheus` scrapes them every second into an empty TSDB. Then every PromQL
expression of the dashboard (panel targets, annotations, template variables) is run through the
HTTP API, with the template variables filled in as Grafana would: each must parse, return what
the daemons have produced (the reload annotation after a SIGHUP), and name only metrics a daemon
exports.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import math
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme

from monitor import __version__

from .conftest import DaemonProcess, Target, free_port, require_tool, wait_for, write_config
from .probe_servers import server_tls, silent, tcp_server

pytestmark = pytest.mark.slow

DASHBOARD = Path(__file__).parent.parent / "deploy" / "grafana" / "monitor.json"
# Grafana's own variables, as it would fill them in for a short time range. `$__rate_interval`
# is at least four scrape intervals in Grafana; one minute holds many 1 s scrapes.
BUILTINS = {"__rate_interval": "1m", "__interval": "15s", "__range": "1h", "__range_s": "3600"}
# PromQL words that are not metric names.
KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}
GROUPING = r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)"
# The annotation that has something to show only once a daemon has reloaded its config.
RELOADS = "annotation 'Config reloaded'"
DAYS_LEFT = 10
SERIES = (
    "monitor_probe_duration_seconds_count"  # the TLS target's certificate expires in this many days
)
JSON = dict[str, Any]


# -- the dashboard --------------------------------------------------------------------------


def load() -> JSON:
    dashboard: JSON = json.loads(DASHBOARD.read_text())
    return dashboard


def panels(dashboard: JSON) -> Iterator[JSON]:
    """Every panel, those inside collapsed rows too."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


@dataclass(frozen=True)
class Expr:
    where: str  # the panel, annotation or variable it comes from
    promql: str


def expressions(dashboard: JSON) -> list[Expr]:
    found = [
        Expr(f"panel {panel['title']!r} {target['refId']}", target["expr"])
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
    ]
    found += [
        Expr(f"annotation {item['name']!r}", item["expr"])
        for item in dashboard["annotations"]["list"]
        if "expr" in item
    ]
    return found


def variable_queries(dashboard: JSON) -> dict[str, str]:
    """The query variables: name -> their `label_values(...)` query."""
    queries: dict[str, str] = {}
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            queries[variable["name"]] = query["query"] if isinstance(query, dict) else query
    return queries


def fill(promql: str, values: dict[str, str]) -> str:
    """The template variables replaced by `values` (and Grafana's own); none may be left."""
    every = {**BUILTINS, **values}

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        assert name in every, f"unknown template variable ${name} in {promql!r}"
        return every[name]

    filled = re.sub(r"\$\{(\w+)\}|\$(\w+)", value, promql)
    assert "$" not in filled and "[[" not in filled, filled
    return filled


def metric_names(promql: str) -> set[str]:
    """The metric names an expression reads: words that are not in a string, a label matcher, a
    range, a grouping clause, a function call or a keyword."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', promql)
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", text)
    text = re.sub(GROUPING, " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.])[a-zA-Z_:][\w:]*", text):
        if match.group() in KEYWORDS or text[match.end() :].lstrip().startswith("("):
            continue
        names.add(match.group())
    return names


def label_values(query: str) -> tuple[str, str]:
    """`label_values(selector, label)` -> (selector, label)."""
    match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query.strip())
    assert match, f"not a label_values(selector, label) query: {query!r}"
    return match.group(1), match.group(2)


def test_metric_names_are_read_from_the_expression() -> None:
    promql = (
        'histogram_quantile(0.5, sum by (le, check) (rate(a_bucket{x=~"b|c"}[1m])))'
        " / on (instance) group_left (version) b_info or vector(1e3) and d offset 5m"
    )
    assert metric_names(promql) == {"a_bucket", "b_info", "d"}


def test_the_dashboard_is_a_templated_grafana_dashboard() -> None:
    dashboard = load()
    assert dashboard["schemaVersion"] >= 36
    assert dashboard["uid"] and dashboard["title"] and dashboard["id"] is None
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    source = variables["datasource"]
    assert (source["type"], source["query"]) == ("datasource", "prometheus")
    for name in ("component", "check"):
        assert variables[name]["type"] == "query", name
        assert variables[name]["multi"] and variables[name]["includeAll"], name
        assert variables[name]["allValue"] == ".*", name
        assert variables[name]["datasource"]["uid"] == "${datasource}", name
    ids = [panel["id"] for panel in panels(dashboard)]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    for panel in panels(dashboard):
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"] and panel.get("description"), panel["title"]
        refs = [target["refId"] for target in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
    kinds = {panel["type"] for panel in panels(dashboard)}
    assert {"state-timeline", "timeseries", "table", "stat"} <= kinds
    required = {item["id"] for item in dashboard["__requires"] if item["type"] == "panel"}
    assert kinds - {"row"} <= required, "every panel type is in __requires"
    for expr in expressions(dashboard):
        # Windows follow the time range and the scrape interval, never a fixed one.
        assert not re.search(r"\[\d+[smhdwy]\]", expr.promql), expr


def test_the_status_timeline_maps_every_status_to_its_colour() -> None:
    timeline = next(p for p in panels(load()) if p["title"] == "Component status")
    assert timeline["type"] == "state-timeline"
    codes = dict(re.findall(r'status="(\w+)"\} \* (\d)', timeline["targets"][0]["expr"]))
    mapping = timeline["fieldConfig"]["defaults"]["mappings"][0]["options"]
    colours = {status: mapping[code]["color"] for status, code in codes.items()}
    assert colours == {
        "operational": "green",
        "degraded_performance": "yellow",
        "partial_outage": "orange",
        "major_outage": "red",
        "under_maintenance": "blue",
    }


# -- the real thing -------------------------------------------------------------------------


class Prometheus:
    """A real `prometheus` on loopback with an empty TSDB of its own, scraping `targets`."""

    def __init__(self, binary: str, folder: Path, targets: list[str]) -> None:
        self.port = free_port()
        folder.mkdir()
        config = folder / "prometheus.yml"
        config.write_text(
            "global:\n"
            "  scrape_interval: 1s\n"
            "  scrape_timeout: 1s\n"
            "scrape_configs:\n"
            "  - job_name: monitor\n"
            "    static_configs:\n"
            f"      - targets: {json.dumps(targets)}\n"
        )
        self.log_path = folder / "prometheus.log"
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={folder / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()

    def ready(self) -> bool:
        assert self.proc.poll() is None, self.log_path.read_text(errors="replace")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=5) as r:
                return bool(r.status == 200)
        except (urllib.error.URLError, ConnectionError):
            return False

    def api(self, path: str, **params: str) -> JSON:
        """A GET of the HTTP API; a 400 (a parse error) is returned, not raised."""
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body: JSON = json.load(response)
        except urllib.error.HTTPError as exc:
            body = json.load(exc)
        return body

    def query(self, promql: str) -> list[JSON]:
        body = self.api("query", query=promql)
        assert body["status"] == "success", f"{promql}\n-> {body}"
        result: list[JSON] = body["data"]["result"]
        return result


@contextlib.contextmanager
def tls_target(cert: trustme.LeafCert) -> Iterator[int]:
    """A TLS server on loopback, in a thread of its own: it shakes hands and waits for the
    client to close."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = tcp_server(silent, tls=server_tls(cert))
    try:
        yield asyncio.run_coroutine_threadsafe(server.__aenter__(), loop).result(10)
    finally:
        asyncio.run_coroutine_threadsafe(server.__aexit__(None, None, None), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def config(port: int, components: str, extra: str = "") -> str:
    return (
        "[monitor]\n"
        'database = "monitor.db"\n'
        f'listen = "127.0.0.1:{port}"\n'
        f"{extra}"
        "[defaults]\n"
        'interval = "1s"\n'
        'timeout = "1s"\n'
        "fail_after = 2\n"
        "[publisher]\n"
        'type = "log"\n'
        f"{components}"
    )


def http_check(name: str, url: str) -> str:
    return f'[[component.check]]\ntype = "http"\nname = "{name}"\nurl = "{url}"\n'


def start_daemons(
    tmp_path: Path, target: Target, tls_port: int, daemons: Callable[..., DaemonProcess]
) -> list[tuple[DaemonProcess, int]]:
    """Per check: web (home, tls) and broken (api, answering 500); per component: grouped.
    Each daemon with the port of its /metrics."""
    target.set("/api", status=500)
    ports = [free_port(), free_port()]
    per_check = config(
        ports[0],
        '[[component]]\nname = "Web"\nid = "web"\n'
        + http_check("home", f"{target.url}/home")
        + '[[component.check]]\ntype = "tcp"\nname = "tls"\nhost = "127.0.0.1"\n'
        + f"port = {tls_port}\ntls = true\ntls_verify = false\n"
        + '[[component]]\nname = "Broken"\nid = "broken"\n'
        + http_check("api", f"{target.url}/api"),
    )
    per_component = config(
        ports[1],
        '[[component]]\nname = "Grouped"\nid = "grouped"\n'
        + http_check("one", f"{target.url}/one")
        + http_check("two", f"{target.url}/two"),
        extra="metrics_per_check = false\n",
    )
    started = []
    for name, text, port in (("a", per_check, ports[0]), ("b", per_component, ports[1])):
        (tmp_path / name).mkdir()
        started.append((daemons(write_config(tmp_path / name, text), "--log-format", "json"), port))
    return started


def exported(port: int) -> set[str]:
    """The sample names of a daemon's /metrics (histograms as _bucket/_sum/_count)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return set(re.findall(r"^([a-zA-Z_:][\w:]*)[{ ]", text, re.MULTILINE))


def by(result: list[JSON], *labels: str) -> dict[tuple[str, ...], float]:
    """An instant vector as {label values: value}."""
    return {
        tuple(sample["metric"].get(label, "") for label in labels): float(sample["value"][1])
        for sample in result
    }


def test_every_expression_runs_on_prometheus_against_the_daemons(
    tmp_path: Path, target: Target, daemons: Callable[..., DaemonProcess]
) -> None:
    binary = require_tool("prometheus", "prometheus")
    dashboard = load()
    ca = trustme.CA()
    expires = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=DAYS_LEFT)
    cert = ca.issue_cert("127.0.0.1", not_after=expires)
    with tls_target(cert) as tls_port:
        started = start_daemons(tmp_path, target, tls_port, daemons)
        urls = [f"127.0.0.1:{port}" for _, port in started]
        prometheus = Prometheus(binary, tmp_path / "prometheus", urls)
        try:
            wait_for(prometheus.ready, 60, "Prometheus to be ready", every=0.1)
            check_dashboard(dashboard, prometheus, started, expires.timestamp())
        finally:
            prometheus.stop()


def check_dashboard(
    dashboard: JSON,
    prometheus: Prometheus,
    started: list[tuple[DaemonProcess, int]],
    expires: float,
) -> None:
    everything = {"component": ".*", "check": ".*"}  # "All", as allValue says
    exprs = expressions(dashboard)
    must_fill = [e for e in exprs if e.where != RELOADS]
    empty: list[Expr] = []

    def scraped_enough() -> bool:
        # Both daemons scraped, the failing check down, and a result for every expression that
        # the daemons feed (rates need two scrapes of a probed counter).
        if len(prometheus.query('up{job="monitor"} == 1')) < 2:
            return False
        # Every probe series (home, tls, api, grouped) in enough scrapes for a rate.
        if len(prometheus.query(f"count_over_time({SERIES}[1m]) >= 3")) < 4:
            return False
        down = 'monitor_component_status{component="broken",status="major_outage"} == 1'
        if not prometheus.query(down):
            return False
        empty[:] = [e for e in must_fill if not prometheus.query(fill(e.promql, everything))]
        return not empty

    try:
        wait_for(scraped_enough, 90, "Prometheus to have scraped both daemons", every=0.25)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; still empty: {empty}") from None
    # A reload, once Prometheus has seen the daemon before it, is marked.
    started[0][0].signal(signal.SIGHUP)
    reloads = [fill(e.promql, everything) for e in exprs if e.where == RELOADS]
    assert reloads, "the dashboard marks reloads"
    wait_for(lambda: all(prometheus.query(r) for r in reloads), 30, "the reload's annotation")

    # The template variables' own queries, through the label values API as Grafana runs them.
    queries = variable_queries(dashboard)
    components = values_of(prometheus, fill(queries["component"], everything))
    assert components == ["broken", "grouped", "web"]
    picked = {"component": "(" + "|".join(components) + ")"}
    checks = values_of(prometheus, fill(queries["check"], picked))
    assert checks == ["api", "home", "tls"], "the per-component daemon has no check label"
    picked["check"] = "(" + "|".join(checks) + ")"

    # Every expression parses with "All" and with values picked, and is not empty.
    results = {}
    for expr in exprs:
        results[expr.promql] = prometheus.query(fill(expr.promql, everything))
        chosen = prometheus.query(fill(expr.promql, picked))
        assert results[expr.promql] and chosen, expr

    # Every metric it names is one a daemon exports.
    names = exported(started[0][1]) | exported(started[1][1])
    used = set().union(*(metric_names(e.promql) for e in exprs))
    used |= {metric_names(label_values(query)[0]).pop() for query in queries.values()}
    assert used - names == set(), f"not exported by the daemon: {sorted(used - names)}"
    assert {
        "monitor_component_status",
        "monitor_probe_duration_seconds_bucket",
        "monitor_probes_total",
        "monitor_schedule_delay_seconds_bucket",
        "monitor_publish_queue_depth",
        "monitor_publish_requests_total",
        "monitor_tls_cert_expiry_timestamp_seconds",
        "monitor_probe_workers",
    } <= used

    # And the panels say what the daemons did.
    by_title = {
        (each["title"], target["refId"]): target["expr"]
        for each in panels(dashboard)
        for target in each.get("targets", [])
    }

    def panel(title: str, ref: str = "A") -> list[JSON]:
        return results[by_title[(title, ref)]]

    assert by(panel("Component status"), "component") == {
        ("web",): 1.0,  # operational
        ("broken",): 5.0,  # major outage
        ("grouped",): 1.0,
    }
    assert by(panel("Checks up"), "component", "check") == {
        ("web", "home"): 1.0,
        ("web", "tls"): 1.0,
        ("broken", "api"): 0.0,
    }
    assert by(panel("Checks up", "B"), "component") == {("grouped",): 0.0}
    for ref in ("A", "B", "C"):
        latency = by(panel("Probe latency p50 / p95 / p99", ref), "component", "check")
        assert set(latency) == {("web", "home"), ("web", "tls"), ("broken", "api"), ("grouped", "")}
        assert all(0 < seconds < 1 for seconds in latency.values()), latency
    ratio = by(panel("Success ratio"), "component", "check")
    assert ratio[("broken", "api")] == 0.0 and ratio[("web", "home")] == 1.0, ratio
    assert ratio[("grouped", "")] == 1.0, ratio
    rates = by(panel("Probes per second by outcome"), "outcome")
    assert rates[("ok",)] > 0 and rates[("fail",)] > 0, rates
    for ref in ("A", "B"):
        lateness = by(panel("Probe start lateness p50 / p99", ref), "instance")
        assert len(lateness) == 2 and all(0 <= s < 1 for s in lateness.values()), lateness
    assert by(panel("Last probe good"), "component", "check")[("broken", "api")] == 0.0
    assert set(by(panel("Publish queue depth"), "publisher")) == {("log",)}
    assert ("log", "ok") in by(panel("Publish requests by outcome"), "publisher", "outcome")
    days = by(panel("TLS certificate expiry"), "component", "check")
    assert list(days) == [("web", "tls")]
    assert days[("web", "tls")] == pytest.approx((expires - time.time()) / 86400, abs=0.01)
    assert by(panel("Database writable"), "") == {("",): 1.0}
    assert by(panel("Stale checks"), "") == {("",): 0.0}
    assert by(panel("Probe workers"), "") == {("",): 2.0}, "one process each"
    assert by(panel("Last config reload"), "") == {("",): 1.0}
    assert by(panel("Results dropped"), "") == {("",): 0.0}
    assert by(panel("Version"), "version") == {(__version__,): 1.0}
    memory = by(panel("Memory and CPU"), "instance")
    assert len(memory) == 2 and all(m > 1e6 for m in memory.values()), memory
    numbers = [float(sample["value"][1]) for result in results.values() for sample in result]
    assert all(math.isfinite(number) for number in numbers), "no NaN: every panel has data"


def values_of(prometheus: Prometheus, query: str) -> list[str]:
    selector, label = label_values(query)
    body = prometheus.api(f"label/{label}/values", **{"match[]": selector})
    assert body["status"] == "success", body
    values: list[str] = body["data"]
    return values
