"""Write tests/data/monitor-v<schema version>.db: a small database as this release writes it.

    python tests/data/make_release_db.py

tests/test_storage_format.py opens every monitor-v*.db here with the current code, migrates it
and reads its history, statuses, transitions and outbox: a release that can no longer read a
database an older release wrote fails there. Run this once in each release that adds a
migration, and commit the new file beside the old ones; never regenerate an old one.

Everything goes through the store's own functions, with the status rules deciding the states:
twelve minutes of probes (every outcome and every error kind), the check and component
transitions they make, the outbox entries for the page (two delivered into an incident now
monitoring, two pending), the page's state, a publisher error and the daemon's run.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import sqlite_utils

from monitor.incidents import IncidentStatus, Remote
from monitor.model import Component, ErrorKind, HttpCheck, Outcome, ProbeResult, TcpCheck, check_key
from monitor.state import (
    CheckStatus,
    ComponentStatus,
    Status,
    Thresholds,
    step_check,
    step_component,
)
from monitor.store import (
    ERROR_KIND_CODE,
    INSERT_RESULTS,
    OUTCOME_CODE,
    SCHEMA_VERSION,
    UPSERT_DAY,
    UPSERT_HOUR,
    UPSERT_MONTH,
    Stmt,
    end_run,
    heartbeat,
    open_db,
    record_delivery,
    record_published,
    record_publisher_health,
    register_checks,
    rollup_rows,
    save_check_status,
    save_component_status,
    save_outbox_entry,
    save_transition,
)

T0 = 1_767_571_200.0  # 2026-01-05T00:00:00Z; a probe a minute from then on
PUBLISHER = "statuspage"
COMPONENTS = (
    Component(
        id="api",
        name="API",
        remote_id="rc-api",
        checks=(
            HttpCheck(name="healthz", url="https://api.example.com/healthz", degraded_over=0.8),
            TcpCheck(name="db", host="db.internal", port=5432),
        ),
    ),
    Component(
        id="web",
        name="Web",
        remote_id="rc-web",
        checks=(HttpCheck(name="home", url="https://www.example.com/"),),
    ),
)
OK = ProbeResult(Outcome.OK, 0.042, status_code=200)
SLOW = ProbeResult(Outcome.SLOW, 1.25, status_code=200)
TCP_OK = ProbeResult(Outcome.OK, 0.0031)


def failed(kind: ErrorKind, message: str, latency: float = 0.5) -> ProbeResult:
    return ProbeResult.failed(kind, message, latency)


# check key -> its twelve probes, one a minute
PROBES: dict[str, list[ProbeResult]] = {
    "api/healthz": [
        OK,
        OK,
        SLOW,
        failed(ErrorKind.TIMEOUT, "timeout after 10.0 s", 10.0),
        failed(ErrorKind.REFUSED, "connection refused"),
        failed(ErrorKind.DNS, "cannot resolve api.example.com"),
        *[OK] * 6,
    ],
    "api/db": [
        *[TCP_OK] * 9,
        failed(ErrorKind.RESET, "connection reset by peer"),
        failed(ErrorKind.PROTOCOL, "expected 'PONG', got 'ERR'"),
        failed(ErrorKind.CONFIG, "cannot build the request"),
    ],
    "web/home": [
        OK,
        OK,
        ProbeResult(Outcome.FAIL, 0.08, 500, ErrorKind.STATUS, "status 500, expected 2xx or 3xx"),
        OK,
        ProbeResult(Outcome.FAIL, 0.09, 200, ErrorKind.BODY, "body does not contain 'ok'"),
        OK,
        failed(ErrorKind.TLS, "certificate has expired"),
        *[OK] * 5,
    ],
}


def run_stmts(db: sqlite_utils.Database, stmts: Iterable[Stmt]) -> None:
    """As the writer thread runs them: one transaction."""
    with db.conn:
        for stmt in stmts:
            db.conn.execute(stmt.sql, stmt.params() if callable(stmt.params) else stmt.params)


def write(path: Path) -> None:
    path.unlink(missing_ok=True)
    small = sqlite3.connect(path)  # 1 KiB pages keep the file small; monitor keeps any size
    small.execute("PRAGMA page_size = 1024")
    small.execute("VACUUM")
    small.close()
    db = open_db(path)
    ids = register_checks(db, COMPONENTS)
    checks = {key: CheckStatus() for key in PROBES}
    components = {c.id: ComponentStatus(since=T0) for c in COMPONENTS}
    remote = Remote()
    for minute in range(12):
        at = T0 + 60 * minute
        rows, stmts = [], []
        for component in COMPONENTS:
            for check in component.checks:
                key = check_key(component, check)
                result = PROBES[key][minute]
                rows.append(
                    (
                        int(at * 1000),
                        ids[key],
                        OUTCOME_CODE[result.outcome],
                        int(result.latency * 1_000_000),
                        result.status_code,
                        ERROR_KIND_CODE[result.error_kind] if result.error_kind else None,
                        result.error,
                    )
                )
                checks[key], change = step_check(checks[key], result, at, Thresholds.of(check))
                stmts.append(save_check_status(ids[key], checks[key]))
                if change is not None:
                    stmts.append(save_transition(component.id, ids[key], change))
            mine = {c.name: checks[check_key(component, c)] for c in component.checks}
            status, moved = step_component(components[component.id], mine, None, at)
            components[component.id] = status
            stmts.append(save_component_status(component.id, status))
            if moved is not None:
                stmts.append(save_transition(component.id, None, moved))
                stmts.append(save_outbox_entry(PUBLISHER, component.id, moved))
        hours, days, months = rollup_rows(rows)
        with db.conn:
            db.conn.executemany(INSERT_RESULTS, rows)
            db.conn.executemany(UPSERT_HOUR, hours)
            db.conn.executemany(UPSERT_DAY, days)
            db.conn.executemany(UPSERT_MONTH, months)
            heartbeat(db, T0, at + 30)
        run_stmts(db, stmts)
        if minute == 5:  # the page got the outage: an incident is open
            record_published(db, PUBLISHER, "inc-api-1", "api", at)
            remote = Remote(
                incident_id="inc-api-1",
                key=f"api:{round(at * 1000)}",
                incident_status=IncidentStatus.INVESTIGATING,
                started_at=at,
                worst=Status.PARTIAL_OUTAGE,
                last_reason=components["api"].reason,
                page_status=Status.PARTIAL_OUTAGE,
                target=Status.PARTIAL_OUTAGE,
            )
            record_delivery(db, PUBLISHER, "api", remote, 1, at + 1)  # outbox entry 1
        if minute == 7:  # ... and the recovery: the incident is monitoring
            remote = replace(
                remote,
                incident_status=IncidentStatus.MONITORING,
                recovered_at=at,
                page_status=Status.OPERATIONAL,
                target=Status.OPERATIONAL,
            )
            record_delivery(db, PUBLISHER, "api", remote, 3, at + 1)  # entry 3 (2 is web's)
    record_publisher_health(db, PUBLISHER, "HTTP 503 from the page: try again later", T0 + 690)
    with db.conn:
        end_run(db, T0, T0 + 700)
    db.close()
    check = sqlite3.connect(path)
    check.execute("VACUUM")
    check.close()


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent
    out = target / f"monitor-v{SCHEMA_VERSION}.db"
    write(out)
    print(f"{out}: {out.stat().st_size} bytes")
