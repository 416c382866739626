"""Every config the project ships validates: a user copies them as they are."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import main
from monitor.config import load_config

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ["checks.toml", "docker/checks.toml", "deploy/cluster/checks.toml"]


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_config_validates(name: str) -> None:
    result = CliRunner().invoke(main, ["validate", "-c", str(ROOT / name)])
    assert result.exit_code == 0, result.output


def test_the_cluster_example_is_a_cluster_whose_url_is_not_in_the_file() -> None:
    config = load_config(ROOT / "deploy/cluster/checks.toml")
    assert config.cluster is not None
    assert config.cluster.database_env == "MONITOR_DATABASE_URL"
    text = (ROOT / "deploy/cluster/compose.yml").read_text()
    assert "MONITOR_DATABASE_URL" in text and "./checks.toml:/etc/monitor/checks.toml:ro" in text
    for node in ("monitor-a", "monitor-b", "monitor-c"):
        assert f'"--node", "{node}"' in text
