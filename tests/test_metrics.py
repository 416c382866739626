"""The exposition, per check and per component (`[monitor] metrics_per_check`): what each series
holds, that the text parses, and that the key waits for a restart."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from monitor.config import ConfigError, load_config
from monitor.daemon import Daemon
from monitor.metrics import LATENCY_BUCKETS, Metrics
from monitor.model import Outcome, ProbeResult
from monitor.state import CheckState, CheckStatus, ComponentStatus, Status

from .conftest import Target, write_config
from .test_daemon_inprocess import running, until

PROBE_SERIES = (
    "monitor_probe_duration_seconds",
    "monitor_probes",
    "monitor_probe_success",
    "monitor_tls_cert_expiry_timestamp_seconds",
)
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(metrics: Metrics) -> tuple[dict[str, Metric], Samples]:
    """The exposition as prometheus_client's own parser reads it (it raises on invalid text):
    the families by name, and every sample by (name, sorted labels)."""
    families = {f.name: f for f in text_string_to_metric_families(metrics.render().decode())}
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in families.values()
        for s in family.samples
    }
    return families, samples


def two_checks_of_web(per_check: bool) -> Metrics:
    """web/a: ok 3 ms, then slow 0.3 s with a certificate; web/b: fail 2 s, certificate sooner;
    db/c: ok 40 ms."""
    metrics = Metrics(CollectorRegistry(), per_check=per_check)
    a, b = metrics.for_check("web", "a"), metrics.for_check("web", "b")
    a.observe(ProbeResult(Outcome.OK, 0.003))
    a.observe(ProbeResult(Outcome.SLOW, 0.3, cert_expiry=2_000_000_000.0))
    b.observe(ProbeResult(Outcome.FAIL, 2.0, cert_expiry=1_900_000_000.0))
    metrics.for_check("db", "c").observe(ProbeResult(Outcome.OK, 0.04))
    checks = {"web/a": CheckStatus(), "web/b": CheckStatus(CheckState.DOWN), "db/c": CheckStatus()}
    statuses = {"web": ComponentStatus(Status.PARTIAL_OUTAGE), "db": ComponentStatus()}
    metrics.add_states(lambda: checks, lambda: statuses)
    return metrics


def bucket(samples: Samples, le: float | str, **labels: str) -> float:
    key = tuple(sorted({**labels, "le": str(le)}.items()))
    return samples[("monitor_probe_duration_seconds_bucket", key)]


def test_per_component_series_have_no_check_label_and_add_up() -> None:
    families, samples = parse(two_checks_of_web(per_check=False))
    for name in PROBE_SERIES:
        assert families[name].samples, name
        for sample in families[name].samples:
            assert "check" not in sample.labels, sample
            assert set(sample.labels) <= {"component", "outcome", "le"}, sample
    web, db = (("component", "web"),), (("component", "db"),)
    # the histogram: counts and sums of both checks, each bucket the sum of theirs
    assert samples[("monitor_probe_duration_seconds_count", web)] == 3
    assert samples[("monitor_probe_duration_seconds_sum", web)] == pytest.approx(2.303)
    assert bucket(samples, 0.005, component="web") == 1  # a's 3 ms
    assert bucket(samples, 0.5, component="web") == 2  # and a's 0.3 s
    assert bucket(samples, 2.5, component="web") == 3  # and b's 2 s
    assert bucket(samples, "+Inf", component="web") == 3
    assert samples[("monitor_probe_duration_seconds_count", db)] == 1
    # probes by outcome
    total = {
        outcome: samples[("monitor_probes_total", (("component", "web"), ("outcome", outcome)))]
        for outcome in ("ok", "slow", "fail")
    }
    assert total == {"ok": 1, "slow": 1, "fail": 1}
    # the last probe of a was good (slow), of b not: half the checks
    assert samples[("monitor_probe_success", web)] == 0.5
    assert samples[("monitor_probe_success", db)] == 1.0
    # the sooner of the two certificates; db saw none
    assert samples[("monitor_tls_cert_expiry_timestamp_seconds", web)] == 1_900_000_000.0
    assert ("monitor_tls_cert_expiry_timestamp_seconds", db) not in samples
    # the checks' state per component
    assert "monitor_check_up" not in families
    assert samples[("monitor_checks_down", web)] == 1
    assert samples[("monitor_checks_down", db)] == 0
    partial = (("component", "web"), ("status", "partial_outage"))
    assert samples[("monitor_component_status", partial)] == 1


def test_per_check_series_are_as_before() -> None:
    families, samples = parse(two_checks_of_web(per_check=True))
    a, b = (("check", "a"), ("component", "web")), (("check", "b"), ("component", "web"))
    assert samples[("monitor_probe_duration_seconds_count", a)] == 2
    assert samples[("monitor_probe_duration_seconds_count", b)] == 1
    assert bucket(samples, 2.5, check="b", component="web") == 1
    assert bucket(samples, 1.0, check="b", component="web") == 0
    assert samples[("monitor_probes_total", (*a, ("outcome", "slow")))] == 1
    assert (samples[("monitor_probe_success", a)], samples[("monitor_probe_success", b)]) == (1, 0)
    assert samples[("monitor_tls_cert_expiry_timestamp_seconds", a)] == 2_000_000_000.0
    assert (samples[("monitor_check_up", a)], samples[("monitor_check_up", b)]) == (1, 0)
    assert "monitor_checks_down" not in families
    of_a = [
        sample
        for sample in families["monitor_probe_duration_seconds"].samples
        if sample.labels.items() >= dict(a).items()
    ]
    assert len(of_a) == len(LATENCY_BUCKETS) + 3  # every bound, +Inf, count and sum


def test_per_component_a_removed_check_keeps_its_probes_and_leaves_the_gauges() -> None:
    metrics = two_checks_of_web(per_check=False)
    metrics.forget("web", "b")
    _, samples = parse(metrics)
    web = (("component", "web"),)
    assert samples[("monitor_probe_duration_seconds_count", web)] == 3, "counters never go down"
    assert samples[("monitor_probe_success", web)] == 1.0, "only a's last probe counts now"
    assert samples[("monitor_tls_cert_expiry_timestamp_seconds", web)] == 2_000_000_000.0
    metrics.forget("web", "a")
    families, samples = parse(metrics)
    components = {s.labels["component"] for name in PROBE_SERIES for s in families[name].samples}
    assert components == {"db"}, "a component without checks has no series"
    again = metrics.for_check("web", "a")  # a check added back starts a component anew
    again.observe(ProbeResult(Outcome.OK, 0.01))
    _, samples = parse(metrics)
    assert samples[("monitor_probe_duration_seconds_count", web)] == 1


def test_per_component_success_needs_a_probe() -> None:
    metrics = Metrics(CollectorRegistry(), per_check=False)
    metrics.for_check("web", "a").observe(ProbeResult(Outcome.FAIL, 0.1))
    metrics.for_check("web", "b")  # not probed yet: not in the fraction
    metrics.for_check("idle", "c")
    families, samples = parse(metrics)
    assert samples[("monitor_probe_success", (("component", "web"),))] == 0.0
    assert [s.labels for s in families["monitor_probe_success"].samples] == [{"component": "web"}]
    assert samples[("monitor_probe_duration_seconds_count", (("component", "idle"),))] == 0


@pytest.mark.parametrize("per_check", [True, False])
def test_labels_that_need_escaping_parse(per_check: bool) -> None:
    component, check = 'we"b\\', 'a "quoted"\nname'
    metrics = Metrics(CollectorRegistry(), per_check=per_check)
    metrics.for_check(component, check).observe(ProbeResult(Outcome.OK, 0.1))
    checks = {f"{component}/{check}": CheckStatus(CheckState.DOWN)}
    metrics.add_states(lambda: checks, lambda: {component: ComponentStatus()})
    _, samples = parse(metrics)
    labels = {"component": component} | ({"check": check} if per_check else {})
    assert samples[("monitor_probe_success", tuple(sorted(labels.items())))] == 1
    state = "monitor_check_up" if per_check else "monitor_checks_down"
    assert samples[(state, tuple(sorted(labels.items())))] == (0 if per_check else 1)


def test_the_key_is_read_from_the_file_and_checked(tmp_path: Path) -> None:
    def load(monitor: str) -> bool:
        component = '[[component]]\nname = "Web"\n[[component.check]]\ntype = "tcp"\n'
        component += 'name = "a"\nhost = "127.0.0.1"\nport = 1\n'
        config = load_config(write_config(tmp_path, monitor + component))
        return config.monitor.metrics_per_check

    assert load("") is True
    assert load("[monitor]\nmetrics_per_check = false\n") is False
    with pytest.raises(ConfigError) as caught:
        load('[monitor]\nmetrics_per_check = "no"\n')
    problem = '[monitor]: metrics_per_check: must be true or false, got "no"'
    assert caught.value.errors == [f"{tmp_path / 'checks.toml'}: {problem}"]


def daemon_toml(target: Target, per_check: bool) -> str:
    lines = [
        "[monitor]",
        'database = "monitor.db"',
        'listen = ""',
        f"metrics_per_check = {'true' if per_check else 'false'}",
        "[[component]]",
        'name = "Web"',
    ]
    for name in ("good", "bad"):
        lines += ["[[component.check]]", 'type = "http"', f'name = "{name}"']
        lines += [f'url = "{target.url}/{name}"', 'interval = "1s"', 'timeout = "1s"']
        lines += ["fail_after = 1"]
    return "\n".join(lines) + "\n"


async def test_the_daemon_counts_per_component_and_keeps_it_over_a_reload(
    tmp_path: Path, target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    target.set("/bad", status=500)
    daemon = Daemon(
        load_config(write_config(tmp_path, daemon_toml(target, False))), flush_interval=0.02
    )
    web = (("component", "web"),)
    async with running(daemon):
        engine = daemon.recording.engine
        await until(lambda: engine.checks["web/bad"].state is CheckState.DOWN, "bad down")
        await until(lambda: target.count("/good") >= 1, "good probed")
        _, samples = parse(daemon.metrics)
        assert samples[("monitor_probe_success", web)] == 0.5
        assert samples[("monitor_checks_down", web)] == 1
        write_config(tmp_path, daemon_toml(target, True))
        daemon.request_reload()
        await until(
            lambda: "[monitor] metrics_per_check changed" in caplog.text, "the reload's warning"
        )
        await until(lambda: "reloaded " in caplog.text, "the reload done")
        families, samples = parse(daemon.metrics)
    assert "[monitor] metrics_per_check changed; it takes effect on restart" in caplog.text
    assert daemon.config.monitor.metrics_per_check is True, "the new config is read"
    assert "monitor_check_up" not in families, "but the series stay per component"
    for name in PROBE_SERIES[:3]:
        assert all("check" not in s.labels for s in families[name].samples), name
