"""One line per key of checks.toml, for the JSON Schema (`monitor schema`): what an editor shows
beside a key as it completes it or the cursor rests on it.

A shortened docs/configuration.md: that page is the reference, and tests/test_schema.py holds
these tables to keys.py, so that a key added there without a line here fails.
"""

from __future__ import annotations

SECTIONS = {
    "monitor": "The daemon itself: its database, HTTP endpoints and probing. Optional.",
    "defaults": "Any key of a check but type and name; each check takes those of its type.",
    "publisher": "Where status changes are published. Optional; without it nothing is.",
    "cluster": "Cluster mode: daemons sharing one PostgreSQL database, one leader publishing.",
    "component": "A thing users see on the status page, probed by its checks. At least one.",
    "maintenance": "A window with no incidents: one-off (start + end) or cron + duration.",
    "check": "One probe of the component: type and its keys. At least one.",
}

MONITOR = {
    "database": "SQLite file for probe results, states, incidents and the outbox.",
    "listen": 'Address of /metrics, /healthz and /status.json; "" turns them off.',
    "retention": "How long raw probe results are kept.",
    "concurrency": "Probes in flight at once, across all checks.",
    "workers": 'Processes that probe: "auto" sizes them from the planned load.',
    "metrics_per_check": "Probe series per check (true) or per component (false).",
}

PUBLISHER = {
    "type": 'The status page provider; "log" prints, "none" publishes nothing.',
    "url": "The provider's API base; paths are appended.",
    "page_id": "The page to publish to (statuspage, instatus).",
    "api_key_env": "Name of the environment variable holding the API key.",
    "api_key_file": "A file holding the API key.",
    "monitoring_for": 'How long a recovered incident stays in "monitoring" before it is resolved.',
    "rate_limit": "Requests per second to the status page, all components together.",
    "timeout": "The deadline of each request to the status page.",
    "maintenance_poll": "How often to read the page's active maintenance; 0s turns it off.",
    "announce_ahead": "How long before it starts each [[maintenance]] is announced; 0s: never.",
    "notify": "The statuses whose incidents notify the page's subscribers.",
    "incident_name": "The name of an incident.",
    "body_investigating": "The text of a new incident.",
    "body_update": "The text of an update when the status changes during an incident.",
    "body_monitoring": "The text when the component recovers.",
    "body_resolved": "The text when the incident is resolved.",
    "body_backfill": "The text of an incident published after it was over.",
}

CLUSTER = {
    "database_env": "Name of the environment variable holding the postgresql:// URL.",
    "database_file": "A file holding the postgresql:// URL.",
    "node": "This daemon's name in the cluster; the host name by default.",
    "location": "Where this daemon probes from.",
    "stale_after": "A node not heard from this long counts as gone.",
    "lease": "How long the leader's lease lasts; at least 3 x [publisher] timeout.",
}

COMPONENT = {
    "name": "Shown in the CLI and on the page.",
    "id": "Used in the CLI, metrics and the database; the slug of name by default.",
    "remote_id": "The component's id on the status page; without it it is not published.",
    "public_name": "The name the status page's readers see; name by default.",
    "locations": "Cluster mode only: the locations whose probes judge the component.",
    "quorum": "Cluster mode only: how many locations must agree; at most the locations.",
    "check": SECTIONS["check"],
}

CHECK = {
    "type": 'The kind of probe: "http" or "tcp".',
    "name": "Unique within the component; from the target by default.",
    "interval": "Time between probes.",
    "timeout": "Deadline for one probe; at most interval.",
    "fail_after": "Consecutive failed (or slow) probes before the check is down (or slow).",
    "recover_after": "Consecutive good probes before it is up again.",
    "degraded_over": "A good probe slower than this counts as slow; less than timeout.",
    "flaky_window": "How many recent probes flaky looks at.",
    "flaky_enter": "The share of the window failed at which the check is flaky.",
    "flaky_exit": "The share at which a flaky check is clear again; less than flaky_enter.",
    "flap_changes": "State changes within flap_window probes that count as flapping.",
    "flap_window": "Probes over which changes are counted.",
}

HTTP = {
    "url": "What to fetch; user:password@ is sent as HTTP Basic auth.",
    "method": "HTTP method, sent in upper case.",
    "headers": "Request headers; Content-Length and Transfer-Encoding are the client's.",
    "body": "Request body.",
    "expect_status": 'Good status codes: 200, "2xx" or "200-204"; any 2xx or 3xx by default.',
    "expect_body": "A substring the response body must contain.",
    "follow_redirects": "Follow redirects; when false a 3xx is judged as it is.",
    "max_redirects": "Redirects followed at most.",
    "tls_verify": "Verify the server certificate and host name.",
    "max_body": "Bytes read at most when looking for expect_body.",
    "show_query": "Show the URL's query values where the URL is shown or stored.",
}

TCP = {
    "host": "Host name or IP address (IPv6 without brackets); the port goes in port.",
    "port": "TCP port.",
    "send": "Sent after connecting.",
    "expect": "A substring the reply must contain.",
    "tls": "Speak TLS after connecting.",
    "tls_verify": "With tls, verify the server certificate and host name.",
    "max_read": "Bytes read at most when looking for expect.",
}

MAINTENANCE = {
    "components": "Which components, by id.",
    "start": "One-off: when the window opens.",
    "end": "One-off: when it closes; after start.",
    "cron": "Recurring: when each window opens.",
    "duration": "Recurring: how long each window lasts.",
    "timezone": "Recurring: the IANA zone cron is read in; UTC by default.",
    "title": "The name of the maintenance announced on the page.",
    "message": "Its body on the page.",
    "remind": "The page reminds subscribers before it starts.",
    "auto_start": "The page puts the maintenance in progress when it starts.",
    "auto_complete": "The page completes it when it ends.",
}

CHECK_TYPES = {"http": HTTP, "tcp": TCP}
