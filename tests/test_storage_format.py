"""The file format: what a stored number or word means never changes by accident.

The database outlives every release that writes to it, so the codes it stores (outcomes, error
kinds, states, statuses, outbox states, latency buckets) are frozen here as literals and compared
with the one table of codes, `monitor.store.codes`; a release with its enums reordered or a
bucket edge moved must still write and read the same file; JSON kept in the database carries a
version and is read tolerantly.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

import monitor
from monitor import history
from monitor.incidents import IncidentStatus, Remote
from monitor.model import ErrorKind, Outcome
from monitor.state import CheckState, CheckStatus, Status
from monitor.store import codes, decode_check_status, decode_remote, open_db

# What every stored code means, as released: add a line for a new code, never change one.
FROZEN_OUTCOMES = {0: "ok", 1: "slow", 2: "fail"}  # results.outcome; rollup ok/slow/fail
FROZEN_ERROR_KINDS = {  # results.error_kind
    0: "timeout",
    1: "refused",
    2: "dns",
    3: "tls",
    4: "status",
    5: "body",
    6: "reset",
    7: "protocol",
    8: "config",
}
FROZEN_CHECK_STATES = {"up": "up", "slow": "slow", "flaky": "flaky", "down": "down"}
FROZEN_STATUSES = {
    "operational": "operational",
    "degraded_performance": "degraded_performance",
    "partial_outage": "partial_outage",
    "major_outage": "major_outage",
    "under_maintenance": "under_maintenance",
}
FROZEN_INCIDENT_STATUSES = {
    "investigating": "investigating",
    "identified": "identified",
    "monitoring": "monitoring",
    "resolved": "resolved",
}
FROZEN_OUTBOX_STATES = {0: "pending", 1: "delivered", 2: "failed"}
# Upper bounds (ms) of the rollup columns b0..b26; b27 holds everything slower.
FROZEN_BUCKETS_MS = (
    1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 150, 200, 300, 500, 700,
    1000, 1500, 2000, 3000, 5000, 7000, 10000, 15000, 20000, 30000,
)  # fmt: skip


def _meanings(table: dict[object, object]) -> dict[object, str]:
    """code -> the value of the member it stands for, from a member -> code table."""
    return {code: str(member) for member, code in table.items()}


@pytest.mark.parametrize(
    ("frozen", "table", "enum"),
    [
        (FROZEN_OUTCOMES, codes.OUTCOME_CODE, Outcome),
        (FROZEN_ERROR_KINDS, codes.ERROR_KIND_CODE, ErrorKind),
        (FROZEN_CHECK_STATES, codes.CHECK_STATE_CODE, CheckState),
        (FROZEN_STATUSES, codes.STATUS_CODE, Status),
        (FROZEN_INCIDENT_STATUSES, codes.INCIDENT_STATUS_CODE, IncidentStatus),
    ],
    ids=["outcome", "error_kind", "check_state", "status", "incident_status"],
)
def test_every_released_code_keeps_its_meaning(
    frozen: dict[object, str], table: dict[object, object], enum: type
) -> None:
    live = _meanings(table)
    changed = {code: (meaning, live.get(code)) for code, meaning in frozen.items()}
    assert {c: m for c, m in changed.items() if m[0] != m[1]} == {}, "a stored code changed"
    assert set(table) == set(enum), "every member needs a code (a new one: the next code)"
    assert len(set(table.values())) == len(table), "a code is never used twice"


def test_outbox_states_and_latency_buckets_keep_their_meaning() -> None:
    live = {
        codes.OUTBOX_PENDING: "pending",
        codes.OUTBOX_DELIVERED: "delivered",
        codes.OUTBOX_FAILED: "failed",
    }
    assert live == FROZEN_OUTBOX_STATES
    assert codes.LATENCY_BUCKETS_MS == FROZEN_BUCKETS_MS
    assert len(FROZEN_BUCKETS_MS) + 1 == codes.N_LATENCY_BUCKETS
    # The history's percentiles read the stored buckets with its own copy of the edges.
    assert history.BUCKETS_MS == FROZEN_BUCKETS_MS
    assert [codes.bucket_of(us) for us in (0, 1000, 1001, 30_000_000, 30_000_001)] == [
        0,
        0,
        1,
        26,
        27,
    ]


def _release_with(copy: Path) -> Path:
    """A copy of the package as a careless next release might have it: the enums stored as
    numbers reordered, and a latency bucket edge added in front."""
    package = copy / "monitor"
    shutil.copytree(Path(monitor.__file__).parent, package)
    edits = {
        "model.py": [
            ('    OK = "ok"\n    SLOW = "slow"\n    FAIL = "fail"\n',
             '    FAIL = "fail"\n    SLOW = "slow"\n    OK = "ok"\n'),
            ('    TIMEOUT = "timeout"\n', ""),
            ('    PROTOCOL = "protocol"\n', '    PROTOCOL = "protocol"\n    TIMEOUT = "timeout"\n'),
        ],
        "history.py": [("    1, 2, 3, 5, 7,", "    0.5, 1, 2, 3, 5, 7,")],
    }  # fmt: skip
    for name, replacements in edits.items():
        path = package / name
        text = path.read_text()
        for old, new in replacements:
            assert text.count(old) == 1, f"{name} no longer has {old!r}: update this test"
            text = text.replace(old, new)
        path.write_text(text)
    return copy


# Run by the reordered release: writes one result of each outcome and error kind through the
# writer, and prints what it reads back.
_WRITE_AND_READ = """
import json, sys
from monitor.model import Component, ErrorKind, HttpCheck, Outcome
from monitor.store import ERROR_KIND_CODE, OUTCOME_CODE, Store, register_checks
from monitor.writer import Writer

assert list(ErrorKind)[0] is ErrorKind.REFUSED and list(Outcome)[0] is Outcome.FAIL
writer = Writer(sys.argv[1], flush_interval=0.01)
writer.start()
component = Component(id="api", name="API", checks=(HttpCheck(name="h", url="http://a/"),))
check_id = writer.call(lambda db: register_checks(db, [component])).result(10)["api/h"]
at = 1_767_225_600_000
for outcome in ("ok", "slow"):
    writer.submit((at, check_id, OUTCOME_CODE[Outcome(outcome)], 1500, 200, None, None))
    at += 1
for kind in ("timeout", "refused", "dns", "tls", "status", "body", "reset", "protocol", "config"):
    code = ERROR_KIND_CODE[ErrorKind(kind)]
    writer.submit((at, check_id, OUTCOME_CODE[Outcome.FAIL], 1500, None, code, kind))
    at += 1
writer.stop()
store = Store.open(sys.argv[1])
print(json.dumps([[r.outcome.value, r.error_kind and r.error_kind.value] for r in store.results()]))
store.close()
"""


def _schema(path: Path) -> list[tuple[str, str, str]]:
    conn = sqlite3.connect(path)
    try:
        return sorted(conn.execute("SELECT type, name, coalesce(sql, '') FROM sqlite_master"))
    finally:
        conn.close()


def test_a_release_that_reorders_enums_and_buckets_writes_the_same_file(tmp_path: Path) -> None:
    release = _release_with(tmp_path / "next")
    written = tmp_path / "next.db"
    run = subprocess.run(
        [sys.executable, "-c", _WRITE_AND_READ, str(written)],
        env={"PYTHONPATH": str(release), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    kinds = list(FROZEN_ERROR_KINDS.values())
    expected = [["ok", None], ["slow", None]] + [["fail", kind] for kind in kinds]
    assert json.loads(run.stdout) == expected, "the reordered release reads back what it wrote"

    # The numbers on disk are the released ones, whatever the order of the enums.
    conn = sqlite3.connect(written)
    rows = conn.execute("SELECT outcome, error_kind, error FROM results ORDER BY at").fetchall()
    buckets = conn.execute("SELECT b1 FROM rollup_hour").fetchone()
    conn.close()
    assert rows[:2] == [(0, None, None), (1, None, None)]
    assert rows[2:] == [(2, code, kind) for code, kind in FROZEN_ERROR_KINDS.items()]
    assert buckets == (2,), "1.5 ms is in bucket b1 (1-2 ms]; fails have no latency bucket"

    # Its migrations made exactly the schema of this release: they read no live constant.
    fresh = tmp_path / "fresh.db"
    open_db(fresh).close()
    assert _schema(written) == _schema(fresh)


SAVED_CHECK = {  # a check_state.data as this release writes it
    "v": 1,
    "probes": 12,
    "fails_in_row": 3,
    "good_in_row": 0,
    "slow_in_row": 0,
    "ok_in_row": 0,
    "window": 7,
    "is_down": True,
    "is_slow": False,
    "is_flaky": False,
    "raw": "down",
    "raw_changes": [9],
    "held": None,
    "last_outcome": "fail",
    "last_latency": 5.0,
    "last_at": 1767225600.0,
    "last_error": "timeout after 5.0 s",
}


def test_saved_check_state_restores_with_an_unknown_key_and_a_missing_one() -> None:
    data = {k: v for k, v in SAVED_CHECK.items() if k != "window"} | {"quorum": {"eu": 2}}
    status = decode_check_status("down", 1_767_225_000_000, json.dumps(data))
    assert status.state is CheckState.DOWN and status.since == 1_767_225_000.0
    assert status.window == CheckStatus().window, "a missing key takes its default"
    assert status.raw is CheckState.DOWN and status.raw_changes == (9,)
    assert status.last_outcome is Outcome.FAIL and status.last_error == "timeout after 5.0 s"
    assert status.fails_in_row == 3 and status.is_down


def test_saved_check_state_restores_without_a_version_and_with_a_newer_one() -> None:
    legacy = {k: v for k, v in SAVED_CHECK.items() if k != "v"}  # before versions were written
    newer = SAVED_CHECK | {"v": 99, "raw": "paused", "held": "gone"}
    for data in (legacy, newer):
        status = decode_check_status("down", 0, json.dumps(data))
        assert status.probes == 12 and status.last_error == "timeout after 5.0 s"
    assert decode_check_status("down", 0, json.dumps(newer)).raw is CheckState.UP


def test_saved_page_state_restores_with_an_unknown_key_and_a_missing_one() -> None:
    remote = Remote(
        incident_id="inc1",
        key="api:1767225600000",
        incident_status=IncidentStatus.MONITORING,
        started_at=1767225600.0,
        recovered_at=1767225900.0,
        worst=Status.MAJOR_OUTAGE,
        last_reason="all 2 checks down",
        page_status=Status.OPERATIONAL,
        target=Status.OPERATIONAL,
    )
    data = asdict(remote)
    del data["last_reason"]
    data["locations"] = ["eu-west"]
    restored = decode_remote(json.dumps(data))
    assert restored == Remote(**{**asdict(remote), "last_reason": ""})
    assert decode_remote(json.dumps({"v": 1})) == Remote()


def test_saved_json_carries_its_version() -> None:
    from monitor.store import encode_check_status, encode_remote

    assert json.loads(encode_check_status(CheckStatus()))["v"] == codes.CHECK_STATUS_VERSION
    assert json.loads(encode_remote(Remote()))["v"] == codes.REMOTE_VERSION
