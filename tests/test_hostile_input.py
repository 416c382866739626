"""Hostile input in, clean output out: whatever a config file holds, every command answers with
a message naming the file (exit 2) or runs, never a traceback, a hang or a runaway read.

The property tests feed `monitor validate` random TOML built from the real keys and from random
ones, and raw random text, and hold it to exit 0 or 2.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import math
import os
import re
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from monitor import logs
from monitor.cli import main
from monitor.cli.common import BUG_ON_FILE
from monitor.config import ALLOWED_KEYS, ConfigError, parse_config
from monitor.config.urls import redact_url, redact_urls
from monitor.store import open_db, register_checks

from .conftest import Target, write_config

COMMANDS = (["validate"], ["check"], ["status"], ["history"], ["incidents"], ["export"])

ONE_CHECK = """
[monitor]
listen = ""
database = "monitor.db"
[[component]]
name = "Web"
  [[component.check]]
  type = "tcp"
  host = "127.0.0.1"
  port = 9
"""


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def assert_clean(result: Result, codes: tuple[int, ...] = (2,)) -> None:
    """The command ended on its own terms: an exit code, no exception of ours."""
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{type(result.exception).__name__}: {result.exception}\n{result.output}"
    )
    assert result.exit_code in codes, result.output
    assert "Traceback" not in result.output
    assert "inside the monitor, a bug" not in result.output, result.output


# -- files that cannot be read as a config ------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "x = " + "[" * 600 + "]" * 600,
        "x = " + "{a = " * 600 + "1" + "}" * 600,
        "x = [" + "{a = [" * 300 + "]}" * 300 + "]",
    ],
    ids=["arrays", "inline-tables", "both"],
)
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_deep_nesting_is_a_config_error(tmp_path: Path, text: str, command: list[str]) -> None:
    path = write_config(tmp_path, text)
    result = invoke(*command, "-c", str(path))
    assert_clean(result)
    assert result.output.strip() == (
        f"{path}: invalid TOML: nested too deeply (arrays, tables or dotted keys inside each "
        "other); flatten it"
    )


@pytest.mark.parametrize("text", ["x" + ".a" * 5000 + " = 1", "[x" + ".a" * 5000 + "]"])
def test_a_deep_dotted_key_is_an_unknown_section(tmp_path: Path, text: str) -> None:
    """tomllib makes its tables without recursing; nothing of ours recurses into them either."""
    path = write_config(tmp_path, text)
    result = invoke("validate", "-c", str(path))
    assert_clean(result)
    assert f"{path}: top level: x: unknown section; allowed: " in result.output


def test_an_integer_of_thousands_of_digits_is_a_config_error(tmp_path: Path) -> None:
    path = write_config(tmp_path, "[defaults]\nfail_after = " + "7" * 5000 + "\n")
    result = invoke("validate", "-c", str(path))
    assert_clean(result)
    assert result.output.strip() == f"{path}: invalid TOML: a number of over 4300 digits"


def test_text_that_is_not_utf8_is_named_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "checks.toml"
    path.write_bytes(b'[monitor]\nlisten = ""\ndatabase = "m\xffdb"\n')
    result = invoke("validate", "-c", str(path))
    assert_clean(result)
    assert result.output.strip() == f"{path}: is not UTF-8 text (line 3); save it as UTF-8"


def run_capped(*args: str) -> subprocess.CompletedProcess[str]:
    """`monitor ARGS` in a subprocess with 1 GiB of address space and a deadline: a command
    that reads without end fails the test instead of the machine."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=cap,
    )


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_device_is_refused_before_reading(command: list[str]) -> None:
    done = run_capped(*command, "-c", "/dev/zero")
    assert (done.returncode, done.stdout) == (2, ""), done.stderr
    assert done.stderr.strip() == (
        "/dev/zero: cannot read: not a regular file; pass the path of a TOML file"
    )


def test_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    """Opening a FIFO without a writer blocks forever; a subprocess, so a hang fails the test."""
    fifo = tmp_path / "checks.toml"
    os.mkfifo(fifo)
    done = run_capped("validate", "-c", str(fifo))
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"{fifo}: cannot read: not a regular file; pass the path of a TOML file"
    )


def test_a_file_over_16_mib_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "checks.toml"
    with path.open("wb") as file:  # sparse: no 16 MiB written
        file.truncate(16 * 1024 * 1024 + 1)
    result = invoke("validate", "-c", str(path))
    assert_clean(result)
    assert result.output.strip() == (f"{path}: cannot read: over 16 MiB, too big for a config file")


def test_a_file_of_exactly_16_mib_is_read(tmp_path: Path) -> None:
    path = tmp_path / "checks.toml"
    text = ONE_CHECK + "#" * (16 * 1024 * 1024 - len(ONE_CHECK)) + "\n"
    path.write_text(text[: 16 * 1024 * 1024 - 1] + "\n")
    assert path.stat().st_size == 16 * 1024 * 1024
    result = invoke("validate", "-c", str(path))
    assert_clean(result, (0,))


def test_a_bug_on_a_file_is_one_line_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever slips past the parsers: one line naming the file, exit 2. The validation is
    made to fail here, since no file is known to trip a bug any more."""

    def broken(*args: object) -> None:
        raise KeyError("port")

    monkeypatch.setattr("monitor.config.loader.parse_config", broken)
    path = write_config(tmp_path, ONE_CHECK)
    result = invoke("validate", "-c", str(path))
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    assert result.output.strip() == f"{path}: {BUG_ON_FILE.format('KeyError')}"


# -- random documents ---------------------------------------------------------------------------

SECTION_KEYS = {section: [*keys, "type", "name"] for section, keys in ALLOWED_KEYS.items()}
# Values that broke a parser once, or sit at a bound, by the kind of value a key takes.
EAST_3 = "\u0663"  # ARABIC-INDIC DIGIT THREE: a digit to str.isdigit and int()
HOSTILE: dict[str, list[object]] = {
    "duration": ["30s", "3000000d", "0s", "9" * 400 + "ms", "36500d", "36501d", f"{EAST_3}s"],
    "integer": [0, -1, 2, 1000, 1001, 65536, 2**63, 2**70, 10**30, -(10**30)],
    "number": [math.nan, math.inf, -math.inf, 1e308, 0.0, -0.0, 1e-300, 10**30],
    "size": ["9" * 400 + "GiB", "1.5MiB", "1GiB", "1.1GiB", 2**70, f"{EAST_3}KiB"],
    "url": [
        "https://user:se/cretPW@host/",
        "https://user:p@ssPW@host/?token=abc",
        "http://h:" + "9" * 5000 + "/",
        "http://h:\u00b2/",
        f"http://h:{EAST_3}/",
        "http://[::1%25\u00b2]:80/",
        "ftp://admin:pw@h/",
        "http://h/#\x00",
    ],
    "cron": [
        "0 2 * * \u00b2",
        f"0 2 * * 1-{EAST_3}",
        "\u00b2\u00b2 2 * * sun",
        "0 2 * * " + "9" * 5000,
        "99999999999999999999 * * * *",
        "0 0 31 2 *",
        "0 0 30 2 mon",
    ],
    "time": [
        "9999-12-31T23:00:00-02:00",
        "0001-01-01T00:30:00+01:00",
        dt.datetime(9999, 12, 31, 23, tzinfo=dt.timezone(dt.timedelta(hours=-2))),
        dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1))),
    ],
    "text": [
        "",
        "\x00",
        "/dev/zero",
        "a\x00b",
        "../../../../etc/passwd",
        "127.0.0.1:" + "9" * 5000,
        f"127.0.0.1:{EAST_3}",
        "[::1]:0",
        "{component!r:>{9999}}",
        "{component:>999999999}",
        "{0}",
        "../../zoneinfo/UTC",
        f"{EAST_3}xx",
        "2xx",
    ],
}
KIND = {
    **dict.fromkeys(
        ["interval", "timeout", "degraded_over", "retention", "monitoring_for"], "duration"
    ),
    **dict.fromkeys(["maintenance_poll", "duration"], "duration"),
    **dict.fromkeys(["fail_after", "recover_after", "flaky_window", "flap_changes"], "integer"),
    **dict.fromkeys(["flap_window", "max_redirects", "port", "concurrency", "workers"], "integer"),
    **dict.fromkeys(["rate_limit", "flaky_enter", "flaky_exit"], "number"),
    **dict.fromkeys(["max_body", "max_read"], "size"),
    "url": "url",
    "cron": "cron",
    **dict.fromkeys(["start", "end"], "time"),
}
text = st.text(
    st.characters(blacklist_categories=("Cs",)),  # TOML cannot hold lone surrogates
    max_size=30,
)
scalars = st.one_of(
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**200), max_value=2**200),
    st.floats(),
    text,
    st.datetimes(
        timezones=st.none() | st.just(dt.UTC),
        min_value=dt.datetime(1, 1, 1),
        max_value=dt.datetime(9999, 12, 31),
    ),
    st.dates(),
    st.times(),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)


def value_for(key: str) -> st.SearchStrategy[object]:
    """Mostly the hostile values of the key's kind; any value at all now and then."""
    hostile = st.sampled_from(HOSTILE[KIND.get(key, "text")])
    return st.one_of(hostile, hostile, st.sampled_from(HOSTILE["text"]), values)


def table(section: str, base: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """`base` (a valid table) with some of `section`'s keys, and random ones, set at random."""
    real = st.sampled_from(SECTION_KEYS[section]).flatmap(
        lambda key: st.tuples(st.just(key), value_for(key))
    )
    pairs = st.lists(st.one_of(real, real, real, st.tuples(text, values)), max_size=6)
    return pairs.map(lambda extra: {**base, **dict(extra)})


HTTP = {"type": "http", "url": "http://127.0.0.1:9/"}
TCP = {"type": "tcp", "host": "127.0.0.1", "port": 9}
documents = st.fixed_dictionaries(
    {
        "monitor": table("monitor", {"listen": ""}),
        "component": st.lists(
            st.fixed_dictionaries(
                {
                    "name": st.sampled_from(["Web", "DB"]) | text,
                    "check": st.lists(
                        table("component.check (http)", HTTP) | table("component.check (tcp)", TCP),
                        min_size=1,
                        max_size=3,
                    )
                    | values,
                }
            ).flatmap(lambda base: table("component", base)),
            max_size=3,
        )
        | values,
    },
    optional={
        "defaults": table("defaults", {}),
        "publisher": table("publisher", {}) | values,
        "maintenance": st.lists(
            table("maintenance", {"components": ["web"], "cron": "0 2 * * sun", "duration": "1h"})
            | table("maintenance", {"components": ["web"], "start": "2026-01-01T00:00:00Z"}),
            max_size=2,
        )
        | values,
    },
).flatmap(lambda known: st.dictionaries(text, values, max_size=2).map(lambda x: {**x, **known}))

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def validate_text(data: bytes) -> Result:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "checks.toml"
        path.write_bytes(data)
        return invoke("validate", "-c", str(path))


def test_the_hostile_values_are_aimed_at_real_keys() -> None:
    """KIND names real keys only: a renamed key would quietly lose its hostile values."""
    assert set(KIND) <= {key for keys in SECTION_KEYS.values() for key in keys}


@FAST
@given(documents)
def test_validate_answers_any_document_cleanly(document: dict[str, Any]) -> None:
    try:
        written = tomli_w.dumps(document)
    except (TypeError, ValueError):  # not every value has a TOML form
        assume(False)
    assert_clean(validate_text(written.encode()), (0, 2))


@FAST
@given(st.text(max_size=400) | st.binary(max_size=400))
def test_validate_answers_any_text_cleanly(raw: str | bytes) -> None:
    data = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")
    assert_clean(validate_text(data), (0, 2))


def test_the_random_documents_reach_the_value_parsers() -> None:
    """The strategy is worth something only if it can write a valid file and a bad value."""
    valid = {"component": [{"name": "Web", "check": [{"type": "tcp", "host": "h", "port": 1}]}]}
    assert_clean(validate_text(tomli_w.dumps(valid).encode()), (0,))


# -- numbers past their bounds ------------------------------------------------------------------

SECTION_OF = {"monitor": "monitor", "publisher": "publisher", "maintenance": "maintenance"}


def with_key(key: str, value: object) -> dict[str, Any]:
    """A valid document with `key` set to `value` in the first section that takes it."""
    document: dict[str, Any] = {
        "monitor": {"listen": ""},
        "defaults": {},
        "publisher": {},
        "component": [{"name": "Web", "check": [{"type": "tcp", "host": "h", "port": 9}]}],
        "maintenance": [{"components": ["web"], "cron": "0 2 * * sun", "duration": "1h"}],
    }
    for section in ("monitor", "publisher", "maintenance", "defaults"):
        if key in ALLOWED_KEYS[section]:
            table = document[section]
            (table[0] if isinstance(table, list) else table)[key] = value
            return document
    raise AssertionError(f"{key} is in none of the sections")


def refusal(key: str, value: object) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(with_key(key, value), Path("checks.toml"))
    mine = [line for line in caught.value.errors if f": {key}: " in line]
    assert mine, caught.value.errors
    return mine[0]


def kind(name: str) -> list[str]:
    return sorted(key for key, each in KIND.items() if each == name)


@pytest.mark.parametrize("key", kind("duration"))
def test_every_duration_has_a_maximum_that_validate_names(key: str) -> None:
    assert re.search(r": must be at most \d+[dhms], got \"3000000d\"$", refusal(key, "3000000d"))
    assert "must be at most" in refusal(key, "9" * 400 + "ms")


@pytest.mark.parametrize("key", kind("integer"))
@pytest.mark.parametrize("value", [10**30, 2**70, 2**63, -(2**63)])
def test_every_integer_has_bounds(key: str, value: int) -> None:
    # workers also takes "auto", and says so
    assert re.search(
        r': must be (?:"auto" or an integer )?-?\d+-\d+, got -?\d+', refusal(key, value)
    )


@pytest.mark.parametrize("key", kind("number"))
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_no_number_takes_nan_or_infinity(key: str, value: float) -> None:
    assert f": {key}: must be a finite number from " in refusal(key, value)
    assert refusal(key, value).endswith(f"got {value!r}")


@pytest.mark.parametrize("key", kind("number"))
def test_numbers_have_an_upper_bound(key: str) -> None:
    assert re.search(r": must be from [\d.]+ to \d+, like .*, got 1e\+308$", refusal(key, 1e308))


@pytest.mark.parametrize("key", kind("size"))
@pytest.mark.parametrize("value", [2**70, "9" * 400 + "GiB", "1.1GiB"])
def test_every_size_has_a_maximum(key: str, value: object) -> None:
    assert "from 1 byte to 1GiB, got " in refusal(key, value)


def test_run_refuses_an_interval_of_thousands_of_years(tmp_path: Path) -> None:
    """It used to pass validate and fail in `run` with "ValueError: year 10240"."""
    path = write_config(tmp_path, ONE_CHECK + '  interval = "3000000d"\n  timeout = "1s"\n')
    done = run_capped("run", "-c", str(path))
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        f'{path}: component "Web" check 1 (tcp): interval: must be at most 1d, got "3000000d"'
    )


# -- URLs shown without secrets -----------------------------------------------------------------

LEAKY_URLS = [  # (as written, as shown): every password and query value holds "PW"
    ("https://user:p@ssPW@host/x", "https://user:***@host/x"),
    ("https://user:se/cretPW@host/", "https://user:***@host/"),
    ("https://user:se?cretPW@host/", "https://user:***@host/"),
    ("https://user:se#cretPW@host/", "https://user:***@host/"),
    (
        "https://admin:pw%40PW@status.example.com/api/v1",
        "https://admin:***@status.example.com/api/v1",
    ),
    ("HTTPS://u:PW@[::1]:8443/x", "HTTPS://u:***@[::1]:8443/x"),
    ("https://ghp_tokenPW@github.com/", "https://***@github.com/"),
    ("https://:PW@host/", "https://***@host/"),
    ("https://host/x?token=s3cr3tPW&page=2PW", "https://host/x?token=***&page=***"),
    ("https://host/x?s3cr3tPW", "https://host/x?***"),
    ("https://host/#access_token=PW", "https://host/#***"),
]
HARMLESS_URLS = ["https://host/@alice", "https://host:8080/a@b/c", "http://h:8080/", "h:1", ""]


@pytest.mark.parametrize(("url", "shown"), LEAKY_URLS)
def test_redact_url_hides_passwords_and_query_values(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert redact_urls(f"GET {url} failed") == f"GET {shown} failed"


@pytest.mark.parametrize("url", HARMLESS_URLS)
def test_redact_url_leaves_urls_without_secrets_alone(url: str) -> None:
    assert redact_url(url) == url


def test_show_query_keeps_the_query() -> None:
    url = "https://user:pw@host/x?token=abc&page=2#top"
    assert redact_url(url, show_query=True) == "https://user:***@host/x?token=abc&page=2#top"


@pytest.mark.parametrize(("url", "shown"), LEAKY_URLS)
def test_log_lines_hide_passwords_and_query_values(url: str, shown: str) -> None:
    """Through a real logger and handler, as the daemon logs: the message and its exception."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(logs.Redactor())
    logger = logging.getLogger(f"test.redaction.{id(stream)}")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        raise RuntimeError(f"cannot fetch {url}")
    except RuntimeError:
        logger.exception("probe of %s failed", url)
    written = stream.getvalue()
    assert f"probe of {shown} failed" in written
    assert f"RuntimeError: cannot fetch {shown}" in written
    assert "PW" not in written


def test_validate_never_prints_a_password(tmp_path: Path) -> None:
    """The ok line of a valid file and the errors of an invalid one, over every leaky URL."""
    checks = "".join(
        f'  [[component.check]]\n  type = "http"\n  name = "c{number}"\n  url = "{url}"\n'
        for number, (url, _) in enumerate(LEAKY_URLS)
    )
    for extra in ("", '  interval = "3000000d"\n'):
        path = write_config(tmp_path, f'[[component]]\nname = "Web"\n{checks}{extra}')
        result = invoke("validate", "-c", str(path))
        assert_clean(result, (0, 2))
        assert "PW" not in result.output, result.output


def test_check_names_and_stored_targets_hide_secrets(tmp_path: Path) -> None:
    """A default name is host and path; the database keeps the URL as shown, its query's values
    only with show_query."""
    document = {
        "component": [
            {
                "name": "Web",
                "check": [
                    {"type": "http", "url": "https://user:p@ssPW@host/x?token=PW"},
                    {"type": "http", "url": "https://host/y?token=abc", "show_query": True},
                ],
            }
        ]
    }
    config = parse_config(document, tmp_path / "checks.toml")
    assert [check.name for check in config.components[0].checks] == ["host/x", "host/y"]
    db = open_db(tmp_path / "monitor.db")
    try:
        register_checks(db, config.components)
        stored = [row[0] for row in db.execute("SELECT target FROM checks ORDER BY id")]
    finally:
        db.close()
    assert stored == ["https://user:***@host/x?token=***", "https://host/y?token=abc"]


def test_check_output_hides_secrets(target: Target, tmp_path: Path) -> None:
    """`monitor check` probes with the URL as written (the password and the query arrive) and
    prints neither, as a table or as JSON."""
    url = f"http://user:p@ssPW@127.0.0.1:{target.port}/x?token=PW"
    path = write_config(
        tmp_path,
        f'[monitor]\nlisten = ""\n[[component]]\nname = "Web"\n'
        f'  [[component.check]]\n  type = "http"\n  url = "{url}"\n',
    )
    for args in ([], ["--json"]):
        result = invoke("check", "-c", str(path), *args)
        assert_clean(result, (0,))
        assert "127.0.0.1" in result.output
        assert "PW" not in result.output, result.output
    assert target.count("/x") == 2
