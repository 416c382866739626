"""Several `monitor run` nodes sharing one PostgreSQL database, for the cluster's tests."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .conftest import DaemonProcess, Target, free_port, write_config
from .fake_statuspage import FakeStatuspage

KEY_ENV = "STATUSPAGE_TEST_KEY"
URL_ENV = "MONITOR_DATABASE_URL"


@dataclass
class Node:
    name: str
    folder: Path
    port: int
    daemon: DaemonProcess

    def status(self) -> dict[str, Any]:
        url = f"http://127.0.0.1:{self.port}/status.json"
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]

    def cluster_nodes(self) -> int:
        """How many nodes this one sees (0 while it does not answer yet)."""
        try:
            return len(self.status()["cluster"]["nodes"])
        except OSError:
            return 0

    def healthz(self) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def metric(self, name: str) -> float | None:
        url = f"http://127.0.0.1:{self.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
        found = re.search(rf"^{name} (\S+)$", text, re.M)
        return float(found[1]) if found else None

    def metric_labels(self, name: str, **labels: str) -> float | None:
        """The value of the first series of `name` whose labels include `labels`."""
        url = f"http://127.0.0.1:{self.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
        for found in re.finditer(rf"^{name}(?:{{(.*)}})? (\S+)$", text, re.M):
            have = dict(re.findall(r'(\w+)="([^"]*)"', found[1] or ""))
            if all(have.get(k) == v for k, v in labels.items()):
                return float(found[2])
        return None

    def is_leader(self) -> bool:
        try:
            return self.metric("monitor_cluster_leader") == 1.0
        except OSError:
            return False


def node_config(
    folder: Path,
    name: str,
    port: int,
    target: Target,
    fake: FakeStatuspage,
    remote_id: str,
    *,
    lease: str = "2s",
    extra: str = "",
    location: str = "default",
    target_url: str | None = None,
    component: str = "",
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return write_config(
        folder,
        f"""
[monitor]
database = "monitor.db"
listen = "127.0.0.1:{port}"
[defaults]
interval = "1s"
timeout = "0.8s"
fail_after = 2
recover_after = 2
[publisher]
type = "statuspage"
url = "{fake.url}"
page_id = "page1"
api_key_env = "{KEY_ENV}"
rate_limit = 50
monitoring_for = "0s"
[cluster]
database_env = "{URL_ENV}"
node = "{name}"
location = "{location}"
lease = "{lease}"
{extra}
[[component]]
name = "Payment API"
id = "payments"
remote_id = "{remote_id}"
{component}
  [[component.check]]
  type = "http"
  name = "healthz"
  url = "{target_url or target.url}/pay"
""",
    )


def start_nodes(
    tmp: Path,
    count: int,
    daemons: Callable[..., DaemonProcess],
    url: str,
    target: Target,
    fake: FakeStatuspage,
    remote_id: str,
    *,
    urls: dict[str, str] | None = None,
    first: int = 0,
    **options: str,
) -> list[Node]:
    """`count` nodes named node-a, node-b, ...; `urls` gives a node its own database URL (a
    FaultProxy in front of the server, say)."""
    nodes = []
    for i in range(first, first + count):
        name = f"node-{chr(ord('a') + i)}"
        port = free_port()
        path = node_config(tmp / name, name, port, target, fake, remote_id, **options)
        env = {KEY_ENV: "test-key", URL_ENV: (urls or {}).get(name, url)}
        nodes.append(Node(name, tmp / name, port, daemons(path, env=env)))
    return nodes


def restart(node: Node, daemons: Callable[..., DaemonProcess], url: str) -> None:
    """Start `node`'s daemon again (after a kill), on the same folder and database."""
    env = {KEY_ENV: "test-key", URL_ENV: url}
    node.daemon = daemons(node.folder / "checks.toml", env=env)


def query(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Rows of `sql` on the shared database."""
    import asyncio

    import asyncpg

    async def run() -> list[tuple[Any, ...]]:
        conn = await asyncpg.connect(url, timeout=5)
        try:
            return [tuple(row) for row in await conn.fetch(sql, *args)]
        finally:
            await conn.close()

    return asyncio.run(run())


def leader_of(nodes: list[Node]) -> Node:
    """The one node that says it leads (waits for there to be exactly one)."""
    from .conftest import wait_for

    wait_for(lambda: sum(n.is_leader() for n in nodes) == 1, 30, "exactly one leader")
    (leader,) = [n for n in nodes if n.is_leader()]
    return leader


def requests_from(fake: FakeStatuspage, node: str, after: float = float("-inf")) -> int:
    return sum(1 for seen in fake.requests() if seen.node == node and seen.at > after)


def ours(fake: FakeStatuspage) -> list[dict[str, Any]]:
    return [i for i in fake.incidents() if i.get("metadata")]


def senders(fake: FakeStatuspage) -> set[str | None]:
    """The nodes that sent requests to the page."""
    return {seen.node for seen in fake.requests()}
