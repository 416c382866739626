"""Prometheus metrics on an injected registry (tests build their own; nothing global)."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator, Mapping

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Metric,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from monitor import __version__
from monitor.model import Outcome, ProbeResult
from monitor.state import CheckState, CheckStatus, ComponentStatus, Status

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


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class CheckMetrics:
    """One check's probe series: plain numbers updated by the probe, rendered by ProbeSeries.

    A probe touches a few list slots; no label lookup, no lock. The exposition of 10,000 checks
    is 20+ MB of text, which prometheus-client renders in ~1.6 s of Python holding the GIL;
    these render the same text several times faster (see ProbeSeries.render).
    """

    __slots__ = ("labels", "buckets", "total", "outcomes", "success", "cert_expiry")

    def __init__(self, component: str, check: str) -> None:
        self.labels = f'check="{_label(check)}",component="{_label(component)}"'
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # the last one is +Inf
        self.total = 0.0
        self.outcomes = [0, 0, 0]  # ok, slow, fail
        self.success: int | None = None
        self.cert_expiry: float | None = None

    def observe(self, result: ProbeResult) -> None:
        self.buckets[bisect.bisect_left(LATENCY_BUCKETS, result.latency)] += 1
        self.total += result.latency
        self.outcomes[OUTCOME_INDEX[result.outcome]] += 1
        self.success = 0 if result.outcome is Outcome.FAIL else 1
        if result.cert_expiry is not None:
            self.cert_expiry = result.cert_expiry


OUTCOME_INDEX = {Outcome.OK: 0, Outcome.SLOW: 1, Outcome.FAIL: 2}
_LE = [repr(bound) for bound in LATENCY_BUCKETS] + ["+Inf"]


class ProbeSeries:
    """The per-check families, rendered straight to the text format."""

    def __init__(self) -> None:
        self.checks: dict[tuple[str, str], CheckMetrics] = {}

    def render(self) -> str:
        checks = list(self.checks.values())  # a snapshot: this runs in a worker thread
        duration = [
            "# HELP monitor_probe_duration_seconds How long each probe took, from its start to "
            "its verdict.",
            "# TYPE monitor_probe_duration_seconds histogram",
        ]
        probes = [
            "# HELP monitor_probes_total Probes run, by outcome.",
            "# TYPE monitor_probes_total counter",
        ]
        success = [
            "# HELP monitor_probe_success 1 if the last probe was good (ok or slow), else 0.",
            "# TYPE monitor_probe_success gauge",
        ]
        expiry = [
            "# HELP monitor_tls_cert_expiry_timestamp_seconds When the peer certificate seen "
            "by the last TLS probe expires.",
            "# TYPE monitor_tls_cert_expiry_timestamp_seconds gauge",
        ]
        for series in checks:
            labels = series.labels
            cumulative = 0
            for le, count in zip(_LE, series.buckets[:], strict=True):
                cumulative += count
                duration.append(
                    f'monitor_probe_duration_seconds_bucket{{{labels},le="{le}"}} {cumulative}'
                )
            duration.append(f"monitor_probe_duration_seconds_count{{{labels}}} {cumulative}")
            duration.append(f"monitor_probe_duration_seconds_sum{{{labels}}} {series.total!r}")
            ok, slow, fail = series.outcomes[:]
            probes.append(f'monitor_probes_total{{{labels},outcome="ok"}} {ok}')
            probes.append(f'monitor_probes_total{{{labels},outcome="slow"}} {slow}')
            probes.append(f'monitor_probes_total{{{labels},outcome="fail"}} {fail}')
            if series.success is not None:
                success.append(f"monitor_probe_success{{{labels}}} {series.success}")
            if series.cert_expiry is not None:
                expiry.append(
                    f"monitor_tls_cert_expiry_timestamp_seconds{{{labels}}} {series.cert_expiry!r}"
                )
        return "\n".join([*duration, *probes, *success, *expiry, ""])


class StateCollector(Collector):
    """The current state of every check and component, read at scrape time: from the engine,
    or in a cluster from the shared state (`checks` and `statuses` give them)."""

    def __init__(
        self,
        checks: Callable[[], Mapping[str, CheckStatus]],
        statuses: Callable[[], Mapping[str, ComponentStatus]],
    ) -> None:
        self._checks, self._statuses = checks, statuses

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "monitor_check_up",
            "1 unless the check is down after hysteresis (up, slow and flaky count as up).",
            labels=["component", "check"],
        )
        for key, status in list(self._checks().items()):  # a snapshot: scrapes run in a thread
            component, _, check = key.partition("/")
            up.add_metric([component, check], 0.0 if status.state is CheckState.DOWN else 1.0)
        yield up
        current = GaugeMetricFamily(
            "monitor_component_status",
            "1 for the component's current status, 0 for the other four.",
            labels=["component", "status"],
        )
        for component, judged in list(self._statuses().items()):
            for each in Status:
                current.add_metric([component, each.value], 1.0 if judged.status is each else 0.0)
        yield current


class LocationCollector(Collector):
    """Cluster mode: each location's view of each check, and the components whose checks
    have no quorum of fresh locations."""

    def __init__(self, view: Callable[[], tuple[Mapping[str, Mapping[str, bool]], set[str]]]):
        self._view = view  # () -> ({key: {location: up}}, keys without a quorum)

    def collect(self) -> Iterator[Metric]:
        by_location, lost = self._view()
        up = GaugeMetricFamily(
            "monitor_location_check_up",
            "1 unless the check is down as this location sees it (after its own hysteresis).",
            labels=["component", "check", "location"],
        )
        components: set[str] = set()
        for key, locations in list(by_location.items()):
            component, _, check = key.partition("/")
            components.add(component)
            for location, is_up in sorted(locations.items()):
                up.add_metric([component, check, location], 1.0 if is_up else 0.0)
        yield up
        quorum = GaugeMetricFamily(
            "monitor_quorum_lost",
            "1 while a check of the component has too few fresh locations to decide; its state "
            "holds where it was.",
            labels=["component"],
        )
        without = {key.partition("/")[0] for key in lost}
        for component in sorted(components | without):
            quorum.add_metric([component], 1.0 if component in without else 0.0)
        yield quorum


class DroppedCollector(Collector):
    """Results the writer dropped, oldest first, after too many waited for the database."""

    def __init__(self, dropped: Callable[[], int]) -> None:
        self._dropped = dropped

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "monitor_results_dropped",
            "Probe results lost because the database could not take them for too long.",
            value=self._dropped(),
        )


class Metrics:
    """The probe-side metrics. Labels are bounded: component id and check name, never a URL."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.probe_series = ProbeSeries()
        self.schedule_delay = Histogram(
            "monitor_schedule_delay_seconds",
            "Actual start of a probe minus its planned start.",
            buckets=DELAY_BUCKETS,
            registry=registry,
        )
        self.database_writable = Gauge(
            "monitor_database_writable",
            "1 while results reach the database; 0 while they wait in memory.",
            registry=registry,
        )
        self.checks_stale = Gauge(
            "monitor_checks_stale",
            "Checks with no result for over 3 intervals (plus timeout): not being watched.",
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
        self.clock_steps = Counter(
            "monitor_clock_steps_total",
            "Steps of the wall clock (either way) noticed; probing keeps its pace through them.",
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

    def add_cluster(self) -> tuple[Gauge, Gauge, Gauge]:
        """Cluster mode's series (only then): leader, live nodes, the lease's epoch."""
        registry = self.registry
        return (
            Gauge("monitor_cluster_leader", "1 on the node that publishes.", registry=registry),
            Gauge(
                "monitor_cluster_nodes",
                "Nodes heard from in the last 30 s, this one included.",
                registry=registry,
            ),
            Gauge(
                "monitor_cluster_lease_epoch",
                "The epoch of the leader's lease: it grows at every change of leader.",
                registry=registry,
            ),
        )

    def for_check(self, component: str, check: str) -> CheckMetrics:
        """The series of one check (created on first use, kept across reloads)."""
        series = self.probe_series.checks.get((component, check))
        if series is None:
            series = self.probe_series.checks[(component, check)] = CheckMetrics(component, check)
        return series

    def forget(self, component: str, check: str) -> None:
        """Drop a removed check's series so a scrape does not show stale values."""
        self.probe_series.checks.pop((component, check), None)

    def render(self) -> bytes:
        """The whole exposition: the registry's metrics, then the per-check series."""
        return generate_latest(self.registry) + self.probe_series.render().encode()
