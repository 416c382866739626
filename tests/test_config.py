"""Config parsing: one file per fault in tests/data, each against its exact messages.

The table maps a file to the messages `monitor validate` prints for it, without the leading
"<file>: " that every message carries (the test adds it), like blackbox_exporter's config_test.go.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.config import (
    ALLOWED_KEYS,
    ConfigError,
    load_config,
    parse_config,
    parse_duration,
    read_api_key,
    resolve_config_path,
)
from monitor.model import (
    DEFAULT_EXPECT_STATUS,
    Component,
    Config,
    HttpCheck,
    Maintenance,
    MonitorSettings,
    PublisherSettings,
    StatusRange,
    TcpCheck,
)

DATA = Path(__file__).parent / "data"
DOCS = Path(__file__).parent.parent / "docs" / "configuration.md"

DURATION = 'a number and a unit (ms, s, m, h, d) like "250ms", "30s", "5m", "2h" or "14d"'
NEEDS_KEY = (
    "api_key_env: statuspage needs an API key: set api_key_env to an environment "
    "variable's name, or api_key_file to a file's path"
)
HTTP_KEYS = (
    "name, interval, timeout, fail_after, recover_after, degraded_over, flaky_window, "
    "flaky_enter, flaky_exit, flap_changes, flap_window, url, method, "
    "headers, body, expect_status, expect_body, follow_redirects, max_redirects, "
    "tls_verify, max_body, show_query, type"
)
DEFAULT_KEYS = (
    "interval, timeout, fail_after, recover_after, degraded_over, flaky_window, "
    "flaky_enter, flaky_exit, flap_changes, flap_window, url, method, "
    "headers, body, expect_status, expect_body, follow_redirects, max_redirects, "
    "tls_verify, max_body, show_query, host, port, send, expect, tls, max_read"
)
STATUS = 'must be a list of status codes 100-599 or ranges like "2xx" or "200-299"'
CRON = 'must be 5 fields "minute hour day month weekday", like "0 2 * * sun"'
RFC3339 = 'must be an RFC 3339 date-time with a timezone, like "2026-12-01T02:00:00Z"'
EMPTY_LABEL = "has an empty label (a dot at the start or two dots in a row); remove the extra dot"
HOST_CHARS = 'a host name holds letters, digits, "-", "_" and dots, or is an IP address'
IN_BRACKETS = 'only an IPv6 address goes in brackets, like "http://[::1]:8080/"'
CONTROL = (
    "contains a control character ({}); remove it, or percent-encode it (like %{}) in a path or "
    "query"
)
CREDENTIALS_AND_AUTHORIZATION = (
    "url: has credentials (user:password@) and headers set Authorization; the request can carry "
    "only one, so remove the credentials or the header"
)
BASIC_AUTH = (
    'url: credentials (user:password@) must be Latin-1 text with no ":" in the user name, as '
    "HTTP Basic auth needs; or remove them and set an Authorization header"
)
LONG_LABEL = 'label "' + "a" * 57 + '..." is 64 characters long; DNS allows at most 63 per label'

SIZE = 'must be a number of bytes or a size like "64KiB" or "1MiB", from 1 byte to 1GiB'
CLUSTER_NAME = (
    'must be 1-63 characters of letters, digits, ".", "_" and "-", like "web-1" or "eu-west"'
)
DELIMITER = (
    'url: has an "@" after the host: if user:password@ comes before it, the password must have '
    '"/", "?" and "#" percent-encoded (%2F, %3F, %23)'
)

INVALID: dict[str, list[str]] = {
    "invalid-duration-too-long.toml": [
        '[monitor]: retention: must be at most 36500d, got "36501d"',
        '[defaults]: interval: must be at most 1d, got "3000000d"',
        '[publisher]: monitoring_for: must be at most 30d, got "31d"',
        '[publisher]: maintenance_poll: must be at most 1d, got "9999999999999999999999999999999999'
        '99999999999999999999999..."',
        'component "Web" check 1 (http): timeout: must be at most 1d, got "2d"',
        'maintenance 1: duration: must be at most 365d, got "366d"',
    ],
    "invalid-not-finite.toml": [
        "[publisher]: rate_limit: must be a finite number from 0.01 to 1000, like 1 or 0.5, "
        "got nan",
        'component "Web": flaky_exit: must be a finite number from 0 to 1, like 0.3, got -inf',
        'component "Web" check 1 (http): flaky_enter: must be a finite number from 0 to 1, like '
        "0.3, got inf",
    ],
    "invalid-integer-too-big.toml": [
        "[monitor]: concurrency: must be 1-100000, got 100001",
        'component "Web" check 1 (http): fail_after: must be 1-1000, got 100000000000000000000...',
        'component "Web" check 1 (http): max_redirects: must be 0-100, got 101',
        f'component "Web" check 1 (http): max_body: {SIZE}, got 1180591620717411303424',
        'component "Web" check 2 (tcp): port: must be 1-65535, got 1180591620717411303424',
    ],
    "invalid-template-format.toml": [
        '[publisher]: incident_name: field "{component:>{9999}}" has a format; write it plain, '
        "like {component}",
        '[publisher]: body_update: field "{reason:>999999999}" has a format; write it plain, like '
        "{reason}",
        '[publisher]: body_resolved: field "{component!r}" has a format; write it plain, like '
        "{component}",
    ],
    "invalid-url-password-delimiter.toml": [
        "[publisher]: url: must be the API base of Cachet 2.x, ending in /api/v1 (Cachet 3.x, "
        '/api, is not supported yet), got "https://admin:***@status.example.com/api"',
        f'component "API" check 1 (http): {DELIMITER}',
        f'component "API" check 2 (http): {DELIMITER}',
        'component "API" check 3 (http): url: must be an http:// or https:// URL with a host, got '
        '"ftp://user:***@files.example.com/?token=***"',
    ],
    "invalid-unicode-digits.toml": [
        '[monitor]: listen: must be "host:port" like "127.0.0.1:9464", or "" to turn the HTTP '
        'endpoints off, got "127.0.0.1:\u0663"',
        'component "API" check 1 (http): url: port must be 1-65535, got "\u00b2"',
        f'component "API" check 1 (http): expect_status: {STATUS}, got "\u0662\u0660\u0660"',
        f'maintenance 1: cron: {CRON}, got "0 2 * * \u00b2" (Unrecognized expression "\u00b2" '
        'for field "day_of_week")',
    ],
    "invalid-maintenance-date-out-of-range.toml": [
        "maintenance 1: end: must fall within the years 1-9999 in UTC, got "
        "9999-12-31T23:00:00-02:00",
    ],
    "invalid-path-nul.toml": [
        "[monitor]: database: must be a path, which cannot hold a NUL character (U+0000)",
    ],
    "invalid-template-field.toml": [
        "[publisher]: incident_name: unknown field {state}; allowed: {component}, {status}, "
        "{reason}, {since}, {until}",
    ],
    "invalid-flaky-exit-not-below-enter.toml": [
        'component "Web" check 1 (http): flaky_exit: must be less than flaky_enter (0.2) so a '
        "flaky check does not flap at the edge, got 0.2",
    ],
    "invalid-component-threshold.toml": [
        'component "Web": flaky_enter: must be from 0 to 1, like 0.3, got 1.5',
        'component "Web": recover_afterr: unknown key, did you mean "recover_after"? allowed: '
        "name, id, remote_id, public_name, locations, quorum, fail_after, recover_after, "
        "flaky_window, flaky_enter, flaky_exit, flap_changes, flap_window, check",
    ],
    "invalid-api-key-env-holds-secret.toml": [
        "[publisher]: api_key_env: must be the name of an environment variable (letters, digits "
        'and _, like "STATUSPAGE_API_KEY"), not the key itself',
    ],
    "invalid-bare-number-duration.toml": [
        f'[defaults]: interval: must be {DURATION}, got "30"',
    ],
    "invalid-both-api-key-sources.toml": [
        "[publisher]: api_key_file: set api_key_env or api_key_file, not both",
    ],
    "invalid-cluster-inline-url.toml": [
        "[cluster]: database_url: a database URL holds a password, which never goes in the "
        "config file; name an environment variable with database_env or a file with database_file",
        f'[cluster]: node: {CLUSTER_NAME}, got "web 1"',
        "[cluster]: database_env: cluster mode needs its PostgreSQL database: set database_env to "
        "an environment variable's name, or database_file to a file's path",
    ],
    "invalid-cluster-keys.toml": [
        f'[cluster]: location: {CLUSTER_NAME}, got "eu/west"',
        '[cluster]: stale_after: must be at most 1d, got "2d"',
        '[cluster]: leese: unknown key, did you mean "lease"? allowed: database_env, '
        "database_file, node, location, stale_after, lease",
        "[cluster]: database_file: set database_env or database_file, not both",
        "[cluster]: lease: must be at least 3 x [publisher] timeout (30s), got the default "
        '"15s"; raise lease or lower timeout',
    ],
    "invalid-cachet-without-url.toml": [
        "[publisher]: url: required for cachet: the API base of Cachet 2.x, like "
        '"https://status.example.com/api/v1"',
    ],
    "invalid-cachet-url.toml": [
        "[publisher]: url: must be the API base of Cachet 2.x, ending in /api/v1 (Cachet 3.x, "
        '/api, is not supported yet), got "https://status.example.com/api"',
    ],
    "invalid-check-type.toml": [
        'component "Gateway" check 1: type: must be "http" or "tcp", got "icmp"',
        'component "Gateway" check 2: type: required: "http" or "tcp"',
    ],
    "invalid-component-as-table.toml": [
        "top level: component: must be an array of tables, written [[component]], got a table",
    ],
    "invalid-component-id-slug.toml": [
        'component "Payment API": id: must be lowercase letters, digits and single dashes, like '
        '"payment-api", got "Payment API"',
    ],
    "invalid-component-missing-name.toml": [
        'component 1: name: required, like name = "Payment API"',
    ],
    "invalid-component-without-checks.toml": [
        'component "Payment API": check: at least one [[component.check]] is required',
    ],
    "invalid-concurrency-zero.toml": [
        "[monitor]: concurrency: must be 1-100000, got 0",
    ],
    "invalid-cron-weekday-step.toml": [
        "maintenance 1: cron: steps in the weekday field are not supported; list the days, like "
        '"mon,wed,fri", got "*/2"',
    ],
    "invalid-defaults-check-name.toml": [
        "[defaults]: type: cannot be a default; set it on each [[component.check]]",
        "[defaults]: name: cannot be a default; set it on each [[component.check]]",
    ],
    "invalid-defaults-timeout-over-interval.toml": [
        # Once, where it was written, though both checks inherit it.
        "[defaults]: timeout: must be more than 0 and at most interval (10s), got 20s",
    ],
    "invalid-defaults-unknown-key.toml": [
        f"[defaults]: retries: unknown key; allowed: {DEFAULT_KEYS}",
    ],
    "invalid-degraded-over-timeout.toml": [
        'component "Web" check 1 (http): degraded_over: must be more than 0 and less than '
        "timeout (2s), got 2s",
    ],
    "invalid-duplicate-check-name.toml": [
        'component "Web" check 2 (http): name: "example.com/healthz" is already the name of '
        "check 1; set name to tell them apart",
    ],
    "invalid-duplicate-component-id.toml": [
        'component "Payments": id: "payment-api" is already the id of component "Payment API"; '
        "set id to tell them apart",
    ],
    "invalid-duration-unit.toml": [
        f'component "Web" check 1 (http): timeout: must be {DURATION}, got "5 sec"',
    ],
    "invalid-expect-status.toml": [
        f'component "Web" check 1 (http): expect_status: {STATUS}, got "2xy"',
    ],
    "invalid-fail-after-zero.toml": [
        'component "Web" check 1 (http): fail_after: must be 1-1000, got 0',
    ],
    "invalid-headers.toml": [
        'component "Web" check 1 (http): headers: must be a table of header names to strings, '
        'like { Accept = "application/json" }; X-Retries is 3',
    ],
    "invalid-header-control-character.toml": [
        'component "API" check 1 (http): headers: X-Token holds a control character (U+0000); '
        "remove it",
        'component "API" check 2 (http): headers: X-Token holds a control character (U+007F); '
        "remove it",
    ],
    "invalid-header-host.toml": [
        f'component "API" check 1 (http): headers: Host "api..example.com" {EMPTY_LABEL}',
        'component "API" check 2 (http): headers: Host must be a host and an optional port, like '
        '"api.example.com:8443", got ""',
        'component "API" check 3 (http): headers: Host port must be 1-65535, got 70000',
    ],
    "invalid-header-set-by-client.toml": [
        "[defaults]: headers: content-length is set by the client from body; remove it",
        'component "API" check 1 (http): headers: Content-Length is set by the client from body; '
        "remove it",
        'component "API" check 2 (http): headers: Transfer-Encoding is set by the client, which '
        "sends body with a Content-Length; remove it",
    ],
    "invalid-inline-api-key.toml": [
        "[publisher]: api_key: a secret never goes in the config file; name an environment "
        "variable with api_key_env or a file with api_key_file",
        f"[publisher]: {NEEDS_KEY}",
    ],
    "invalid-interval-too-short.toml": [
        'component "Web" check 1 (http): interval: must be at least 1s, got "500ms"',
    ],
    "invalid-key-of-other-type.toml": [
        f'component "Web" check 1 (http): port: is a key of tcp checks, not http; allowed: '
        f"{HTTP_KEYS}",
    ],
    "invalid-listen.toml": [
        '[monitor]: listen: must be "host:port" like "127.0.0.1:9464", or "" to turn the HTTP '
        'endpoints off, got "localhost"',
    ],
    "invalid-maintenance-bad-cron.toml": [
        f"maintenance 1: cron: {CRON}, got \"61 2 * * sun\" (Error validating expression '61': "
        "the last value (61) is higher than the maximum value (59))",
    ],
    "invalid-maintenance-bad-timezone.toml": [
        'maintenance 1: timezone: must be an IANA time zone like "UTC" or "Europe/Berlin", got '
        '"Mars/Olympus_Mons"',
    ],
    "invalid-maintenance-cron-fields.toml": [
        f'maintenance 1: cron: {CRON}, got "0 2 * *"',
    ],
    "invalid-maintenance-cron-never.toml": [
        "maintenance 1: cron: matches no date: none of its months has that day (February has 28 "
        "days, 29 in leap years; April, June, September and November have 30); choose a day "
        'that one of them has, got "0 2 30 2 *"',
    ],
    "invalid-maintenance-cron-without-duration.toml": [
        'maintenance 1: duration: required with cron, like duration = "2h"',
    ],
    "invalid-maintenance-end-before-start.toml": [
        "maintenance 1: end: must be after start (2026-12-01T04:00:00Z), got 2026-12-01T02:00:00Z",
    ],
    "invalid-maintenance-no-timezone.toml": [
        f"maintenance 1: start: {RFC3339}, got 2026-12-01T02:00:00",
        f'maintenance 1: end: {RFC3339}, got "2026-12-01T04:00:00"',
    ],
    "invalid-maintenance-start-and-cron.toml": [
        "maintenance 1: cron: cannot be combined with start and end: a window is either start + "
        "end, or cron + duration",
    ],
    "invalid-maintenance-unknown-component.toml": [
        'maintenance 1: components: unknown component "payments"; known: "payment-api", "search"',
    ],
    "invalid-max-body.toml": [
        'component "Web" check 1 (http): max_body: must be a number of bytes or a size like '
        '"64KiB" or "1MiB", from 1 byte to 1GiB, got "1 mebibyte"',
    ],
    "invalid-method.toml": [
        'component "Web" check 1 (http): method: must be an HTTP method like "GET", "HEAD" or '
        '"POST", got "GET /"',
    ],
    "invalid-missing-api-key.toml": [
        f"[publisher]: {NEEDS_KEY}",
    ],
    "invalid-missing-page-id.toml": [
        "[publisher]: page_id: required for statuspage: the id of the page to publish to",
    ],
    "invalid-missing-url.toml": [
        'component "Web" check 1 (http): url: required for http checks, like '
        'url = "https://example.com/healthz"',
    ],
    "invalid-negative-duration.toml": [
        f'[monitor]: retention: must be {DURATION}, got "-30d"',
    ],
    "invalid-no-components.toml": [
        "top level: component: at least one [[component]] is required",
    ],
    "invalid-port-out-of-range.toml": [
        'component "Payment API" check 2 (tcp): port: must be 1-65535, got 70000',
    ],
    "invalid-publisher-type.toml": [
        '[publisher]: type: must be one of "statuspage", "cachet", "instatus", "log", "none", '
        'got "pagerduty"',
    ],
    "invalid-several-faults.toml": [
        f'[monitor]: retention: must be {DURATION}, got "30 days"',
        f'[defaults]: intervall: unknown key, did you mean "interval"? allowed: {DEFAULT_KEYS}',
        "[publisher]: page_id: required for statuspage: the id of the page to publish to",
        f"[publisher]: {NEEDS_KEY}",
        f'component "Payment API" check 1 (http): expect_status: {STATUS}, got 700',
        'component "Payment API" check 2 (tcp): port: must be 1-65535, got 70000',
        'component "Payment API": id: "payment-api" is already the id of component 1, which has '
        "the same name; set id to tell them apart",
        'component "Payment API": check: at least one [[component.check]] is required',
        'maintenance 1: components: unknown component "search"; known: "payment-api"',
        'maintenance 1: end: required with start, like end = "2026-12-01T02:00:00Z"',
    ],
    "invalid-tcp-host-with-port.toml": [
        'component "Database" check 1 (tcp): host: must be a host name or IP address like '
        '"db.internal", got "db.internal:5432"; put the port in port',
    ],
    "invalid-tcp-host.toml": [
        f'component "Database" check 1 (tcp): host: "db..internal" {EMPTY_LABEL}',
        f'component "Database" check 2 (tcp): host: {LONG_LABEL}',
        'component "Database" check 3 (tcp): host: "db\\u0000.internal" contains a control '
        "character (U+0000); remove it",
        'component "Database" check 4 (tcp): host: "db%2e.internal" cannot contain "%"; '
        f"{HOST_CHARS}",
    ],
    "invalid-timeout-over-interval.toml": [
        'component "Web" check 1 (http): timeout: must be more than 0 and at most interval '
        "(30s), got 45s",
    ],
    "invalid-toml-syntax.toml": [
        "invalid TOML: Unclosed inline table (at line 3, column 26)",
    ],
    "invalid-unknown-key-typo.toml": [
        'component "Payment API" check 1 (http): intreval: unknown key, did you mean "interval"? '
        f"allowed: {HTTP_KEYS}",
    ],
    "invalid-unknown-section.toml": [
        'top level: monitr: unknown section, did you mean "monitor"? allowed: monitor, defaults, '
        "publisher, cluster, component, maintenance",
    ],
    "invalid-url-control-character.toml": [
        f'component "API" check 1 (http): url: {CONTROL.format("U+0000", "00")}',
        f'component "API" check 2 (http): url: {CONTROL.format("U+007F", "7F")}',
        f'component "API" check 3 (http): url: {CONTROL.format("U+001B", "1B")}',
        'component "API" check 4 (http): url: host "api.exam\\u200bple.com" contains an invisible '
        "character (U+200B); remove it",
    ],
    "invalid-url-credentials.toml": [
        f'component "API" check 1 (http): {CREDENTIALS_AND_AUTHORIZATION}',
        f'component "API" check 2 (http): {CREDENTIALS_AND_AUTHORIZATION}',
        f'component "API" check 3 (http): {BASIC_AUTH}',
        f'component "API" check 4 (http): {BASIC_AUTH}',
    ],
    "invalid-url-empty-label.toml": [
        f'component "API" check 1 (http): url: host "api..example.com" {EMPTY_LABEL}',
        f'component "API" check 2 (http): url: host ".example.com" {EMPTY_LABEL}',
        f'component "API" check 3 (http): url: host "." {EMPTY_LABEL}',
    ],
    "invalid-url-host-character.toml": [
        f'component "API" check 1 (http): url: host "api.exa%6Dple.com" cannot contain "%"; '
        f"{HOST_CHARS}",
        f'component "API" check 2 (http): url: host "api,example.com" cannot contain ","; '
        f"{HOST_CHARS}",
        f'component "API" check 3 (http): url: host "bad\uff0fhost.example" cannot contain '
        f'"\uff0f"; {HOST_CHARS}',
    ],
    "invalid-url-ip-literal.toml": [
        f'component "API" check 1 (http): url: host "[::zz]" is not an IPv6 address; {IN_BRACKETS}',
        'component "API" check 2 (http): url: "::1" is not a host and port; an IPv6 address goes '
        'in brackets, like "http://[::1]:8080/"',
        f'component "API" check 3 (http): url: host "[127.0.0.1]" is not an IPv6 address; '
        f"{IN_BRACKETS}",
    ],
    "invalid-url-port.toml": [
        'component "API" check 1 (http): url: port must be 1-65535, got 0',
        'component "API" check 2 (http): url: port must be 1-65535, got 99999',
        'component "API" check 3 (http): url: port must be 1-65535, got "http"',
    ],
    "invalid-url-scheme.toml": [
        'component "Files" check 1 (http): url: must be an http:// or https:// URL with a host, '
        'got "ftp://files.example.com/"',
    ],
    "invalid-url-too-long.toml": [
        f'component "API" check 1 (http): url: host {LONG_LABEL}',
        'component "API" check 2 (http): url: host "' + "b" * 50 + "." + "b" * 6 + '..." is 262 '
        "characters long; DNS allows at most 253",
    ],
    "invalid-wrong-type.toml": [
        'component "Web" check 1 (http): fail_after: must be an integer 1-1000, got "3"',
        'component "Web" check 1 (http): follow_redirects: must be true or false, got "yes"',
    ],
}


def errors_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.path == path
    assert str(caught.value) == "\n".join(caught.value.errors)
    return caught.value.errors


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_file_gives_exact_errors(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(DATA)  # messages then start with the name as a user would type it
    assert errors_of(Path(name)) == [f"{name}: {message}" for message in INVALID[name]]


def test_every_invalid_file_is_in_the_table() -> None:
    assert sorted(path.name for path in DATA.glob("invalid-*.toml")) == sorted(INVALID)


def test_several_faults_are_reported_together() -> None:
    errors = errors_of(DATA / "invalid-several-faults.toml")
    places = {message.split(": ")[1] for message in errors}
    assert len(errors) == 10
    assert {"[monitor]", "[defaults]", "[publisher]", "maintenance 1"} <= places


def test_no_secret_in_any_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(DATA)
    for name, secret in [
        ("invalid-inline-api-key.toml", "sk-very-secret-0123456789"),
        ("invalid-cluster-inline-url.toml", "cluster-secret-42"),
        ("invalid-api-key-env-holds-secret.toml", "0123456789abcdef-secret"),
        ("invalid-url-credentials.toml", "hunter2"),
        ("invalid-url-credentials.toml", "secret-token-5678"),
        ("invalid-url-credentials.toml", "default-token-1234"),
        ("invalid-header-control-character.toml", "secret"),
        ("invalid-url-password-delimiter.toml", "pw-cachet"),
        ("invalid-url-password-delimiter.toml", "cretPW"),
        ("invalid-url-password-delimiter.toml", "ssPW"),
        ("invalid-url-password-delimiter.toml", "tok3n"),
    ]:
        assert secret in (DATA / name).read_text()
        assert secret not in "\n".join(errors_of(Path(name)))


def test_url_credentials_are_hidden() -> None:
    data = {
        "component": [
            {"name": "Web", "check": [{"type": "http", "url": "ftp://user:hunter2@example.com/"}]}
        ]
    }
    with pytest.raises(ConfigError) as caught:
        parse_config(data, Path("checks.toml"))
    assert "hunter2" not in str(caught.value)
    assert '"ftp://user:***@example.com/"' in str(caught.value)


def test_full_file_parses_into_the_model() -> None:
    path = DATA / "valid-full.toml"
    defaults: dict[str, Any] = {
        "interval": 60.0,
        "timeout": 5.0,
        "fail_after": 2,
        "recover_after": 4,
        "degraded_over": 1.0,
    }
    lan_tcp: dict[str, Any] = {**defaults, "tls_verify": False, "max_read": 1024}
    expected = Config(
        path=path,
        monitor=MonitorSettings(
            database=DATA / "state" / "monitor.db",
            listen="[::1]:9464",
            retention=14 * 86400.0,
            concurrency=64,
        ),
        publisher=PublisherSettings(
            type="statuspage",
            url="https://api.statuspage.io/v1",
            page_id="kctbh9vrtdwd",
            api_key_file=DATA / "secrets" / "statuspage.key",
            monitoring_for=0.0,
        ),
        components=(
            Component(
                id="payment-api",
                name="Payment API",
                remote_id="8kbf7d35c070",
                checks=(
                    HttpCheck(
                        name="healthz",
                        url="https://pay.example.com/healthz?deep=1",
                        method="POST",
                        headers=(
                            ("Accept", "application/json"),
                            ("Authorization", "Bearer not-a-real-token"),
                        ),
                        body='{"ping": true}',
                        expect_status=(
                            StatusRange(200, 200),
                            StatusRange(201, 204),
                            StatusRange(300, 399),
                        ),
                        expect_body='"ok"',
                        follow_redirects=True,
                        max_redirects=5,
                        tls_verify=True,
                        max_body=2048,
                        interval=30.0,
                        timeout=10.0,
                        fail_after=3,
                        recover_after=2,
                        degraded_over=0.8,
                    ),
                    HttpCheck(
                        name="pay.example.com",
                        url="https://pay.example.com/",
                        method="HEAD",
                        headers=(("User-Agent", "monitor-test"),),
                        expect_status=(StatusRange(200, 299),),
                        follow_redirects=False,
                        max_redirects=3,
                        tls_verify=False,
                        max_body=64 * 1024,
                        **defaults,
                    ),
                    TcpCheck(
                        name="smtp",
                        host="mail.example.com",
                        port=465,
                        send="EHLO monitor\r\n",
                        expect="250",
                        tls=True,
                        tls_verify=True,
                        max_read=4096,
                        interval=120.0,
                        timeout=1.5,
                        fail_after=1,
                        recover_after=1,
                        degraded_over=0.25,
                    ),
                    TcpCheck(name="db.internal:5432", host="db.internal", port=5432, **lan_tcp),
                ),
            ),
            Component(
                id="zahlungs-dienst-fur-kunden",
                name="Zahlungs-Dienst für Kunden",
                checks=(TcpCheck(name="[::1]:8080", host="::1", port=8080, **lan_tcp),),
            ),
        ),
        maintenance=(
            Maintenance(
                components=("payment-api",),
                start=dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC),
                end=dt.datetime(2026, 12, 1, 4, 0, tzinfo=dt.UTC),
            ),
            Maintenance(
                components=("payment-api", "zahlungs-dienst-fur-kunden"),
                cron="30 1 * * sun,wed-fri",
                duration=5400.0,
                timezone="Europe/Berlin",
            ),
        ),
    )
    assert load_config(path) == expected


def test_minimal_file_takes_the_model_defaults(tmp_path: Path) -> None:
    path = tmp_path / "checks.toml"
    path.write_text(
        '[[component]]\nname = "Web"\n'
        'check = [{ type = "http", url = "https://example.com/healthz" }]\n'
    )
    config = load_config(path)
    assert config.monitor == MonitorSettings(database=tmp_path / "monitor.db")
    assert config.publisher == PublisherSettings()
    assert config.maintenance == ()
    assert config.components == (
        Component(
            id="web",
            name="Web",
            checks=(HttpCheck(name="example.com/healthz", url="https://example.com/healthz"),),
        ),
    )
    check = config.components[0].checks[0]
    assert isinstance(check, HttpCheck)
    assert check.expect_status == DEFAULT_EXPECT_STATUS


def test_relative_paths_are_relative_to_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "etc" / "monitor"
    folder.mkdir(parents=True)
    (folder / "checks.toml").write_text(
        '[monitor]\ndatabase = "../../var/monitor.db"\n'
        '[publisher]\ntype = "cachet"\nurl = "https://status.example.com/api/v1"\n'
        'api_key_file = "cachet.key"\n'
        '[[component]]\nname = "Web"\ncheck = [{ type = "tcp", host = "example.com", port = 80 }]\n'
    )
    monkeypatch.chdir(tmp_path)
    config = load_config(Path("etc/monitor/checks.toml"))
    assert config.path == Path("etc/monitor/checks.toml")
    assert config.monitor.database == tmp_path / "var" / "monitor.db"
    assert config.publisher.api_key_file == folder / "cachet.key"
    monkeypatch.chdir("/")  # where the daemon runs from does not matter
    assert load_config(folder / "checks.toml").monitor.database == tmp_path / "var" / "monitor.db"


def test_absolute_paths_are_kept(tmp_path: Path) -> None:
    data = {
        "monitor": {"database": "/var/lib/monitor/monitor.db"},
        "publisher": {
            "type": "instatus",
            "page_id": "p",
            "api_key_file": "/run/credentials/monitor.service/api_key",
        },
        "component": [{"name": "Web", "check": [{"type": "tcp", "host": "h", "port": 1}]}],
    }
    config = parse_config(data, tmp_path / "checks.toml")
    assert config.monitor.database == Path("/var/lib/monitor/monitor.db")
    assert config.publisher.api_key_file == Path("/run/credentials/monitor.service/api_key")
    assert config.publisher.url == "https://api.instatus.com"


def test_defaults_apply_by_type_and_checks_override_them() -> None:
    data = {
        "defaults": {
            "interval": "10s",
            "tls_verify": False,
            "headers": {"X-A": "1"},
            "send": "PING\n",
        },
        "component": [
            {
                "name": "Web",
                "check": [
                    {
                        "type": "http",
                        "url": "https://example.com/",
                        "interval": "5s",
                        "timeout": "5s",
                    },
                    {"type": "tcp", "host": "example.com", "port": 25, "tls_verify": True},
                ],
            }
        ],
    }
    http, tcp = parse_config(data, Path("checks.toml")).components[0].checks
    assert isinstance(http, HttpCheck) and isinstance(tcp, TcpCheck)
    assert (http.interval, http.timeout, http.tls_verify, http.headers) == (
        5.0,
        5.0,
        False,
        (("X-A", "1"),),
    )
    assert (tcp.interval, tcp.timeout, tcp.tls_verify, tcp.send) == (10.0, 10.0, True, "PING\n")


@pytest.mark.parametrize(
    ("publisher", "url"),
    [
        ({}, None),
        ({"type": "log"}, None),
        (
            {"type": "statuspage", "page_id": "p", "api_key_env": "K"},
            "https://api.statuspage.io/v1",
        ),
        ({"type": "instatus", "page_id": "p", "api_key_env": "K"}, "https://api.instatus.com"),
        (
            {"type": "statuspage", "page_id": "p", "api_key_env": "K", "url": "http://127.0.0.1:1"},
            "http://127.0.0.1:1",
        ),
        (
            {"type": "cachet", "api_key_env": "K", "url": "https://status.example.com/api/v1"},
            "https://status.example.com/api/v1",
        ),
    ],
)
def test_publisher_url_defaults_per_provider(publisher: dict[str, str], url: str | None) -> None:
    data = {
        "publisher": publisher,
        "component": [{"name": "Web", "check": [{"type": "tcp", "host": "h", "port": 1}]}],
    }
    assert parse_config(data, Path("checks.toml")).publisher.url == url


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("0 2 * * sun", "0 2 * * sun"),
        ("0 2 * * 0", "0 2 * * sun"),
        ("0 2 * * 7", "0 2 * * sun"),
        ("0 2 * * 1-5", "0 2 * * mon-fri"),
        ("0 2 * * 0-6", "0 2 * * sun,mon-sat"),
        ("0  2 1 * 6,0", "0 2 1 * sat,sun"),
        ("*/15 * * * *", "*/15 * * * *"),
    ],
)
def test_cron_weekday_numbers_mean_what_cron_means(cron: str, expected: str) -> None:
    data = {
        "component": [{"name": "Web", "check": [{"type": "tcp", "host": "h", "port": 1}]}],
        "maintenance": [{"components": ["web"], "cron": cron, "duration": "1h"}],
    }
    assert parse_config(data, Path("checks.toml")).maintenance[0].cron == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([200], (StatusRange(200, 200),)),
        (204, (StatusRange(204, 204),)),
        ("2xx", (StatusRange(200, 299),)),
        (["200-299", "404"], (StatusRange(200, 299), StatusRange(404, 404))),
    ],
)
def test_expect_status_forms(value: object, expected: tuple[StatusRange, ...]) -> None:
    data = {
        "component": [
            {
                "name": "Web",
                "check": [{"type": "http", "url": "https://example.com/", "expect_status": value}],
            }
        ]
    }
    check = parse_config(data, Path("checks.toml")).components[0].checks[0]
    assert isinstance(check, HttpCheck)
    assert check.expect_status == expected


def one_check(check: dict[str, Any]) -> dict[str, Any]:
    return {"component": [{"name": "Web", "check": [check]}]}


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/healthz",
        "http://[::1]:8080/healthz",
        "http://[2001:db8::ff00:42:8329]/",
        "http://[fe80::1%25eth0]/",
        "https://bücher.example/",
        "https://例え.テスト/",
        "https://xn--bcher-kva.example/",
        "http://my_service:8080/",
        "https://example.com./",
        "https://user:pw@example.com/",
        "https://" + "a" * 63 + ".example/",
        "https://" + ".".join(["c" * 63] * 3 + ["d" * 61]) + "/",  # 253 characters
        "https://example.com/a%00b?q=%7F",
    ],
)
def test_urls_that_can_be_sent_are_accepted(url: str) -> None:
    check = parse_config(one_check({"type": "http", "url": url}), Path("checks.toml"))
    (parsed,) = check.components[0].checks
    assert parsed == HttpCheck(name=parsed.name, url=url)


@pytest.mark.parametrize(
    "host",
    ["::1", "127.0.0.1", "db.internal", "db_1", "bücher.example", "a" * 63 + ".internal", "db."],
)
def test_tcp_hosts_that_resolve_are_accepted(host: str) -> None:
    data = one_check({"type": "tcp", "host": host, "port": 5432})
    check = parse_config(data, Path("checks.toml")).components[0].checks[0]
    assert isinstance(check, TcpCheck) and check.host == host


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer abc"},
        {"Host": "api.example.com:8443"},
        {"Host": "[::1]:8080"},
        {"Host": "bücher.example"},
        {"X-Note": "tab\there", "X-Name": "Zürich", "X-Empty": ""},
    ],
)
def test_headers_that_can_be_sent_are_accepted(headers: dict[str, str]) -> None:
    data = one_check({"type": "http", "url": "https://example.com/", "headers": headers})
    check = parse_config(data, Path("checks.toml")).components[0].checks[0]
    assert isinstance(check, HttpCheck) and check.headers == tuple(headers.items())


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25),
        ("30s", 30.0),
        ("1.5s", 1.5),
        ("5m", 300.0),
        ("2h", 7200.0),
        ("14d", 14 * 86400.0),
        ("0s", 0.0),
        ("1h30m", 5400.0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["30", "-5s", "5 s", "5sec", "1w", "", "s", "1.s", "5m3"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"must be {DURATION}, got ")):
        parse_duration(text)


def test_load_config_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    assert errors_of(path) == [f"{path}: no such file; pass -c PATH or set $MONITOR_CONFIG"]


def test_load_config_folder_and_bad_encoding(tmp_path: Path) -> None:
    assert errors_of(tmp_path) == [f"{tmp_path}: is a folder; expected a TOML file"]
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[[component]]\nname = "Z\xfcrich"\n')
    assert errors_of(path) == [f"{path}: is not UTF-8 text (line 2); save it as UTF-8"]


@pytest.mark.parametrize(
    ("option", "environ", "expected"),
    [
        ("a.toml", {"MONITOR_CONFIG": "b.toml"}, Path("a.toml")),
        (None, {"MONITOR_CONFIG": "/etc/monitor/checks.toml"}, Path("/etc/monitor/checks.toml")),
        (None, {"MONITOR_CONFIG": ""}, Path("checks.toml")),
        (None, {}, Path("checks.toml")),
    ],
)
def test_resolve_config_path(option: str | None, environ: dict[str, str], expected: Path) -> None:
    assert resolve_config_path(option, environ) == expected


SECRET = "sp-0123456789abcdef"


def test_read_api_key_from_environment() -> None:
    publisher = PublisherSettings(type="statuspage", api_key_env="SP_KEY")
    assert read_api_key(publisher, {"SP_KEY": f"  {SECRET}\n"}) == SECRET


def test_read_api_key_from_file(tmp_path: Path) -> None:
    (tmp_path / "key").write_text(f"{SECRET}\n")
    publisher = PublisherSettings(type="cachet", api_key_file=tmp_path / "key")
    assert read_api_key(publisher, {}) == SECRET


def read_api_key_error(publisher: PublisherSettings, environ: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as caught:
        read_api_key(publisher, environ, path=Path("checks.toml"))
    text = str(caught.value)
    assert SECRET not in text and SECRET not in repr(caught.value.__cause__)
    return text


def test_read_api_key_errors_name_the_key_and_hide_the_secret(tmp_path: Path) -> None:
    env = PublisherSettings(type="statuspage", api_key_env="SP_KEY")
    assert read_api_key_error(env, {"OTHER": SECRET}) == (
        "checks.toml: [publisher]: api_key_env: environment variable SP_KEY is not set; set it "
        "to the statuspage API key, or use api_key_file"
    )
    assert read_api_key_error(env, {"SP_KEY": " \n"}) == (
        "checks.toml: [publisher]: api_key_env: environment variable SP_KEY is empty; set it "
        "to the statuspage API key, or use api_key_file"
    )
    missing = PublisherSettings(type="instatus", api_key_file=tmp_path / "missing")
    assert read_api_key_error(missing, {}) == (
        f"checks.toml: [publisher]: api_key_file: cannot read {tmp_path / 'missing'}: no such file"
    )
    (tmp_path / "empty").write_text("\n")
    empty = PublisherSettings(type="instatus", api_key_file=tmp_path / "empty")
    assert read_api_key_error(empty, {}) == (
        f"checks.toml: [publisher]: api_key_file: {tmp_path / 'empty'} is empty; write the "
        "instatus API key into it"
    )
    (tmp_path / "binary").write_bytes(SECRET.encode() + b"\xff")
    binary = PublisherSettings(type="instatus", api_key_file=tmp_path / "binary")
    assert read_api_key_error(binary, {}) == (
        f"checks.toml: [publisher]: api_key_file: {tmp_path / 'binary'} is not UTF-8 text"
    )
    assert read_api_key_error(PublisherSettings(type="cachet"), {}) == (
        "checks.toml: [publisher]: api_key_env: cachet needs an API key; set api_key_env or "
        "api_key_file"
    )


def test_docs_describe_every_key() -> None:
    text = DOCS.read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", text, re.MULTILINE))
    missing = {key for keys in ALLOWED_KEYS.values() for key in keys} - documented
    assert not missing, f"docs/configuration.md lacks {sorted(missing)}"


def test_docs_examples_are_valid() -> None:
    blocks = re.findall(r"```toml\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.DOTALL)
    full = tomllib.loads(blocks[-1])
    config = parse_config(full, Path("/etc/monitor/checks.toml"))
    assert [c.id for c in config.components] == ["payment-api", "mail"]
    assert [c.name for c in config.components[1].checks] == ["mail.example.com:465", "submission"]
    defaults = tomllib.loads(blocks[0])
    parse_config({**full, **defaults}, Path("checks.toml"))


_SCALARS = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    st.sampled_from(
        [
            "",
            "30s",
            "0s",
            "2xx",
            "http",
            "tcp",
            "web",
            "https://x/",
            "0 2 * * 1-5",
            "UTC",
            "../x",
            "2026-12-01T02:00:00Z",
            "a:b",
            "[::1]:80",
        ]
    ),
    st.text(max_size=8),
    st.datetimes(),
    st.dates(),
)
_KEYS = st.sampled_from(
    sorted({key for keys in ALLOWED_KEYS.values() for key in keys} | {"type", "name", "bogus"})
)
_SECTIONS = st.sampled_from(["monitor", "defaults", "publisher", "component", "maintenance", "x"])
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_SECTIONS, _VALUES, max_size=5))
def test_parse_config_refuses_anything_with_config_error_only(data: dict[str, object]) -> None:
    with contextlib.suppress(ConfigError):
        parse_config(data, Path("checks.toml"))


@settings(max_examples=200, deadline=None)
@given(checks=st.lists(st.dictionaries(_KEYS, _VALUES, max_size=6), max_size=3))
def test_checks_refuse_anything_with_config_error_only(checks: list[dict[str, object]]) -> None:
    data = {
        "component": [{"name": "Web", "check": checks}],
        "maintenance": [{"components": ["web"], **check} for check in checks],
    }
    with contextlib.suppress(ConfigError):
        parse_config(data, Path("checks.toml"))


def test_thresholds_come_from_defaults_then_component_then_check(tmp_path: Path) -> None:
    path = tmp_path / "checks.toml"
    path.write_text(
        """
        [defaults]
        fail_after = 5
        flaky_window = 20
        [[component]]
        name = "Web"
        fail_after = 4
        flaky_enter = 0.5
          [[component.check]]
          type = "http"
          name = "a"
          url = "https://example.com/a"
          [[component.check]]
          type = "http"
          name = "b"
          url = "https://example.com/b"
          fail_after = 2
        [[component]]
        name = "Other"
          [[component.check]]
          type = "tcp"
          host = "db"
          port = 1
        """
    )
    config = load_config(path)
    a, b = config.components[0].checks
    (other,) = config.components[1].checks
    assert (a.fail_after, a.flaky_window, a.flaky_enter, a.flaky_exit) == (4, 20, 0.5, 0.1)
    assert (b.fail_after, b.flaky_enter) == (2, 0.5)
    assert (other.fail_after, other.flaky_window, other.flaky_enter) == (5, 20, 0.3)
