"""Where a probe comes from, told to its target: in cluster mode every HTTP probe carries the
node's name and location, so a target's logs can tell the nodes apart and an outage seen from
one place only can be traced to it.

Pure: a check in, a check out. The daemon applies it as it puts a check into its running set,
so the probes themselves (and a worker process) see an ordinary header.
"""

from __future__ import annotations

import dataclasses

from monitor.model import Check, HttpCheck

LOCATION_HEADER = "X-Monitor-Location"
NODE_HEADER = "X-Monitor-Node"
_OURS = {LOCATION_HEADER.lower(), NODE_HEADER.lower()}


def with_origin(check: Check, node: str, location: str) -> Check:
    """`check` with the node's location and name as headers, if it is an HTTP check; any header
    of the same name (in any case) set by the check itself gives way, so each goes once.

    Like the check's own headers, they are dropped after a redirect leaves the URL's origin.
    """
    if not isinstance(check, HttpCheck):
        return check
    own = tuple((name, value) for name, value in check.headers if name.lower() not in _OURS)
    headers = (*own, (LOCATION_HEADER, location), (NODE_HEADER, node))
    return dataclasses.replace(check, headers=headers)
