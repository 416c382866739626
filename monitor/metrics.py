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


# The numbers of a probe series, in one list: the latency buckets (the last one is +Inf), the
# probes by outcome, then the sum of the latencies.
_OK = len(LATENCY_BUCKETS) + 1
_SUM = _OK + 3
OUTCOME_INDEX = {Outcome.OK: _OK, Outcome.SLOW: _OK + 1, Outcome.FAIL: _OK + 2}
_LE = [repr(bound) for bound in LATENCY_BUCKETS] + ["+Inf"]


def _counts() -> list[float]:
    return [0] * _SUM + [0.0]


class CheckMetrics:
    """One check's probe numbers: plain numbers updated by the probe, rendered by ProbeSeries.

    A probe touches a few list slots; no label lookup, no lock. `counts` is the check's own list
    or, with metrics_per_check = false, its component's, which all its checks add to: the same
    work per probe either way. The exposition of 10,000 checks is 20+ MB of text, which
    prometheus-client renders in ~1.6 s of Python holding the GIL; these render the same text
    several times faster (see ProbeSeries.render).
    """

    __slots__ = ("labels", "counts", "success", "cert_expiry")

    def __init__(self, labels: str, counts: list[float]) -> None:
        self.labels = labels
        self.counts = counts
        self.success: int | None = None  # of the last probe: 1 if good (ok or slow)
        self.cert_expiry: float | None = None  # of the last TLS probe

    def observe(self, result: ProbeResult) -> None:
        counts = self.counts
        counts[bisect.bisect_left(LATENCY_BUCKETS, result.latency)] += 1
        counts[_SUM] += result.latency
        counts[OUTCOME_INDEX[result.outcome]] += 1
        self.success = 0 if result.outcome is Outcome.FAIL else 1
        if result.cert_expiry is not None:
            self.cert_expiry = result.cert_expiry


class ComponentMetrics:
    """The probe numbers of one component's checks together (metrics_per_check = false)."""

    __slots__ = ("labels", "counts", "checks")

    def __init__(self, component: str) -> None:
        self.labels = f'component="{_label(component)}"'
        self.counts = _counts()  # every probe of its checks, past ones of removed checks too
        self.checks: dict[str, CheckMetrics] = {}  # by name: for the last probes' gauges


Row = tuple[str, list[float], float | None, float | None]  # labels, counts, success, expiry

_HEADERS = {
    True: (
        "1 if the last probe was good (ok or slow), else 0.",
        "When the peer certificate seen by the last TLS probe expires.",
    ),
    False: (
        "The fraction of the component's checks whose last probe was good (ok or slow).",
        "The soonest expiry among the peer certificates seen by the last TLS probe of each "
        "of the component's checks.",
    ),
}


class ProbeSeries:
    """The probe families, per check or (per_check false) per component, rendered straight to
    the text format."""

    def __init__(self, *, per_check: bool = True) -> None:
        self.per_check = per_check
        self.checks: dict[tuple[str, str], CheckMetrics] = {}
        self.components: dict[str, ComponentMetrics] = {}

    def add(self, component: str, check: str) -> CheckMetrics:
        if self.per_check:
            labels = f'check="{_label(check)}",component="{_label(component)}"'
            series = CheckMetrics(labels, _counts())
        else:
            group = self.components.get(component)
            if group is None:
                group = self.components[component] = ComponentMetrics(component)
            series = group.checks[check] = CheckMetrics("", group.counts)
        self.checks[(component, check)] = series
        return series

    def remove(self, component: str, check: str) -> None:
        self.checks.pop((component, check), None)
        group = self.components.get(component)
        if group is not None:
            group.checks.pop(check, None)
            if not group.checks:
                del self.components[component]

    def rows(self) -> Iterator[Row]:
        """Each series, read as the scrape reaches it (this runs in a worker thread while probes
        go on). A generator: a list of 100,000 rows kept alive would wake the garbage collector
        over the daemon's whole heap."""
        if self.per_check:
            for series in list(self.checks.values()):
                yield series.labels, series.counts[:], series.success, series.cert_expiry
            return
        for group in list(self.components.values()):
            probed = good = 0
            soonest: float | None = None
            for series in list(group.checks.values()):
                if series.success is not None:
                    probed, good = probed + 1, good + series.success
                expiry = series.cert_expiry
                if expiry is not None and (soonest is None or expiry < soonest):
                    soonest = expiry
            yield group.labels, group.counts[:], good / probed if probed else None, soonest

    def render(self) -> str:
        success_help, expiry_help = _HEADERS[self.per_check]
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
            f"# HELP monitor_probe_success {success_help}",
            "# TYPE monitor_probe_success gauge",
        ]
        expiry = [
            f"# HELP monitor_tls_cert_expiry_timestamp_seconds {expiry_help}",
            "# TYPE monitor_tls_cert_expiry_timestamp_seconds gauge",
        ]
        for labels, counts, good, expires in self.rows():
            cumulative: float = 0  # an int: the counts are
            for le, count in zip(_LE, counts, strict=False):
                cumulative += count
                duration.append(
                    f'monitor_probe_duration_seconds_bucket{{{labels},le="{le}"}} {cumulative}'
                )
            duration.append(f"monitor_probe_duration_seconds_count{{{labels}}} {cumulative}")
            duration.append(f"monitor_probe_duration_seconds_sum{{{labels}}} {counts[_SUM]!r}")
            probes.append(f'monitor_probes_total{{{labels},outcome="ok"}} {counts[_OK]}')
            probes.append(f'monitor_probes_total{{{labels},outcome="slow"}} {counts[_OK + 1]}')
            probes.append(f'monitor_probes_total{{{labels},outcome="fail"}} {counts[_OK + 2]}')
            if good is not None:
                success.append(f"monitor_probe_success{{{labels}}} {good}")
            if expires is not None:
                expiry.append(f"monitor_tls_cert_expiry_timestamp_seconds{{{labels}}} {expires!r}")
        return "\n".join([*duration, *probes, *success, *expiry, ""])


class StateSeries:
    """The current state of every check and component, read at scrape time: from the engine,
    or in a cluster from the shared state (`checks` and `statuses` give them). Per check
    `monitor_check_up`, or with per_check false `monitor_checks_down` per component; and
    `monitor_component_status`. Rendered straight to the text format, as prometheus-client
    would (it costs about ten times more per line: at 10,000 components its 50,000 lines of
    `monitor_component_status` alone took most of a second).
    """

    def __init__(
        self,
        checks: Callable[[], Mapping[str, CheckStatus]],
        statuses: Callable[[], Mapping[str, ComponentStatus]],
        *,
        per_check: bool = True,
    ) -> None:
        self._checks, self._statuses, self._per_check = checks, statuses, per_check

    def render(self) -> str:
        # Snapshots, as copies: scrapes run in a thread. Not lists of (key, status): 100,000
        # tuples kept alive would wake the garbage collector over the daemon's whole heap.
        checks, statuses = dict(self._checks()), dict(self._statuses())
        lines = self._check_up(checks) if self._per_check else self._checks_down(checks)
        lines += [
            "# HELP monitor_component_status 1 for the component's current status, 0 for the "
            "other four.",
            "# TYPE monitor_component_status gauge",
        ]
        for component, judged in statuses.items():
            labels = f'component="{_label(component)}",status="'
            for each in Status:
                value = "1.0" if judged.status is each else "0.0"
                lines.append(f'monitor_component_status{{{labels}{each.value}"}} {value}')
        lines.append("")
        return "\n".join(lines)

    @staticmethod
    def _check_up(checks: Mapping[str, CheckStatus]) -> list[str]:
        lines = [
            "# HELP monitor_check_up 1 unless the check is down after hysteresis (up, slow and "
            "flaky count as up).",
            "# TYPE monitor_check_up gauge",
        ]
        for key, status in checks.items():
            component, _, check = key.partition("/")
            value = "0.0" if status.state is CheckState.DOWN else "1.0"
            lines.append(
                f'monitor_check_up{{check="{_label(check)}",component="{_label(component)}"}} '
                f"{value}"
            )
        return lines

    @staticmethod
    def _checks_down(checks: Mapping[str, CheckStatus]) -> list[str]:
        down: dict[str, int] = {}
        for key, status in checks.items():
            component = key.partition("/")[0]
            down[component] = down.get(component, 0) + (status.state is CheckState.DOWN)
        lines = [
            "# HELP monitor_checks_down The component's checks that are down after hysteresis "
            "(up, slow and flaky count as up).",
            "# TYPE monitor_checks_down gauge",
        ]
        for component, count in down.items():
            lines.append(f'monitor_checks_down{{component="{_label(component)}"}} {count}')
        return lines


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
    """The probe-side metrics. Labels are bounded: component id and check name, never a URL;
    with per_check false (`[monitor] metrics_per_check`) the probe series carry the component
    alone, so a scrape grows with the components, not the checks."""

    def __init__(self, registry: CollectorRegistry, *, per_check: bool = True) -> None:
        self.registry = registry
        self.probe_series = ProbeSeries(per_check=per_check)
        self.states: StateSeries | None = None
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
        self.probe_workers = Gauge(
            "monitor_probe_workers",
            "Processes probing: 1 is the daemon's own, more are worker processes.",
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

    def add_states(
        self,
        checks: Callable[[], Mapping[str, CheckStatus]],
        statuses: Callable[[], Mapping[str, ComponentStatus]],
    ) -> None:
        """Serve the checks' and components' current states (see StateSeries) at each scrape."""
        self.states = StateSeries(checks, statuses, per_check=self.probe_series.per_check)

    def for_check(self, component: str, check: str) -> CheckMetrics:
        """The series of one check (created on first use, kept across reloads)."""
        series = self.probe_series.checks.get((component, check))
        if series is None:
            series = self.probe_series.add(component, check)
        return series

    def forget(self, component: str, check: str) -> None:
        """Drop a removed check's series so a scrape does not show stale values. Per component,
        its past probes stay counted (counters never go down); its last probe no longer counts
        in the component's gauges, and a component without checks goes."""
        self.probe_series.remove(component, check)

    def render(self) -> bytes:
        """The whole exposition: the registry's metrics, the states, then the probe series."""
        states = self.states.render() if self.states is not None else ""
        return b"".join(
            (generate_latest(self.registry), states.encode(), self.probe_series.render().encode())
        )
