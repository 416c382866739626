"""monitor report: a database with known history, the HTML page made of it read back (its numbers
against `monitor history --json` and `monitor incidents --json`, nothing external, every text
escaped), and the page in headless Chromium (a screenshot, no console message, no sideways
scroll on a phone, light and dark)."""

from __future__ import annotations

import datetime as dt
import json
import random
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from monitor.cli import main
from monitor.config import load_config
from monitor.history import N_BUCKETS, latency_by_day, percentile, percentiles
from monitor.model import check_key
from monitor.state import ComponentTransition, Status
from monitor.store import Store, heartbeat, register_checks, save_transition
from monitor.writer import Writer

from .conftest import require_tool, write_config

D0 = dt.datetime(2026, 3, 2, tzinfo=dt.UTC).timestamp()
H, DAY = 3600.0, 86400.0
WINDOW = ["--since", "2026-03-02", "--until", "2026-03-05"]
OP, DEG, PART, MAJ = (
    Status.OPERATIONAL,
    Status.DEGRADED_PERFORMANCE,
    Status.PARTIAL_OUTAGE,
    Status.MAJOR_OUTAGE,
)
HOSTILE_NAME = '<script>alert("x")</script> & "q"'
HOSTILE_REASON = "home: </td><img src=x onerror=alert(1)> &amp;"
CONFIG = """
[monitor]
database = "m.db"
listen = ""
retention = "3650d"
[[component]]
name = "API"
  [[component.check]]
  type = "http"
  name = "home"
  url = "http://127.0.0.1:1/"
[[component]]
name = 'NAME'
  [[component.check]]
  type = "http"
  name = "home"
  url = "http://127.0.0.1:1/"
"""


def known_history(tmp_path: Path, name: str = "Web") -> tuple[Path, str]:
    """Three days. api: an hour of major outage on day 1, half an hour degraded on day 2, and
    probes at 4 ms (day 1: 200 ok, 5 failed), 40 and 400 ms (day 2: 90 and 10), none on day 3.
    The second component: a partial outage from day 3 23:00 still going at the end, and 20
    probes at 150 ms a day. Returns the config and the second component's id."""
    path = write_config(tmp_path, CONFIG.replace("NAME", name))
    config = load_config(path)
    api, other = config.components
    writer = Writer(tmp_path / "m.db", flush_interval=0.01)
    writer.start()
    ids = writer.call(lambda db: register_checks(db, config.components)).result(5)
    for component, at, before, after, reason in (
        ("api", D0 + 6 * H, OP, MAJ, "home: HTTP 500"),
        ("api", D0 + 7 * H, MAJ, OP, "all checks pass"),
        ("api", D0 + DAY + 10 * H, OP, DEG, "home: slow"),
        ("api", D0 + DAY + 10.5 * H, DEG, OP, "all checks pass"),
        (other.id, D0 + 2 * DAY + 23 * H, OP, PART, HOSTILE_REASON),
    ):
        transition = ComponentTransition(at, before, after, reason)
        writer.submit(save_transition(component, None, transition))
    home, web = ids[check_key(api, api.checks[0])], ids[check_key(other, other.checks[0])]
    probes = [(D0 + 60 * n, home, 0, 4000) for n in range(200)]
    probes += [(D0 + 20000 + 60 * n, home, 2, 10_000_000) for n in range(5)]
    probes += [(D0 + DAY + 60 * n, home, 0, 40_000 if n < 90 else 400_000) for n in range(100)]
    probes += [(D0 + d * DAY + 600 * n, web, 0, 150_000) for d in range(3) for n in range(20)]
    for at, check, outcome, latency_us in sorted(probes):
        code = 200 if outcome == 0 else None
        writer.submit((int(at * 1000), check, outcome, latency_us, code, None, None))

    def runs(db):  # type: ignore[no-untyped-def]
        with db.conn:
            heartbeat(db, D0, D0 + 3 * DAY)

    writer.call(runs).result(5)
    writer.stop()
    return path, other.id


def command(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def report(config: Path, out: Path, *more: str) -> Page:
    command("report", "-c", str(config), *WINDOW, *more, "-o", str(out))
    return Page.of(out.read_text())


class Page(HTMLParser):
    """The page as the tags with their attributes, each with the component section it is in,
    and the text of each section and each tag's own text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str], str | None]] = []
        self.texts: dict[str | None, list[str]] = {}
        self.open: list[tuple[str, str | None]] = []
        self.raw = ""

    @classmethod
    def of(cls, text: str) -> Page:
        page = cls()
        page.raw = text
        page.feed(text)
        page.close()
        return page

    @property
    def section(self) -> str | None:
        return self.open[-1][1] if self.open else None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        inside = json.loads(values["data-component"]) if "data-component" in values else None
        self.tags.append((tag, values, inside or self.section))
        if tag not in ("meta", "br", "img", "input", "link", "hr"):  # no end tag to come
            self.open.append((tag, inside or self.section))

    def handle_endtag(self, tag: str) -> None:
        while self.open and self.open.pop()[0] != tag:
            pass

    def handle_data(self, data: str) -> None:
        self.texts.setdefault(self.section, []).append(data)

    def find(self, component: str | None, **attrs: str) -> list[dict[str, Any]]:
        """The `data-` values (parsed: JSON, but a table cell's label) of the tags in a
        section with these attributes, and their title."""
        return [
            {
                k[5:]: json.loads(v)
                for k, v in values.items()
                if k.startswith("data-") and k != "data-label"
            }
            | {"title": values.get("title")}
            for _, values, inside in self.tags
            if inside == component and all(values.get(k) == v for k, v in attrs.items())
        ]

    def text(self, component: str | None) -> str:
        return " ".join(self.texts.get(component, []))


def test_the_page_shows_the_numbers_of_history_and_incidents_json(tmp_path: Path) -> None:
    config, web = known_history(tmp_path)
    page = report(config, tmp_path / "report.html")
    history = json.loads(command("history", "-c", str(config), *WINDOW, "--json"))
    incidents = json.loads(command("incidents", "-c", str(config), *WINDOW, "--json"))
    assert [c["id"] for c in history["components"]] == ["api", web]
    for component in history["components"]:
        cid = component["id"]
        (shown,) = [s for s in page.find(cid, **{"class": "component"})]
        assert shown == {
            "component": cid,
            "uptime": component["uptime"],
            "success-ratio": component["success_ratio"],
            "downtime-seconds": component["downtime_seconds"],
            "incidents": component["incidents"],
            "mttr-seconds": component["mttr_seconds"],
            "probes": component["probes"],
            **component["latency_ms"],
            "title": None,
        }
        assert f"{component['uptime'] * 100:.3f}%" in page.text(cid), "rounded for people"
        days = [d for d in page.find(cid) if "date" in d and "incidents" in d]
        assert [(d["date"], d["uptime"], d["worst-status"]) for d in days] == [
            (d["date"], d["uptime"], d["worst_status"]) for d in component["days"]
        ]
        columns = page.find(cid, **{"class": "col"})
        assert [(c["date"], c["p50"], c["p95"], c["p99"]) for c in columns] == [
            (d["date"], *d["latency_ms"].values()) for d in component["days"]
        ]
        rows = [d for d in page.find(cid) if "duration-seconds" in d]
        assert [(r["start"], r["end"], r["duration-seconds"], r["worst-status"]) for r in rows] == [
            (i["start"], i["end"], i["duration_seconds"], i["worst_status"])
            for i in reversed(incidents["incidents"])
            if i["component"] == cid
        ]
        if cid == "api":  # and the documents hold the truth
            assert [d["incidents"] for d in days] == [1, 1, 0]
            assert component["probes"] == 305 and component["success_ratio"] == 0.983607
            assert [tuple(c[p] for p in ("p50", "p95", "p99")) for c in columns] == [
                (5.0, 5.0, 5.0),
                (50.0, 500.0, 500.0),
                (None, None, None),
            ]
            assert [d["uptime"] for d in days] == [round(23 / 24, 6), round(23.5 / 24, 6), 1.0]
            assert "06:00 to 2026-03-02 07:00, major outage: home: HTTP 500" in days[0]["title"]
        else:
            assert [d["incidents"] for d in days] == [0, 0, 1]
            assert rows[0]["end"] is None and "ongoing" in page.text(cid)
    assert page.find(None, **{"class": "component"}) == []


def test_the_days_add_up_to_the_window(tmp_path: Path) -> None:
    """Per-day latency: each rollup counts on one day, so the days sum to the window's."""
    config, _ = known_history(tmp_path)
    store = Store.open(tmp_path / "m.db")
    try:
        ids = list(store.check_ids().values())
        tokyo = ZoneInfo("Asia/Tokyo")
        for hourly in (True, False):
            window = store.rollup(ids, D0, D0 + 3 * DAY, hourly)[4]
            days = latency_by_day(store.latency_series(ids, D0, D0 + 3 * DAY, hourly), D0,
                                  D0 + 3 * DAY, tokyo)  # fmt: skip
            assert len(days) == 4  # the window touches four Tokyo days
            assert [sum(col) for col in zip(*days, strict=True)] == window
    finally:
        store.close()


@pytest.mark.parametrize(
    ("starts", "expected"),
    [
        ([D0 - 3 * H], [1, 0, 0]),  # before the window: its first day
        ([D0 - 9 * H, D0 + 14 * H], [2, 0, 0]),  # Tokyo's 2026-03-02 runs 15:00Z to 15:00Z
        ([D0 + 15 * H], [0, 1, 0]),
        ([D0 + 47 * H, D0 + 99 * H], [0, 0, 2]),  # after the last day start: the last day
    ],
)
def test_latency_by_day_puts_each_rollup_on_its_day(
    starts: list[float], expected: list[int]
) -> None:
    series = [(start, [1] + [0] * (N_BUCKETS - 1)) for start in starts]
    days = latency_by_day(series, D0, D0 + 2 * DAY, ZoneInfo("Asia/Tokyo"))
    assert [day[0] for day in days] == expected and all(sum(d) == d[0] for d in days)


def test_the_page_needs_nothing_from_anywhere(tmp_path: Path) -> None:
    config, _ = known_history(tmp_path)
    page = report(config, tmp_path / "report.html")
    tags = {tag for tag, _, _ in page.tags}
    assert not tags & {"script", "link", "img", "iframe", "object", "embed", "video", "audio"}
    for _, values, _ in page.tags:
        for name in ("src", "href", "xlink:href", "srcset", "action", "poster", "background"):
            assert values.get(name, "#").startswith("#"), (name, values)
    assert "@import" not in page.raw and page.raw.count("url(") == page.raw.count("url(data:")
    (csp,) = [
        v["content"] for t, v, _ in page.tags if v.get("http-equiv") == "Content-Security-Policy"
    ]
    assert csp.startswith("default-src 'none';")
    stdout = command("report", "-c", str(config), *WINDOW, "-o", "-")
    assert Page.of(stdout).find("api", **{"class": "component"}) == page.find(
        "api", **{"class": "component"}
    )


def test_every_text_is_escaped(tmp_path: Path) -> None:
    config, hostile = known_history(tmp_path, HOSTILE_NAME)
    page = report(config, tmp_path / "report.html")
    assert {"script", "img"}.isdisjoint(tag for tag, _, _ in page.tags)
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &quot;q&quot;" in page.raw
    assert HOSTILE_NAME in page.text(hostile) and HOSTILE_NAME in page.text(None)
    assert HOSTILE_REASON in page.text(hostile), "a reason is shown as it was said"
    (last_day,) = [d for d in page.find(hostile) if d.get("date") == "2026-03-04" and "uptime" in d]
    assert HOSTILE_REASON in last_day["title"]


def test_a_report_that_cannot_be_written_exits_2(tmp_path: Path) -> None:
    config, _ = known_history(tmp_path)
    out = tmp_path / "no" / "such" / "folder" / "report.html"
    result = CliRunner().invoke(main, ["report", "-c", str(config), "-o", str(out)])
    assert result.exit_code == 2 and "cannot write the report" in result.stderr
    assert not out.parent.exists()
    assert CliRunner().invoke(main, ["report", "-c", str(config), "nope", "-o", "-"]).exit_code == 2


CHROMIUM = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
    "--enable-logging=stderr", "--v=0",
]  # fmt: skip
# Reads the report in frames of a phone's width, light and dark, and a copy made to overflow
# and to ask for an image: the control that shows the measure and the log can see a fault.
FRAMES = """<!doctype html><html><body>
<iframe id="light" src="report.html" width="390" height="844"></iframe>
<iframe id="dark" src="report.html" width="390" height="844" style="color-scheme:dark"></iframe>
<iframe id="control" src="control.html" width="390" height="844"></iframe>
<script>addEventListener("load", () => {
  const out = {};
  for (const frame of document.querySelectorAll("iframe")) {
    const w = frame.contentWindow, root = w.document.documentElement;
    out[frame.id] = {
      width: w.innerWidth, scroll: root.scrollWidth, client: root.clientWidth,
      background: w.getComputedStyle(w.document.body).backgroundColor,
      fetched: w.performance.getEntriesByType("resource").length,
      days: w.document.querySelectorAll(".day").length,
    };
  }
  document.documentElement.dataset.out = JSON.stringify(out);
});</script></body></html>"""


def test_chromium_shows_it_without_errors_on_a_desktop_and_a_phone(tmp_path: Path) -> None:
    chromium = require_tool("chromium", "chromium")
    config, _ = known_history(tmp_path)
    page = tmp_path / "report.html"
    report(config, page)
    (tmp_path / "control.html").write_text(
        page.read_text().replace(
            "</body>", '<div style="width:900px">wide</div><img src="http://127.0.0.1:9/x.png">'
        )
    )
    (tmp_path / "frames.html").write_text(FRAMES)
    png = tmp_path / "report.png"
    runs = {
        "shot": [f"--screenshot={png}", "--window-size=1200,1600", page.as_uri()],
        "dom": [
            "--allow-file-access-from-files",
            "--dump-dom",
            (tmp_path / "frames.html").as_uri(),
        ],
    }
    procs = {
        name: subprocess.Popen(
            [chromium, *CHROMIUM, f"--user-data-dir={tmp_path / name}", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for name, args in runs.items()
    }
    out = {}
    try:
        for name, proc in procs.items():
            out[name] = proc.communicate(timeout=120)
            assert proc.returncode == 0, out[name][1][-2000:]
    finally:
        for proc in procs.values():
            proc.kill()
            proc.wait(10)
    consoles = [line for _, err in out.values() for line in err.splitlines() if ":CONSOLE" in line]
    assert consoles and all("control.html" in line for line in consoles), consoles
    assert any("127.0.0.1:9" in line and "Content Security Policy" in line for line in consoles)
    dom = Page.of(out["dom"][0])
    (root,) = [values for tag, values, _ in dom.tags if tag == "html"]
    frames = json.loads(root["data-out"])
    light, dark, control = frames["light"], frames["dark"], frames["control"]
    assert light["width"] == dark["width"] == 390 and light["days"] == 6
    assert light["scroll"] <= light["client"] and dark["scroll"] <= dark["client"]
    assert control["scroll"] > control["client"], "the control overflows"
    assert light["fetched"] == dark["fetched"] == 0
    assert (light["background"], dark["background"]) == ("rgb(246, 247, 249)", "rgb(17, 20, 24)")
    width, height, distinct = png_facts(png)
    assert (width, height) == (1200, 1600) and distinct > 20, "a page, not a blank"


def png_facts(path: Path) -> tuple[int, int, int]:
    """Width, height and the number of distinct byte values in the image data."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    chunks, at = b"", 8
    while at < len(data):
        (size,) = struct.unpack(">I", data[at : at + 4])
        if data[at + 4 : at + 8] == b"IDAT":
            chunks += data[at + 8 : at + 8 + size]
        at += 12 + size
    return width, height, len(set(zlib.decompress(chunks)))


QS = (0.0, 0.5, 0.95, 0.99, 1.0)


def test_percentiles_in_one_pass_are_those_of_percentile() -> None:
    rng = random.Random(17)
    shapes = [[0] * N_BUCKETS, [0] * (N_BUCKETS - 1) + [3], [5] + [0] * (N_BUCKETS - 1)]
    shapes += [[rng.choice((0, 0, 1, 7, 300)) for _ in range(N_BUCKETS)] for _ in range(2000)]
    for counts in shapes:
        assert percentiles(counts, QS) == [percentile(counts, q) for q in QS], counts
