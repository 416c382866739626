"""The vocabulary every other module speaks: checks, components, probe results.

Pure data: nothing here does I/O or reads a clock. Config builds these, probes consume checks and
produce results, the store persists results, the status engine folds them into states.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import ClassVar


class Outcome(StrEnum):
    """One probe's verdict. Stored as a small integer: its code in monitor/store/codes.py."""

    OK = "ok"
    SLOW = "slow"
    FAIL = "fail"


class ErrorKind(StrEnum):
    """Why a probe failed: a closed set, so it can be a metric label and a small integer on disk.

    A new kind needs a new code in monitor/store/codes.py (the next number); the order here
    means nothing on disk.
    """

    TIMEOUT = "timeout"
    REFUSED = "refused"
    DNS = "dns"
    TLS = "tls"
    STATUS = "status"
    BODY = "body"
    RESET = "reset"
    PROTOCOL = "protocol"
    CONFIG = "config"  # the request could not even be built from the check's settings


OUTCOMES: tuple[Outcome, ...] = tuple(Outcome)
ERROR_KINDS: tuple[ErrorKind, ...] = tuple(ErrorKind)


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What one probe saw. A failing target is a result like any other, never an exception."""

    outcome: Outcome
    latency: float  # seconds from the start of the probe to its verdict
    status_code: int | None = None
    error_kind: ErrorKind | None = None
    error: str | None = None  # one line, no secrets
    cert_expiry: float | None = None  # the peer certificate's notAfter, Unix seconds

    @classmethod
    def failed(cls, kind: ErrorKind, message: str, latency: float, **extra: object) -> ProbeResult:
        first_line = message.strip().splitlines()[0] if message.strip() else kind.value
        return cls(Outcome.FAIL, latency, error_kind=kind, error=first_line[:300], **extra)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class StatusRange:
    """An inclusive range of HTTP status codes: 200 is (200, 200), "2xx" is (200, 299)."""

    low: int
    high: int

    def __contains__(self, code: object) -> bool:
        return isinstance(code, int) and self.low <= code <= self.high

    def __str__(self) -> str:
        if self.low == self.high:
            return str(self.low)
        if self.low % 100 == 0 and self.high == self.low + 99:
            return f"{self.low // 100}xx"
        return f"{self.low}-{self.high}"


DEFAULT_EXPECT_STATUS = (StatusRange(200, 399),)


@dataclass(frozen=True, kw_only=True)
class Check:
    """What every check has, whatever its protocol. Durations are seconds."""

    type: ClassVar[str]
    name: str
    interval: float = 30.0
    timeout: float = 10.0
    fail_after: int = 3
    recover_after: int = 2
    degraded_over: float | None = None
    flaky_window: int = 10  # probes looked at for `flaky`
    flaky_enter: float = 0.3  # failed share of the window that makes a check flaky
    flaky_exit: float = 0.1  # failed share at or under which it is clear again
    flap_changes: int = 4  # state changes within flap_window probes that count as flapping
    flap_window: int = 10

    @property
    def target(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class HttpCheck(Check):
    type: ClassVar[str] = "http"
    url: str
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    body: str | None = None
    expect_status: tuple[StatusRange, ...] = DEFAULT_EXPECT_STATUS
    expect_body: str | None = None
    follow_redirects: bool = True
    max_redirects: int = 10
    tls_verify: bool = True
    max_body: int = 1 << 20  # bytes read at most when looking for expect_body
    show_query: bool = False  # the query's values are shown with the URL, not ***

    @property
    def target(self) -> str:
        return self.url


@dataclass(frozen=True, kw_only=True)
class TcpCheck(Check):
    type: ClassVar[str] = "tcp"
    host: str
    port: int
    send: str | None = None
    expect: str | None = None
    tls: bool = False
    tls_verify: bool = True
    max_read: int = 64 << 10  # bytes read at most when looking for expect

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, kw_only=True)
class Component:
    id: str
    name: str
    checks: tuple[Check, ...]
    remote_id: str | None = None
    public_name: str | None = None  # the name on the status page; None: name
    # Cluster mode: the locations whose probes judge it (None: every location seen in the
    # cluster), and how many of them must agree on its state (None: a majority of them).
    locations: tuple[str, ...] | None = None
    quorum: int | None = None

    @property
    def shown_name(self) -> str:
        """The name the status page shows and its incident texts use."""
        return self.public_name or self.name


@dataclass(frozen=True, kw_only=True)
class Maintenance:
    """A window with no incidents: one-off (start, end) or recurring (cron, duration, timezone)."""

    components: tuple[str, ...]
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    cron: str | None = None
    duration: float | None = None
    timezone: str = "UTC"
    # How the window is announced on the page (monitor.announce); None: the plain default words.
    title: str | None = None
    message: str | None = None
    remind: bool = True
    auto_start: bool = True
    auto_complete: bool = True


@dataclass(frozen=True, kw_only=True)
class MonitorSettings:
    database: Path = Path("monitor.db")
    listen: str = "127.0.0.1:9464"
    retention: float = 30 * 86400.0
    concurrency: int = 512  # probes in flight at once, across all checks
    # Processes that probe; more than one shards the checks over them. None: "auto", sized from
    # the planned probe rate and the cost of a probe (monitor.sizing).
    workers: int | None = None
    metrics_per_check: bool = True  # probe series per check; false: per component


@dataclass(frozen=True, kw_only=True)
class PublisherSettings:
    type: str = "none"
    url: str | None = None
    page_id: str | None = None
    api_key_env: str | None = None
    api_key_file: Path | None = None
    monitoring_for: float = 600.0
    rate_limit: float = 1.0  # requests per second to the page, for all components together
    # The deadline of each request to the page. In cluster mode, unless set, min(10 s, lease / 3).
    timeout: float = 10.0
    maintenance_poll: float = 60.0  # seconds between looks at the page's active maintenance
    announce_ahead: float = 48 * 3600.0  # [[maintenance]] on the page this long before; 0: never
    # The statuses whose incidents notify the page's subscribers (monitor.incidents.Planner).
    notify: tuple[str, ...] = ("major_outage", "partial_outage")
    # The words of incidents; None keeps the built-in wording (monitor.incidents.Templates).
    incident_name: str | None = None
    body_investigating: str | None = None
    body_update: str | None = None
    body_monitoring: str | None = None
    body_resolved: str | None = None
    body_backfill: str | None = None


@dataclass(frozen=True, kw_only=True)
class ClusterSettings:
    """[cluster]: several daemons share a PostgreSQL database and one of them, the leader,
    publishes. The URL itself is never here: it holds a password, and is read at start."""

    node: str  # this daemon's name in the cluster; the config's default is the host name
    location: str = "default"  # where it probes from
    database_env: str | None = None  # an environment variable holding a postgresql:// URL
    database_file: Path | None = None  # or a file holding it
    # A node not heard from this long counts as gone; None: 3 probe intervals, at least 30 s.
    stale_after: float | None = None
    lease: float = 15.0  # how long a leader's lease lasts; it renews it every lease / 5


@dataclass(frozen=True, kw_only=True)
class Config:
    path: Path
    monitor: MonitorSettings = field(default_factory=MonitorSettings)
    publisher: PublisherSettings = field(default_factory=PublisherSettings)
    components: tuple[Component, ...] = ()
    maintenance: tuple[Maintenance, ...] = ()
    cluster: ClusterSettings | None = None  # None: no [cluster] table, a daemon on its own

    def component(self, component_id: str) -> Component | None:
        return next((c for c in self.components if c.id == component_id), None)


def check_key(component: Component, check: Check) -> str:
    """The stable identity of a check across restarts and reloads: 'component-id/check-name'."""
    return f"{component.id}/{check.name}"
