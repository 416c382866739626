"""Prometheus metrics on an injected registry (tests build their own; nothing global)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Metric,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from monitor import __version__
from monitor.engine import StatusEngine
from monitor.model import Outcome, ProbeResult
from monitor.state import CheckState, Status

# Probe latencies run from a loopback millisecond to a 30 s timeout.
LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
DELAY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0)


@dataclass(frozen=True, slots=True)
class CheckMetrics:
    duration: Any
    outcomes: dict[Outcome, Any]
    success: Any
    cert_expiry: Callable[[], Any]

    def observe(self, result: ProbeResult) -> None:
        self.duration.observe(result.latency)
        self.outcomes[result.outcome].inc()
        self.success.set(0 if result.outcome is Outcome.FAIL else 1)
        if result.cert_expiry is not None:
            self.cert_expiry().set(result.cert_expiry)


class StateCollector(Collector):
    """The current state of every check and component, read from the engine at scrape time."""

    def __init__(self, engine: Callable[[], StatusEngine]) -> None:
        self._engine = engine

    def collect(self) -> Iterator[Metric]:
        engine = self._engine()
        up = GaugeMetricFamily(
            "monitor_check_up",
            "1 unless the check is down after hysteresis (up, slow and flaky count as up).",
            labels=["component", "check"],
        )
        for key, status in list(engine.checks.items()):  # a snapshot: scrapes run in a thread
            component, _, check = key.partition("/")
            up.add_metric([component, check], 0.0 if status.state is CheckState.DOWN else 1.0)
        yield up
        current = GaugeMetricFamily(
            "monitor_component_status",
            "1 for the component's current status, 0 for the other four.",
            labels=["component", "status"],
        )
        for component, judged in list(engine.statuses.items()):
            for each in Status:
                current.add_metric([component, each.value], 1.0 if judged.status is each else 0.0)
        yield current


class Metrics:
    """The probe-side metrics. Labels are bounded: component id and check name, never a URL."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.probe_duration = Histogram(
            "monitor_probe_duration_seconds",
            "How long each probe took, from its start to its verdict.",
            ["component", "check"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.probes = Counter(
            "monitor_probes_total",
            "Probes run, by outcome.",
            ["component", "check", "outcome"],
            registry=registry,
        )
        self.probe_success = Gauge(
            "monitor_probe_success",
            "1 if the last probe was good (ok or slow), else 0.",
            ["component", "check"],
            registry=registry,
        )
        self.cert_expiry = Gauge(
            "monitor_tls_cert_expiry_timestamp_seconds",
            "When the peer certificate seen by the last TLS probe expires.",
            ["component", "check"],
            registry=registry,
        )
        self.schedule_delay = Histogram(
            "monitor_schedule_delay_seconds",
            "Actual start of a probe minus its planned start.",
            buckets=DELAY_BUCKETS,
            registry=registry,
        )
        self.publish_requests = Counter(
            "monitor_publish_requests_total",
            "Requests to the status page, by outcome (ok, retry, error).",
            ["publisher", "outcome"],
            registry=registry,
        )
        self.publish_queue = Gauge(
            "monitor_publish_queue_depth",
            "Status changes waiting to be delivered to the status page.",
            ["publisher"],
            registry=registry,
        )
        self.reload_ok = Gauge(
            "monitor_config_last_reload_successful",
            "1 if the last config reload (SIGHUP) succeeded, 0 if it was refused.",
            registry=registry,
        )
        self.reload_ok.set(1)
        self.reload_time = Gauge(
            "monitor_config_last_reload_success_timestamp_seconds",
            "When the config was last loaded successfully.",
            registry=registry,
        )
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        build = Gauge(
            "monitor_build_info",
            "Always 1; the version is a label.",
            ["version"],
            registry=registry,
        )
        build.labels(version=__version__).set(1)

    def for_check(self, component: str, check: str) -> CheckMetrics:
        """The series of one check, bound once so a probe does no label lookups."""
        return CheckMetrics(
            duration=self.probe_duration.labels(component, check),
            outcomes={o: self.probes.labels(component, check, o.value) for o in Outcome},
            success=self.probe_success.labels(component, check),
            cert_expiry=lambda: self.cert_expiry.labels(component, check),
        )

    def forget(self, component: str, check: str) -> None:
        """Drop a removed check's series so a scrape does not show stale values."""
        for metric in (self.probe_duration, self.probe_success, self.cert_expiry):
            with contextlib.suppress(KeyError):
                metric.remove(component, check)
        for outcome in Outcome:
            with contextlib.suppress(KeyError):
                self.probes.remove(component, check, outcome.value)
