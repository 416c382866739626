"""Reading a config file: finding it, loading it, turning it into the model, and its secret.

Every fault in a file is collected, not just the first, so one `monitor validate` is enough to
fix it. Each message reads `<file>: <where>: <key>: <problem>` and says what would be accepted.
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from monitor.config.components import read_component, read_defaults
from monitor.config.keys import SECTIONS
from monitor.config.reader import Reader
from monitor.config.sections import read_maintenance, read_monitor, read_publisher
from monitor.model import Config, PublisherSettings

CONFIG_ENV = "MONITOR_CONFIG"
DEFAULT_CONFIG_PATH = Path("checks.toml")


class ConfigError(Exception):
    """Everything wrong with one config file, one message a line."""

    def __init__(self, path: Path | None, errors: Sequence[str]) -> None:
        super().__init__("\n".join(errors))
        self.path = path
        self.errors = list(errors)

    def __str__(self) -> str:
        return "\n".join(self.errors)


def resolve_config_path(option: str | None, environ: Mapping[str, str]) -> Path:
    """`-c PATH`, else $MONITOR_CONFIG, else ./checks.toml; kept as given so messages match."""
    return Path(option or environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH)


def load_config(path: Path) -> Config:
    """Reads and validates a file; an unreadable file or bad TOML is one message naming it."""
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except FileNotFoundError:
        problem = f"no such file; pass -c PATH or set ${CONFIG_ENV}"
    except IsADirectoryError:
        problem = "is a folder; expected a TOML file"
    except OSError as exc:
        problem = f"cannot read: {exc.strerror or exc}"
    except UnicodeDecodeError:
        problem = "is not UTF-8 text"
    except tomllib.TOMLDecodeError as exc:
        problem = f"invalid TOML: {exc}"
    else:
        return parse_config(data, path)
    raise ConfigError(path, [f"{path}: {problem}"])


def parse_config(data: Mapping[str, Any], path: Path) -> Config:
    """Validates a parsed file; raises one ConfigError with every fault found."""
    reader = Reader(path)
    for key in data:
        if key not in SECTIONS:
            reader.unknown("top level", key, SECTIONS, noun="section")
    monitor = read_monitor(reader, reader.section(data, "monitor"))
    defaults, defaults_refused = read_defaults(reader, reader.section(data, "defaults"))
    publisher = read_publisher(reader, reader.section(data, "publisher"))
    if not data.get("component"):
        reader.error("top level", "component", "at least one [[component]] is required")
    ids: dict[str, tuple[str, int]] = {}  # component id -> (where, number)
    components = []
    for number, table in enumerate(reader.array("top level", data, "component"), 1):
        component = read_component(reader, number, table, ids, defaults, defaults_refused)
        if component is not None:
            components.append(component)
    maintenance = []
    for number, table in enumerate(reader.array("top level", data, "maintenance"), 1):
        window = read_maintenance(reader, number, table, list(ids))
        if window is not None:
            maintenance.append(window)
    if reader.errors:
        raise ConfigError(path, reader.errors)
    return Config(
        path=path,
        monitor=monitor,
        publisher=publisher,
        components=tuple(components),
        maintenance=tuple(maintenance),
    )


def read_api_key(
    publisher: PublisherSettings, environ: Mapping[str, str], *, path: Path | None = None
) -> str:
    """The publisher's secret, read at start-up: never stored in the config, never shown.

    `path` (the config file) only makes the messages match the ones from load_config.
    """

    def refuse(key: str, problem: str) -> ConfigError:
        where = f"{path}: [publisher]" if path else "[publisher]"
        return ConfigError(path, [f"{where}: {key}: {problem}"])

    if publisher.api_key_env:
        name = publisher.api_key_env
        if secret := environ.get(name, "").strip():
            return secret
        state = "is empty" if name in environ else "is not set"
        raise refuse(
            "api_key_env",
            f"environment variable {name} {state}; set it to the "
            f"{publisher.type} API key, or use api_key_file",
        )
    if publisher.api_key_file:
        file = publisher.api_key_file
        try:
            secret = _read_key_file(file)
        except FileNotFoundError as exc:
            raise refuse("api_key_file", f"cannot read {file}: no such file") from exc
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise refuse("api_key_file", f"cannot read {file}: {reason}") from exc
        except UnicodeDecodeError:
            # `from None`: the decode error holds the file's bytes, which are the secret.
            raise refuse("api_key_file", f"{file} is not UTF-8 text") from None
        if secret:
            return secret
        raise refuse("api_key_file", f"{file} is empty; write the {publisher.type} API key into it")
    raise refuse(
        "api_key_env", f"{publisher.type} needs an API key; set api_key_env or api_key_file"
    )


KEY_FILE_LIMIT = 64 * 1024  # an API key is a line; anything bigger is the wrong file


def _read_key_file(file: Path) -> str:
    """A regular file's text; a FIFO, a device or a huge file is refused before reading (one
    would hang start-up, the other fill memory)."""
    fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(0, "not a regular file")
        if info.st_size > KEY_FILE_LIMIT:
            raise OSError(0, f"over {KEY_FILE_LIMIT // 1024} KiB, not an API key")
        return handle.read(KEY_FILE_LIMIT + 1).decode("utf-8").strip()
