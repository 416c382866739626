"""Reading a config file: finding it, loading it, turning it into the model, and its secrets.

Every fault in a file is collected, not just the first, so one `monitor validate` is enough to
fix it. Each message reads `<file>: <where>: <key>: <problem>` and says what would be accepted.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import sys
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from monitor.config.components import read_component, read_defaults
from monitor.config.keys import SECTIONS
from monitor.config.reader import Reader
from monitor.config.sections import read_cluster, read_maintenance, read_monitor, read_publisher
from monitor.model import ClusterSettings, Config, PublisherSettings

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
        data = parse_toml(read_regular(path, CONFIG_FILE_LIMIT, "too big for a config file"))
    except FileNotFoundError:
        problem = f"no such file; pass -c PATH or set ${CONFIG_ENV}"
    except IsADirectoryError:
        problem = "is a folder; expected a TOML file"
    except NotRegularFile:
        problem = "cannot read: not a regular file; pass the path of a TOML file"
    except OSError as exc:
        problem = f"cannot read: {exc.strerror or exc}"
    except BadToml as exc:
        problem = str(exc)
    else:
        return parse_config(data, path)
    raise ConfigError(path, [f"{path}: {problem}"])


class BadToml(Exception):
    """Text that is not a TOML document we can hold; the message says why."""


def parse_toml(raw: bytes) -> dict[str, Any]:
    """The document in `raw`. Whatever the text, only BadToml comes out: hostile nesting and
    numbers blow up tomllib with RecursionError and ValueError, not TOMLDecodeError."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise BadToml(f"is not UTF-8 text (line {line}); save it as UTF-8") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadToml(f"invalid TOML: {exc}") from None
    except RecursionError:
        raise BadToml(
            "invalid TOML: nested too deeply (arrays, tables or dotted keys inside each other); "
            "flatten it"
        ) from None
    except ValueError:  # an integer longer than Python converts (sys.get_int_max_str_digits)
        limit = sys.get_int_max_str_digits()
        raise BadToml(f"invalid TOML: a number of over {limit} digits") from None
    except MemoryError:
        raise BadToml("invalid TOML: too big to hold in memory") from None


def parse_config(data: Mapping[str, Any], path: Path) -> Config:
    """Validates a parsed file; raises one ConfigError with every fault found."""
    reader = Reader(path)
    for key in data:
        if key not in SECTIONS:
            reader.unknown("top level", key, SECTIONS, noun="section")
    monitor = read_monitor(reader, reader.section(data, "monitor"))
    defaults, defaults_refused = read_defaults(reader, reader.section(data, "defaults"))
    publisher_table = reader.section(data, "publisher")
    publisher = read_publisher(reader, publisher_table)
    cluster = None
    if isinstance(data.get("cluster"), dict):
        cluster, publisher = read_cluster(reader, data["cluster"], publisher, publisher_table)
    elif "cluster" in data:
        reader.section(data, "cluster")  # says it must be a table
    if not data.get("component"):
        reader.error("top level", "component", "at least one [[component]] is required")
    ids: dict[str, tuple[str, int]] = {}  # component id -> (where, number)
    components = []
    for number, table in enumerate(reader.array("top level", data, "component"), 1):
        component = read_component(
            reader, number, table, ids, defaults, defaults_refused, cluster="cluster" in data
        )
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
        cluster=cluster,
    )


def read_api_key(
    publisher: PublisherSettings, environ: Mapping[str, str], *, path: Path | None = None
) -> str:
    """The publisher's secret, read at start-up: never stored in the config, never shown.

    `path` (the config file) only makes the messages match the ones from load_config.
    """

    secret = _Secret(path, "[publisher]", "api_key", f"the {publisher.type} API key", "an API key")
    if publisher.api_key_env:
        return secret.from_env(publisher.api_key_env, environ)
    if publisher.api_key_file:
        return secret.from_file(publisher.api_key_file)
    raise secret.refuse(
        "api_key_env", f"{publisher.type} needs an API key; set api_key_env or api_key_file"
    )


DATABASE_SCHEMES = ("postgresql://", "postgres://")


def read_database_url(cluster: ClusterSettings, environ: Mapping[str, str], *, path: Path) -> str:
    """The cluster's PostgreSQL URL, read at start-up like the API key: never stored in the
    config, never shown, not even in the message about a URL of the wrong kind.

    `path` (the config file) makes the messages match the ones from load_config.
    """
    secret = _Secret(path, "[cluster]", "database", "the PostgreSQL URL", "a database URL")
    if cluster.database_env:
        key, url = "database_env", secret.from_env(cluster.database_env, environ)
        source = f"environment variable {cluster.database_env}"
    elif cluster.database_file:
        key, url = "database_file", secret.from_file(cluster.database_file)
        source = str(cluster.database_file)
    else:
        raise secret.refuse(
            "database_env", "cluster mode needs a database; set database_env or database_file"
        )
    if not url.startswith(DATABASE_SCHEMES):
        scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]{0,30})://", url)  # a scheme shows nothing
        got = f"a {scheme[1]}:// URL" if scheme else "something else"
        raise secret.refuse(
            key, f"{source} must hold a postgresql:// or postgres:// URL, but holds {got}"
        )
    if not url.isprintable() or any(char.isspace() for char in url):
        raise secret.refuse(
            key,
            f"{source} must hold one URL on one line, with no spaces or control characters; "
            "percent-encode them (a space is %20)",
        )
    return url


class _Secret:
    """Reading one secret from the environment or a file, with messages that name the file,
    the section and the key, say how to fix it, and never hold the secret itself."""

    def __init__(self, path: Path | None, where: str, prefix: str, what: str, kind: str) -> None:
        self.path, self.where, self.what, self.kind = path, where, what, kind
        self.env_key, self.file_key = f"{prefix}_env", f"{prefix}_file"

    def refuse(self, key: str, problem: str) -> ConfigError:
        where = f"{self.path}: {self.where}" if self.path else self.where
        return ConfigError(self.path, [f"{where}: {key}: {problem}"])

    def from_env(self, name: str, environ: Mapping[str, str]) -> str:
        if secret := environ.get(name, "").strip():
            return secret
        state = "is empty" if name in environ else "is not set"
        raise self.refuse(
            self.env_key,
            f"environment variable {name} {state}; set it to {self.what}, or use {self.file_key}",
        )

    def from_file(self, file: Path) -> str:
        try:
            data = read_regular(file, KEY_FILE_LIMIT, f"not {self.kind}")
            secret = data.decode("utf-8").strip()
        except FileNotFoundError as exc:
            raise self.refuse(self.file_key, f"cannot read {file}: no such file") from exc
        except IsADirectoryError as exc:
            problem = f"cannot read {file}: is a folder; name the file that holds {self.what}"
            raise self.refuse(self.file_key, problem) from exc
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise self.refuse(self.file_key, f"cannot read {file}: {reason}") from exc
        except UnicodeDecodeError:
            # `from None`: the decode error holds the file's bytes, which are the secret.
            raise self.refuse(self.file_key, f"{file} is not UTF-8 text") from None
        if secret:
            return secret
        raise self.refuse(self.file_key, f"{file} is empty; write {self.what} into it")


CONFIG_FILE_LIMIT = 16 << 20  # far more than any config; enough to refuse /dev/zero
KEY_FILE_LIMIT = 64 << 10  # an API key or a URL is a line; anything bigger is the wrong file


class NotRegularFile(OSError):
    """A FIFO, a socket or a device where a file was expected."""


def read_regular(path: Path, limit: int, too_big: str) -> bytes:
    """A regular file's bytes. Anything else, or a file over `limit` bytes, is refused before
    reading: a FIFO would hang the command forever, a device like /dev/zero fill memory.

    `too_big` ends the message of the OSError for a file over the limit.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # a FIFO opens at once
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a folder")
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFile(0, "not a regular file")
        if info.st_size <= limit:
            data = handle.read(limit + 1)  # + 1: a file that grew since fstat is caught too
            if len(data) <= limit:
                return data
        raise OSError(0, f"over {_size(limit)}, {too_big}")


def _size(limit: int) -> str:
    return f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit >> 10} KiB"
