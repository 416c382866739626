"""SQLite storage: the schema, its migrations, and the read side used by the CLI.

The probe results table is the big one (10,000 checks at 30 s is ~29 million rows a day), so a row
is six small integers and, only for failures, a short text: `results` is a WITHOUT ROWID table
keyed by (at, check_id). New rows land at the end of the b-tree, so inserts are appends; retention
deletes a prefix; an export over a time range is a range scan. Names and targets live once in
`checks`. Times are integer milliseconds since the Unix epoch, latencies integer microseconds.

Writes from the daemon go through `monitor.writer.Writer`, which owns the only writing connection.

`codes` is the one table of every code stored (what a stored number or word means); `schema`
has the migrations; `database` opens the file (`open_db` to write, `open_readonly` for the CLI)
and refuses one that is not ours; `results` the probe results and their rollups; `status` the
engine's saved state and transitions; `outbox` what the publishers owe the page; `saved` the
state kept as versioned JSON; `reader` the read side, `Store`. Import from `monitor.store`: the
layout inside may change.
"""

from monitor.store.codes import (
    ERROR_KIND_CODE,
    OUTBOX_DELIVERED,
    OUTBOX_FAILED,
    OUTBOX_PENDING,
    OUTCOME_CODE,
)
from monitor.store.database import (
    SCHEMA_VERSION,
    NewerSchema,
    NoDatabase,
    NotOurDatabase,
    OlderSchema,
    StoreError,
    create_private,
    identity,
    open_db,
    open_readonly,
    schema_version,
)
from monitor.store.outbox import (
    load_outbox,
    record_delivery,
    record_published,
    record_publisher_health,
    save_outbox_entry,
)
from monitor.store.reader import Store
from monitor.store.results import (
    EPOCH,
    INSERT_RESULTS,
    UPSERT_DAY,
    UPSERT_HOUR,
    UPSERT_MONTH,
    ResultRow,
    StoredResult,
    end_run,
    first_day_of_month,
    heartbeat,
    month_of_day,
    prune,
    register_checks,
    rollup_rows,
)
from monitor.store.saved import (
    decode_check_status,
    decode_remote,
    encode_check_status,
    encode_remote,
)
from monitor.store.schema import migrations
from monitor.store.status import (
    STATE_EVERY,
    Stmt,
    StoredTransition,
    load_statuses,
    save_check_status,
    save_component_status,
    save_transition,
)

__all__ = [
    "EPOCH",
    "SCHEMA_VERSION",
    "STATE_EVERY",
    "ERROR_KIND_CODE",
    "INSERT_RESULTS",
    "OUTBOX_DELIVERED",
    "OUTBOX_FAILED",
    "OUTBOX_PENDING",
    "OUTCOME_CODE",
    "UPSERT_DAY",
    "UPSERT_HOUR",
    "UPSERT_MONTH",
    "NewerSchema",
    "NoDatabase",
    "NotOurDatabase",
    "OlderSchema",
    "ResultRow",
    "Stmt",
    "Store",
    "StoredResult",
    "StoredTransition",
    "decode_check_status",
    "decode_remote",
    "create_private",
    "encode_check_status",
    "encode_remote",
    "first_day_of_month",
    "end_run",
    "heartbeat",
    "identity",
    "load_outbox",
    "load_statuses",
    "migrations",
    "month_of_day",
    "open_db",
    "open_readonly",
    "StoreError",
    "prune",
    "record_delivery",
    "record_published",
    "record_publisher_health",
    "register_checks",
    "rollup_rows",
    "save_check_status",
    "save_component_status",
    "save_outbox_entry",
    "save_transition",
    "schema_version",
]
