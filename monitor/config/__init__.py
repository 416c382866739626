"""Reads checks.toml into the model, refusing anything it does not understand.

Pure: the standard library, our model, and APScheduler's cron parser used only as a validator.
Every fault in a file is collected, not just the first, so one `monitor validate` is enough to
fix it. Each message reads `<file>: <where>: <key>: <problem>` and says what would be accepted.

Where things are, in the order data flows:

- values.py, network.py (with hosts.py), schedule.py: one parser per kind of value;
- keys.py: every key of every section with its parser; add a key there;
- reader.py: the Reader that walks one file and collects its faults;
- sections.py, components.py: one reader per section, for what spans several keys;
- loader.py: finding, loading and parsing a file, and reading the secrets (the publisher's API
  key, the cluster's database URL) at start-up.
"""

from monitor.config.keys import ALLOWED_KEYS, PUBLISHER_TYPES, PUBLISHER_URLS
from monitor.config.loader import (
    CONFIG_ENV,
    DEFAULT_CONFIG_PATH,
    ConfigError,
    load_config,
    parse_config,
    read_api_key,
    read_database_url,
    resolve_config_path,
)
from monitor.config.values import (
    DURATION_FORM,
    Invalid,
    Parser,
    cluster_name,
    parse_duration,
    slugify,
)

__all__ = [
    "ALLOWED_KEYS",
    "CONFIG_ENV",
    "DEFAULT_CONFIG_PATH",
    "DURATION_FORM",
    "PUBLISHER_TYPES",
    "PUBLISHER_URLS",
    "ConfigError",
    "Invalid",
    "Parser",
    "cluster_name",
    "load_config",
    "parse_config",
    "parse_duration",
    "read_api_key",
    "read_database_url",
    "resolve_config_path",
    "slugify",
]
